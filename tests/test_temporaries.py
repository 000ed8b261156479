"""Temporaries of killed runs are cleaned by the next run, and failed commands create
nothing (no store root, no output folder, no error naming an internal temp path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gnnannot.atomic import atomic_dir, atomic_file, clean_dead_siblings
from gnnannot.data import davis
from gnnannot.errors import DataError
from gnnannot.pipeline.flow import build_flow_store

REPO = Path(__file__).resolve().parents[1]


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_dead_writers_temporaries_removed_by_next_write(tmp_path):
    dead, me = _dead_pid(), os.getpid()
    models = tmp_path / "models"
    models.mkdir()
    (models / f".model.pt.tmp-{dead}-0badc0de").write_bytes(b"half a checkpoint")
    (models / f".model.pt.tmp-{me}-00c0ffee").write_bytes(b"a live writer's")
    (models / f".out.tmp-{dead}-0badc0de").mkdir()
    (models / f".out.tmp-{dead}-0badc0de" / "masks").mkdir()
    (models / ".model.pt.tmp-unowned").write_bytes(b"no pid: not ours to judge")
    with atomic_file(models / "model.pt") as tmp:
        tmp.write_bytes(b"new")
    with atomic_dir(models / "out") as tmp:
        (tmp / "x").write_text("1")
    assert sorted(p.name for p in models.iterdir()) == sorted(
        [".model.pt.tmp-unowned", f".model.pt.tmp-{me}-00c0ffee", "model.pt", "out"])
    assert clean_dead_siblings(models / "model.pt") == []


def test_error_names_the_target_not_the_temporary(tmp_path):
    with pytest.raises(DataError) as info:
        with atomic_dir(tmp_path / "out") as tmp:
            raise DataError(f"{tmp}/ImageSets/2017/val.txt: split 'val' lists no sequences")
    want = f"{tmp_path / 'out'}/ImageSets/2017/val.txt: split 'val' lists no sequences"
    assert str(info.value) == want
    assert sorted(tmp_path.iterdir()) == []


def _main(*args: str, cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "300"}
    res = subprocess.run([sys.executable, "-c", "from gnnannot.cli import main; main()", *args],
                         env=env, capture_output=True, text=True, timeout=300, cwd=cwd)  # fmt: skip
    return res.returncode, (res.stdout + res.stderr).strip()


def test_synthetic_without_val_videos_fails_first(tmp_path):
    code, out = _main("data", "synthetic", str(tmp_path / "synth"), "--n-val", "0",
                      cwd=tmp_path)  # fmt: skip
    assert code == 2 and "--n-val: expected at least 1 video" in out and ".tmp-" not in out
    assert sorted(tmp_path.iterdir()) == []


def test_flow_import_of_bad_h5_creates_no_store(tmp_path):
    frames = np.zeros((3, 16, 24, 3), np.uint8)
    davis.write_sequence(tmp_path / "davis", "v", frames, np.zeros((3, 16, 24), np.uint8))
    davis.write_split(tmp_path / "davis", "train", ["v"])
    davis.write_split(tmp_path / "davis", "val", ["v"])
    h5 = tmp_path / "h5"
    h5.mkdir()
    (h5 / "v.h5").write_text("not hdf5")
    store = tmp_path / "data" / "flow.zarr"
    with pytest.raises(DataError, match="v.h5"):
        build_flow_store(str(tmp_path / "davis"), str(store), method="h5", h5_dir=str(h5),
                         prune=False, quiet=True)  # fmt: skip
    assert not store.exists()
    assert list((tmp_path / "data").iterdir()) == []  # not even the lock file
    code, out = _main("flow", "import", str(h5), "--root", str(tmp_path / "davis"), "--store",
                      str(store), cwd=tmp_path)  # fmt: skip
    assert code == 2 and "v.h5" in out
    assert list((tmp_path / "data").iterdir()) == []
