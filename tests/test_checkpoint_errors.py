"""Every unreadable or mismatched checkpoint gives one line naming the file and what is
wrong (a text file used to end in ``KeyError: 101``; mismatched weights printed PyTorch's
whole multi-line error), also through ``gnnannot segment --checkpoint``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gnnannot.errors import DataError
from gnnannot.model.checkpoint import load_checkpoint, save_checkpoint
from gnnannot.model.net import GNNAnnot

REPO = Path(__file__).resolve().parents[1]


def _model(hidden: int = 8) -> GNNAnnot:
    torch.manual_seed(0)
    return GNNAnnot(4, 3, 2, hidden=hidden, n_layers=3).eval()


def _one_line_error(path: Path, match: str) -> str:
    with pytest.raises(DataError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and match in msg, msg
    return msg


@pytest.mark.parametrize("content", [b"hello world\n", b"e" * 101, b"\x80\x02}q\x00.",
                                     b"PK\x03\x04junk", b""])  # fmt: skip
def test_unreadable_files(tmp_path, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    _one_line_error(path, "cannot read it")


def test_weights_that_do_not_fit_the_settings(tmp_path):
    small, big = tmp_path / "small.pt", tmp_path / "big.pt"
    save_checkpoint(small, _model(8))
    save_checkpoint(big, _model(12))
    payload = torch.load(big, weights_only=True)
    payload["model_params"] = torch.load(small, weights_only=True)["model_params"]
    mixed = tmp_path / "mixed.pt"
    torch.save(payload, mixed)
    msg = _one_line_error(mixed, "weights do not match 'model_params'")
    assert "of another shape" in msg and "(12" in msg
    assert len(msg) < 600
    payload["state_dict"].pop(sorted(payload["state_dict"])[0])
    payload["state_dict"]["extra.weight"] = torch.zeros(1)
    torch.save(payload, mixed)
    msg = _one_line_error(mixed, "missing")
    assert "1 unexpected (extra.weight)" in msg
    payload["state_dict"] = [1, 2]
    torch.save(payload, mixed)
    _one_line_error(mixed, "'state_dict' expected a dict, found list")


def test_text_checkpoint_through_segment(tmp_path):
    """The command line prints one error line naming the file and exits 2."""
    import cv2
    import numpy as np

    clip = tmp_path / "clip"
    clip.mkdir()
    rng = np.random.default_rng(0)
    for t in range(2):
        cv2.imwrite(str(clip / f"{t:05d}.png"), rng.integers(0, 255, (32, 48, 3), np.uint8))
    scr = np.zeros((32, 48), np.uint8)
    scr[10:12, 10:30] = 1
    cv2.imwrite(str(tmp_path / "00000.png"), scr)
    ckpt = tmp_path / "model.txt"
    ckpt.write_text("hello world\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "400"}
    res = subprocess.run(
        [sys.executable, "-c", "from gnnannot.cli import main; main()", "segment", str(clip),
         "-s", str(tmp_path / "00000.png"), "--out", str(tmp_path / "out"), "--method", "gnn",
         "--checkpoint", str(ckpt), "--cache-dir", str(tmp_path / "cache"), "-q"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = (res.stdout + res.stderr).strip()
    assert res.returncode == 2, out
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    assert str(ckpt) in out and "cannot read it" in out
    assert not (tmp_path / "out").exists()
