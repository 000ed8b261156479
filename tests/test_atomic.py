"""Atomic output helpers: a failure leaves the previous output untouched, no temp left."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnnannot.atomic import atomic_dir, atomic_file, write_json


def test_atomic_dir_replaces_on_success(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("new")
        assert not (out / "new.txt").exists()
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_dir_keeps_old_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("killed")
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "f.json"
    write_json(target, {"x": 1})
    assert target.read_text().strip() == '{\n  "x": 1\n}'
    with pytest.raises(ValueError), atomic_file(target) as tmp:
        tmp.write_text("partial")
        raise ValueError
    assert '"x": 1' in target.read_text()
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]
