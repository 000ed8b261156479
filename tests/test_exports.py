"""The export-format registry: a format registered in one place is written by
``export_masks`` (what the annotator and the web app's export call), offered and checked
by ``gnnannot segment --format``, listed in the manifest and accepted as part of a
previous export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gnnannot.annotate import exports
from gnnannot.annotate.exports import (
    ExportContext,
    ExportFormat,
    export_masks,
    is_previous_export,
    register_format,
    resolve_formats,
)
from gnnannot.cli.segment import app
from gnnannot.data.synthetic import make_video
from gnnannot.errors import ConfigError
from gnnannot.store.palette import read_palette_png

T, H, W = 4, 48, 64


class AreaWriter:
    """A toy format: one line per frame, ``name area_1 ... area_K`` (pixels per object)."""

    def __init__(self, ctx: ExportContext) -> None:
        self.path = ctx.folder / "areas.txt"
        self.n_objects = ctx.n_objects
        self.lines: list[str] = []
        self.closed = False

    def write(self, t, name, mask, frame):
        assert frame is None  # needs_frames=False: no frame decoded for it
        areas = [int((mask == k).sum()) for k in range(1, self.n_objects + 1)]
        self.lines.append(" ".join([name, *map(str, areas)]))

    def close(self):
        self.path.write_text("\n".join(self.lines) + "\n")


@pytest.fixture()
def toy(monkeypatch):
    """The toy format registered for one test (the registry is restored afterwards)."""
    monkeypatch.setattr(exports, "_FORMATS", dict(exports._FORMATS))
    register_format(ExportFormat("areas", "object areas per frame (areas.txt)", AreaWriter,
                                 "areas.txt"))
    return "areas"


@pytest.fixture(scope="module")
def synth():
    return make_video(3, "exp", n_frames=T, height=H, width=W, max_objects=2, with_flow=False)


def _areas(masks: np.ndarray, names: list[str], k: int) -> list[str]:
    return [" ".join([n, *(str(int((m == j).sum())) for j in range(1, k + 1))])
            for n, m in zip(names, masks, strict=True)]


def test_registered_format_is_written_by_default(toy, synth, tmp_path):
    names = [f"{t:05d}" for t in range(T)]
    out = tmp_path / "out"
    # what the annotator and the web export do: every default format, overlay/RLE ticked off
    export_masks(out, list(synth.masks), [], names, synth.n_objects, 10.0, overlay=False,
                 rle_json=False)
    assert (out / "areas.txt").read_text().splitlines() == _areas(synth.masks, names,
                                                                  synth.n_objects)
    assert sorted(p.name for p in out.iterdir()) == ["areas.txt", "masks", "segment.json"]
    manifest = json.loads((out / "segment.json").read_text())
    assert manifest["outputs"] == {"masks": "masks/", "rle": None, "overlay": None,
                                   "areas": "areas.txt"}
    assert is_previous_export(out)  # its entry belongs to an export: replaced without --overwrite
    export_masks(out, list(synth.masks), [], names, synth.n_objects, 10.0, formats=["areas"])
    assert sorted(p.name for p in out.iterdir()) == ["areas.txt", "segment.json"]


def test_resolve_formats_names_unknown_and_empty(toy):
    assert resolve_formats() == ["masks", "rle", "overlay", "areas"]
    assert resolve_formats(["areas", "masks"]) == ["masks", "areas"]  # registration order
    assert resolve_formats(without=["overlay"]) == ["masks", "rle", "areas"]
    with pytest.raises(ConfigError, match=r"unknown export format 'png'.*'areas'"):
        resolve_formats(["png"])
    with pytest.raises(ConfigError, match="no export format chosen"):
        resolve_formats(["rle"], without=["rle"])
    with pytest.raises(ConfigError, match="entry"):
        register_format(ExportFormat("bad", "", AreaWriter, "segment.json"))


def test_segment_cli_offers_the_registered_format(toy, synth, tmp_path, write_png_frames):
    frames = tmp_path / "frames"
    write_png_frames(synth.frames, frames, "f{t:02d}.png")
    scribble = tmp_path / "s.json"
    scribble.write_text(json.dumps(synth.scribble))
    common = ["--method", "nearest_seed", "--checkpoint", str(tmp_path / "none.pt"),
              "--cache-dir", str(tmp_path / "cache"), "-q"]
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [str(frames), "-s", str(scribble), "--out", str(out),
                                   "--format", "areas", "-F", "masks", *common])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert sorted(p.name for p in out.iterdir()) == ["areas.txt", "masks", "segment.json"]
    names = [f"f{t:02d}" for t in range(T)]
    masks = np.stack([read_palette_png(out / "masks" / f"{n}.png") for n in names])
    assert (out / "areas.txt").read_text().splitlines() == _areas(masks, names,
                                                                  synth.n_objects)
    res = CliRunner().invoke(app, [str(frames), "-s", str(scribble), "--out",
                                   str(tmp_path / "o2"), "--format", "gif", *common])
    assert res.exit_code != 0
    assert "unknown export format 'gif'" in str(res.exception) + res.output
    assert "areas" in str(res.exception) + res.output
    assert not (tmp_path / "o2").exists()


def test_segment_help_lists_the_builtin_formats():
    res = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert res.exit_code == 0
    flat = " ".join(res.output.split())
    for name in ("masks:", "rle:", "overlay:"):
        assert name in flat


def test_unused_path_stays_unused(tmp_path: Path):
    """A format that is not chosen writes nothing, not even an empty folder."""
    out = tmp_path / "o"
    export_masks(out, [np.zeros((4, 5), np.uint8)], [], ["a"], 1, 5.0, formats=["rle"])
    assert sorted(p.name for p in out.iterdir()) == ["rle", "segment.json"]
