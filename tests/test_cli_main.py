"""The console entry point ``gnnannot.cli.main()`` as a user runs it: a bad input is one
line on stderr that names the offending file, exit status 2, and nothing is written
(README: "bad input is a one-line error")."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from gnnannot.cli import main

T, H, W = 3, 40, 64


def _run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
              args: list) -> tuple[int, str]:  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["gnnannot", *map(str, args)])
    try:
        main()
        code: object = 0  # returning normally is exit status 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return (0 if code is None else int(code)), captured.err  # type: ignore[call-overload]


@pytest.fixture()
def frames(tmp_path: Path, write_png_frames) -> Path:
    rng = np.random.default_rng(0)
    video = rng.integers(0, 255, size=(T, H, W, 3), dtype=np.uint8)
    return write_png_frames(video, tmp_path / "frames")[0].parent


def _segment_args(video: Path, scribble: Path, tmp_path: Path) -> list:
    return ["segment", video, "-s", scribble, "--out", tmp_path / "out", "--no-overlay",
            "--cache-dir", tmp_path / "cache", "--checkpoint", tmp_path / "none.pt", "-q"]


def _assert_one_line_error(err: str, name: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected a one-line error, found {lines}"
    assert lines[0].startswith("error:"), lines[0]
    assert name in lines[0], f"{name!r} not in {lines[0]!r}"
    assert "Traceback" not in err


def test_missing_video_names_the_file_exit_2(monkeypatch, capsys, tmp_path: Path) -> None:
    scribble = tmp_path / "s.json"
    scribble.write_text(json.dumps({"scribbles": [[]] * T, "sequence": "x"}))
    missing = tmp_path / "no_such_holiday_video_with_a_rather_long_name_for_wrapping.mp4"
    code, err = _run_main(monkeypatch, capsys, _segment_args(missing, scribble, tmp_path))
    assert code == 2
    _assert_one_line_error(err, missing.name)
    assert not (tmp_path / "out").exists()


def test_scribble_of_the_wrong_size_names_the_scribble_exit_2(
        monkeypatch, capsys, tmp_path: Path, frames: Path) -> None:  # fmt: skip
    png = tmp_path / "00001.png"
    cv2.imwrite(str(png), np.ones((H // 2, W), np.uint8))
    code, err = _run_main(monkeypatch, capsys, _segment_args(frames, png, tmp_path))
    assert code == 2
    _assert_one_line_error(err, png.name)
    assert f"{W}x{H}" in err
    assert not (tmp_path / "out").exists()


def test_malformed_scribble_json_names_the_file_exit_2(
        monkeypatch, capsys, tmp_path: Path, frames: Path) -> None:  # fmt: skip
    bad = tmp_path / "corrupt[red]scribble.json"  # brackets: not rich markup
    bad.write_text("{not json")
    code, err = _run_main(monkeypatch, capsys, _segment_args(frames, bad, tmp_path))
    assert code == 2
    _assert_one_line_error(err, bad.name)


def test_usage_error_is_click_exit_2_and_success_is_0(monkeypatch, capsys) -> None:
    code, err = _run_main(monkeypatch, capsys, ["segment", "--no-such-option"])
    assert code == 2 and "no-such-option" in err
    code, err = _run_main(monkeypatch, capsys, ["--version"])
    assert code == 0 and "gnnannot" in err
