"""Flow estimators behind one protocol and one registry (``flow.method`` in params.yaml).

An estimator gives the flow of a video pair by pair (:class:`gnnannot.types.FlowPair`)
and the params a stored group records (a change in them recomputes the video):

* ``dis``, ``farneback``: computed with OpenCV (:mod:`gnnannot.preprocess.flow.estimate`);
* ``h5``: imported from the seed's FlowNet2 ``.h5`` files (:mod:`gnnannot.preprocess.flow.h5`).

Add an estimator by writing a class with the :class:`FlowEstimator` members and
registering a factory with :func:`register_estimator` in this module; the flow stage
builds it with :func:`make_estimator` from its params section.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from gnnannot.errors import ConfigError
from gnnannot.preprocess.flow.estimate import _check_params, compute_video_flow
from gnnannot.preprocess.flow.h5 import find_h5, h5_source_params, iter_h5
from gnnannot.types import FlowPair

__all__ = ["FlowEstimator", "estimator_kinds", "estimator_params", "make_estimator",
           "register_estimator"]


class FlowEstimator(Protocol):
    """The flow of one video, pair by pair. ``name`` is the registry key (stored as the
    group's ``method`` attr); instances must pickle (jobs run in worker processes)."""

    name: str

    def record(self, seq: str, dtype: str) -> dict[str, Any]:
        """The params stored in the group of ``seq`` (with the storage ``dtype``)."""
        ...

    def pairs(
        self, seq: str, frames: Iterable[np.ndarray], n_frames: int, height: int, width: int
    ) -> Iterator[FlowPair]:
        """The ``n_frames - 1`` pairs of ``seq``; ``frames``: its (H, W, 3) uint8 frames,
        read lazily (an estimator that does not need them never reads them)."""
        ...


def estimator_params(
    preset: str = "medium",
    scale: float = 1.0,
    method: str = "dis",
    spread: float = 0.0,
    exclude_out_of_frame: bool = False,
    dtype: str = "quantized",
) -> dict[str, object]:
    """The params recorded in a store group for the built-in estimator (a change in any of
    them, or in the OpenCV version, makes the video be recomputed)."""
    _check_params(preset, scale, method)
    return {
        "estimator": method,
        "preset": preset if method == "dis" else None,
        "scale": float(scale),
        "spread": float(spread),
        "exclude_out_of_frame": bool(exclude_out_of_frame),
        "dtype": dtype,
        "opencv": cv2.__version__,
    }


@dataclass(frozen=True)
class OpenCVEstimator:
    """``dis`` (OpenCV DIS with ``preset``) or ``farneback``, at ``scale`` of the frame
    size, occlusions by splatting with ``spread``."""

    name: str = "dis"
    preset: str = "medium"
    scale: float = 1.0
    spread: float = 0.0
    exclude_out_of_frame: bool = False

    def __post_init__(self) -> None:
        _check_params(self.preset, self.scale, self.name)

    def record(self, seq: str, dtype: str) -> dict[str, Any]:
        return estimator_params(self.preset, self.scale, self.name, self.spread,
                                self.exclude_out_of_frame, dtype)  # fmt: skip

    def pairs(self, seq, frames, n_frames, height, width):  # noqa: ANN001, ANN201
        return compute_video_flow(frames, self.preset, self.scale, self.name, self.spread,
                                  self.exclude_out_of_frame)  # fmt: skip


@dataclass(frozen=True)
class H5Estimator:
    """The seed's ``.h5`` file of each video in ``h5_dir`` (validated against the video's
    frame count and size); recorded by the file's name, size and mtime."""

    h5_dir: str
    name: str = "h5"

    def __post_init__(self) -> None:
        if not self.h5_dir:
            raise ConfigError("flow method h5 needs flow.h5_dir (folder of the .h5 files)")

    def record(self, seq: str, dtype: str) -> dict[str, Any]:
        return {**h5_source_params(find_h5(self.h5_dir, seq)), "dtype": dtype}

    def pairs(self, seq, frames, n_frames, height, width):  # noqa: ANN001, ANN201
        return iter_h5(find_h5(self.h5_dir, seq), n_frames, height, width)


_REGISTRY: dict[str, Callable[..., FlowEstimator]] = {}


def register_estimator(name: str, factory: Callable[..., FlowEstimator]) -> None:
    """Make ``factory(**options)`` available as ``flow.method: name``."""
    _REGISTRY[name] = factory


def estimator_kinds() -> list[str]:
    """The registered estimator names."""
    return sorted(_REGISTRY)


def make_estimator(name: str, **options: Any) -> FlowEstimator:
    """The estimator ``name`` with its ``options`` (dis/farneback: preset, scale, spread,
    exclude_out_of_frame; h5: h5_dir)."""
    if name not in _REGISTRY:
        raise ConfigError(f"flow.method: expected one of {estimator_kinds()}, found {name!r}")
    return _REGISTRY[name](**options)


register_estimator("dis", lambda **o: OpenCVEstimator("dis", **o))
register_estimator("farneback", lambda **o: OpenCVEstimator("farneback", **o))
register_estimator("h5", H5Estimator)
