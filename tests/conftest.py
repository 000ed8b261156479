"""Fixtures shared by the test files (pytest finds them by name)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest

WritePng = Callable[[Iterable[np.ndarray], Path, str], list[Path]]


def _write_png_frames(frames: Iterable[np.ndarray], folder: Path,
                      name: str = "{t:05d}.png") -> list[Path]:  # fmt: skip
    """Write (H, W, 3) uint8 RGB ``frames`` into ``folder`` (created) as PNG files named
    ``name.format(t=t)``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t, frame in enumerate(frames):
        path = folder / name.format(t=t)
        if not cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: could not write")
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def write_png_frames() -> WritePng:
    """``write_png_frames(frames, folder, name="{t:05d}.png")``: a video as a folder of PNG
    frames (the own-video input of the annotator, the CLI and the web app)."""
    return _write_png_frames


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty preprocessing-cache folder shared by the tests of one module."""
    return tmp_path_factory.mktemp("cache")


# Hypothesis: the default profile for the test suite; "mutation" (HYPOTHESIS_PROFILE,
# set by scripts/mutation.sh) runs fewer, derandomised examples per mutant.
try:
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("default", max_examples=50, deadline=None)
    _hyp_settings.register_profile("mutation", max_examples=20, deadline=None,
                                   derandomize=True, database=None)
    _hyp_settings.load_profile(__import__("os").environ.get("HYPOTHESIS_PROFILE", "default"))
except ImportError:  # hypothesis is in the lock; without it the property tests fail to import
    pass
