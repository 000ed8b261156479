"""``gnnannot segment`` command: outputs, successive interactions, and bad input (a clear
error, nothing written to --out)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from gnnannot.annotate import rle
from gnnannot.cli.segment import app
from gnnannot.data.synthetic import make_video
from gnnannot.errors import DataError
from gnnannot.store.palette import read_palette_png

T, H, W = 6, 120, 214


@pytest.fixture(scope="module")
def synth():
    return make_video(4, "cli", n_frames=T, height=H, width=W, max_objects=2, with_flow=False)


@pytest.fixture(scope="module")
def files(synth, tmp_path_factory, write_png_frames) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    frames = d / "frames"
    write_png_frames(synth.frames, frames, "img{t:03d}.png")
    s1 = d / "s1.json"
    s1.write_text(json.dumps(synth.scribble))
    return {"dir": d, "frames": frames, "s1": s1, "cache": d / "cache"}


def run(args: list[str], files: dict[str, Path]):
    """Invoke the command; "auto" never picks up the repository's models/model.pt."""
    extra = [] if "--checkpoint" in args else ["--checkpoint", str(files["dir"] / "none.pt")]
    return CliRunner().invoke(
        app, [*map(str, args), *extra, "--cache-dir", str(files["cache"]), "-q"]
    )


def scribble_png(values: np.ndarray, path: Path) -> Path:
    cv2.imwrite(str(path), values.astype(np.uint8))
    return path


def test_segment_outputs(synth, files):
    d = files["dir"]
    # a correction as a scribble PNG named after a frame file: background on object 1
    second = np.zeros((H, W), np.uint8)
    ys, xs = np.nonzero(synth.masks[T - 1] == 0)
    second[ys[:200], xs[:200]] = 255
    png = scribble_png(second, d / f"img{T - 1:03d}.png")
    out = d / "out"
    res = run([files["frames"], "-s", files["s1"], "-s", png, "--out", out,
               "--method", "nearest_seed"], files)  # fmt: skip
    assert res.exit_code == 0, res.output + repr(res.exception)
    names = [f"img{t:03d}" for t in range(T)]
    assert sorted(p.stem for p in (out / "masks").glob("*.png")) == names
    summary = json.loads((out / "segment.json").read_text())
    assert summary["method"] == "nearest_seed" and summary["n_objects"] == synth.n_objects
    assert len(summary["interactions"]) == 2
    for name in names:
        mask = read_palette_png(out / "masks" / f"{name}.png")
        assert mask.shape == (H, W) and mask.max() <= synth.n_objects
        rec = json.loads((out / "rle" / f"{name}.json").read_text())
        for o in rec["objects"]:
            assert np.array_equal(rle.decode(o["segmentation"]), mask == o["object_id"])
    assert (out / "overlay.mp4").stat().st_size > 0


def test_auto_method_without_checkpoint_and_cache(files, tmp_path):
    args = [files["frames"], "-s", files["s1"], "--no-overlay", "--no-rle",
            "--checkpoint", tmp_path / "missing.pt"]  # fmt: skip
    runs = []
    for name in ("o1", "o2"):  # the second run on the same video finds the cache
        out = tmp_path / name
        res = run([*args, "--out", out], files)
        assert res.exit_code == 0, repr(res.exception)
        runs.append(json.loads((out / "segment.json").read_text()))
        assert not (out / "overlay.mp4").exists() and not (out / "rle").exists()
    assert [r["method"] for r in runs] == ["random_walker"] * 2
    assert runs[1]["cached"] and runs[1]["preprocess_seconds"] == 0.0
    assert runs[1]["cache"] == runs[0]["cache"]
    m1, m2 = (read_palette_png(tmp_path / o / "masks" / "img000.png") for o in ("o1", "o2"))
    assert np.array_equal(m1, m2)


def expect_error(files, args: list, match: str, tmp_path: Path) -> None:
    """The run fails with a DataError naming ``match``; nothing is written: neither a
    new --out folder, nor a temporary sibling, nor anything in an existing --out."""
    out = tmp_path / "out"
    res = run([*args, "--out", out], files)
    assert isinstance(res.exception, DataError), res.output + repr(res.exception)
    assert match in str(res.exception)
    assert not out.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    old = tmp_path / "previous"  # a previous export: may be replaced, but only on success
    old.mkdir(exist_ok=True)
    (old / "segment.json").write_text('{"format": "gnnannot.export/1", "run": "earlier"}')
    res = run([*args, "--out", old], files)
    assert isinstance(res.exception, DataError)
    assert [p.name for p in old.iterdir()] == ["segment.json"]
    assert "earlier" in (old / "segment.json").read_text()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".previous")] == []


def test_unreadable_video(files, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    # each message starts with the offending file (the README's promise), then the reason
    expect_error(files, [bad, "-s", files["s1"]], f"{bad}: cannot", tmp_path)
    missing = tmp_path / "missing.mp4"
    expect_error(files, [missing, "-s", files["s1"]], f"{missing}: video file or frame "
                 "folder not found", tmp_path)  # fmt: skip
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "00000.png").write_bytes(b"garbage")
    expect_error(files, [folder, "-s", files["s1"]], f"{folder / '00000.png'}: cannot read "
                 "image", tmp_path)  # fmt: skip


def test_scribble_size_mismatch(synth, files, tmp_path):
    png = scribble_png(np.ones((H // 2, W), np.uint8), tmp_path / "00001.png")
    expect_error(files, [files["frames"], "-s", png], f"expected the frames' size {W}x{H}",
                 tmp_path)  # fmt: skip
    short = dict(synth.scribble, scribbles=synth.scribble["scribbles"][:-1])
    p = tmp_path / "short.json"
    p.write_text(json.dumps(short))
    expect_error(files, [files["frames"], "-s", p], f"expected {T}", tmp_path)


def test_object_ids_skip(files, tmp_path):
    v = np.zeros((H, W), np.uint8)
    v[10, 10:50] = 1
    v[50, 10:50] = 3
    png = scribble_png(v, tmp_path / "00000.png")
    expect_error(files, [files["frames"], "-s", png], "missing [2]", tmp_path)
    # across several files too: 1 in the first, 3 in the second
    v1 = np.where(v == 3, 0, v)
    p1 = scribble_png(v1, tmp_path / "00002.png")
    expect_error(files, [files["frames"], "-s", p1, "-s", png], "missing [2]", tmp_path)


def test_empty_scribble(files, tmp_path):
    png = scribble_png(np.zeros((H, W), np.uint8), tmp_path / "00000.png")
    expect_error(files, [files["frames"], "-s", png], "empty", tmp_path)
    p = tmp_path / "empty.json"
    p.write_text(json.dumps({"scribbles": [[] for _ in range(T)], "sequence": "x"}))
    expect_error(files, [files["frames"], "-s", p], "empty", tmp_path)
    bg = np.zeros((H, W), np.uint8)
    bg[5, 5:40] = 255  # background only: no object to segment
    expect_error(files, [files["frames"], "-s", scribble_png(bg, tmp_path / "00001.png")],
                 "no object", tmp_path)  # fmt: skip


def test_png_frame_resolution(files, tmp_path):
    v = np.zeros((H, W), np.uint8)
    v[10, 10:50] = 1
    png = scribble_png(v, tmp_path / "mystery.png")
    expect_error(files, [files["frames"], "-s", png], "which frame", tmp_path)
    expect_error(files, [files["frames"], "-s", png, "--frame", T], "outside", tmp_path)
    out = tmp_path / "ok"
    res = run([files["frames"], "-s", png, "--frame", 2, "--out", out, "--no-overlay"], files)
    assert res.exit_code == 0, repr(res.exception)


# --------------------------------------------------------------------------- safe --out
def _good_args(files) -> list:
    return [files["frames"], "-s", files["s1"], "--no-overlay"]


def test_out_refuses_foreign_folder(files, tmp_path):
    """An existing folder that is not an export keeps every file; --overwrite replaces it."""
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("years of work")
    res = run([*_good_args(files), "--out", out], files)
    assert res.exit_code != 0
    assert "not a gnnannot export" in str(res.exception) and "thesis.txt" in str(res.exception)
    assert (out / "thesis.txt").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious"]  # no temporaries
    res = run([*_good_args(files), "--out", out, "--overwrite"], files)
    assert res.exit_code == 0, res.output
    assert (out / "masks").is_dir() and not (out / "thesis.txt").exists()


def test_out_refuses_a_file(files, tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_bytes(b"my holiday video")
    for extra in ([], ["--overwrite"]):
        res = run([*_good_args(files), "--out", notes, *extra], files)
        assert res.exit_code != 0 and "is not a folder" in str(res.exception)
        assert notes.is_file() and notes.read_bytes() == b"my holiday video"


def test_out_never_replaces_the_input(files, tmp_path):
    import shutil

    vid = tmp_path / "vidcopy"
    shutil.copytree(files["frames"], vid)
    before = sorted(p.name for p in vid.iterdir())
    for out in (vid, tmp_path):  # the input itself, a folder holding it
        res = run([vid, "-s", files["s1"], "--no-overlay", "--out", out, "--overwrite"], files)
        assert res.exit_code != 0 and "would replace the input" in str(res.exception)
        assert sorted(p.name for p in vid.iterdir()) == before


def test_out_replaces_previous_export_and_empty_folder(files, tmp_path):
    out = tmp_path / "result"
    out.mkdir()  # empty: fine
    assert run([*_good_args(files), "--out", out], files).exit_code == 0
    manifest = json.loads((out / "segment.json").read_text())
    assert manifest["format"] == "gnnannot.export/1"
    assert run([*_good_args(files), "--out", out], files).exit_code == 0  # a previous export
    (out / "extra.txt").write_text("added by the user")  # no longer only an export
    res = run([*_good_args(files), "--out", out], files)
    assert res.exit_code != 0 and (out / "extra.txt").is_file()
