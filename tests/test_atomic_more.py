"""Atomic writes (gnnannot/atomic.py) in every branch: the temporaries' names and owners,
dead-writer clean-up (only dead, only of this target), replacing files, folders and
symlinks, failures that leave the old output and no temporary, and error messages that
name the target instead of the temporary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gnnannot import atomic
from gnnannot.atomic import (
    atomic_dir,
    atomic_file,
    clean_dead_siblings,
    pid_alive,
    temp_owner,
    write_json,
)
from gnnannot.errors import ConfigError, DataError


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_temp_names_carry_the_writer_pid(tmp_path: Path) -> None:
    name = atomic._tmp_sibling(tmp_path / "out.json").name
    assert name.startswith(f".out.json.tmp-{os.getpid()}-") and len(name.rsplit("-")[-1]) == 8
    assert atomic._tmp_sibling(tmp_path / "x").parent == tmp_path
    assert atomic._tmp_sibling(tmp_path / "x") != atomic._tmp_sibling(tmp_path / "x")
    assert temp_owner(name) == os.getpid()
    assert temp_owner(".a.tmp-123-abcdef12") == 123
    assert temp_owner(".a-b.tmp-77-0000beef") == 77
    assert temp_owner(".a.tmp-x-abcdef12") is None
    assert temp_owner("plain") is None
    assert temp_owner("a-1") is None  # two parts only


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(0) and not pid_alive(-5)
    assert not pid_alive(_dead_pid())
    assert pid_alive(1)  # init: exists (PermissionError or alive), never a zombie
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(200):  # until it has exited (not reaped: a zombie)
            with open(f"/proc/{zombie.pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            import time

            time.sleep(0.02)
        assert not pid_alive(zombie.pid)
    finally:
        zombie.wait()


def test_clean_dead_siblings_only_dead_and_only_this_target(tmp_path: Path) -> None:
    dead, me = _dead_pid(), os.getpid()
    made = {
        f".out.tmp-{dead}-aaaaaaaa": True,  # dead writer's folder: removed
        f".out.tmp-{me}-cccccccc": False,  # a live writer's: kept
        f".other.tmp-{dead}-dddddddd": False,  # another target's: kept
        ".out.tmp-nopid": False,
    }
    for name in made:
        (tmp_path / name).mkdir()
    (tmp_path / f".out.tmp-{dead}-aaaaaaaa" / "inner.txt").write_text("x")
    (tmp_path / f".out.tmp-{dead}-eeeeeeee").write_text("a dead writer's file")
    removed = clean_dead_siblings(tmp_path / "out")
    assert removed == [f".out.tmp-{dead}-aaaaaaaa", f".out.tmp-{dead}-eeeeeeee"]
    assert _names(tmp_path) == sorted(n for n, gone in made.items() if not gone)
    assert clean_dead_siblings(tmp_path / "missing" / "out") == []
    # a glob character in the target's name is literal
    (tmp_path / f".[ab].tmp-{dead}-ffffffff").mkdir()
    (tmp_path / f".a.tmp-{dead}-ffffffff").mkdir()
    assert clean_dead_siblings(tmp_path / "[ab]") == [f".[ab].tmp-{dead}-ffffffff"]
    assert (tmp_path / f".a.tmp-{dead}-ffffffff").is_dir()


def test_atomic_dir_replaces_a_folder_a_file_and_a_symlink(tmp_path: Path) -> None:
    final = tmp_path / "deep" / "out"  # parents created
    with atomic_dir(final) as tmp:
        assert tmp.is_dir() and not any(tmp.iterdir()) and tmp.parent == final.parent
        (tmp / "a.txt").write_text("1")
    assert _names(final) == ["a.txt"] and _names(final.parent) == ["out"]
    with atomic_dir(final) as tmp:
        (tmp / "b.txt").write_text("2")
    assert _names(final) == ["b.txt"] and _names(final.parent) == ["out"]
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("not mine")
    link = tmp_path / "link"
    link.symlink_to(target)
    with atomic_dir(link) as tmp:
        (tmp / "c.txt").write_text("3")
    assert link.is_dir() and not link.is_symlink() and _names(link) == ["c.txt"]
    assert _names(target) == ["keep.txt"]  # the link's target is not deleted
    plain = tmp_path / "plain"
    plain.write_text("a file")
    with atomic_dir(plain) as tmp:
        (tmp / "d.txt").write_text("4")
    assert plain.is_dir() and _names(plain) == ["d.txt"]
    assert not [p for p in tmp_path.rglob(".*tmp-*")]


def test_atomic_dir_failure_keeps_the_old_and_rewrites_the_message(tmp_path: Path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(DataError) as exc:
        with atomic_dir(final) as tmp:
            (tmp / "half.txt").write_text("x")
            raise DataError(f"{tmp / 'half.txt'}: broken")
    assert str(exc.value) == f"{final / 'half.txt'}: broken"
    assert isinstance(exc.value.__cause__, DataError)
    assert _names(tmp_path) == ["out"] and _names(final) == ["old.txt"]
    # not a gnnannot error, or no temporary in the message: re-raised as it is
    for err in (OSError("disk full"), ConfigError("bad setting"), KeyboardInterrupt()):
        with pytest.raises(type(err)) as exc:
            with atomic_dir(final):
                raise err
        assert exc.value is err
    assert _names(tmp_path) == ["out"]


def test_without_tmp_keeps_errors_it_cannot_rebuild(tmp_path: Path) -> None:
    class Odd(DataError):
        def __init__(self, a: str, b: str) -> None:
            super().__init__(f"{a} {b}")

    tmp, final = tmp_path / ".x.tmp-1-aaaaaaaa", tmp_path / "x"
    assert atomic._without_tmp(Odd(str(tmp), "y"), tmp, final) is None
    assert atomic._without_tmp(OSError(str(tmp)), tmp, final) is None
    assert atomic._without_tmp(DataError("no path"), tmp, final) is None
    out = atomic._without_tmp(DataError(f"at {tmp}, again {tmp}"), tmp, final)
    assert type(out) is DataError and str(out) == f"at {final}, again {final}"


def test_atomic_file_branches(tmp_path: Path) -> None:
    final = tmp_path / "sub" / "f.txt"
    with atomic_file(final) as tmp:
        assert not tmp.exists() and tmp.parent == final.parent
        tmp.write_text("one")
    assert final.read_text() == "one" and _names(final.parent) == ["f.txt"]
    with pytest.raises(RuntimeError):
        with atomic_file(final) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert final.read_text() == "one" and _names(final.parent) == ["f.txt"]
    with pytest.raises(RuntimeError):  # a failure before anything was written
        with atomic_file(final):
            raise RuntimeError("early")
    with pytest.raises(RuntimeError):  # a temporary folder or symlink is removed too
        with atomic_file(final) as tmp:
            tmp.mkdir()
            (tmp / "x").write_text("x")
            raise RuntimeError("folder")
    with pytest.raises(RuntimeError):
        with atomic_file(final) as tmp:
            tmp.symlink_to(tmp_path / "nowhere")
            raise RuntimeError("dangling link")
    assert _names(final.parent) == ["f.txt"]
    folder = tmp_path / "was_a_folder"
    folder.mkdir()
    (folder / "inner").write_text("x")
    with atomic_file(folder) as tmp:
        tmp.write_text("now a file")
    assert folder.is_file() and folder.read_text() == "now a file"


def test_write_json(tmp_path: Path) -> None:
    path = tmp_path / "a" / "r.json"
    write_json(path, {"b": 1, "a": [1, 2]})
    text = path.read_text()
    assert text == json.dumps({"b": 1, "a": [1, 2]}, indent=2) + "\n"
    assert list(json.loads(text)) == ["b", "a"]  # key order kept
    dead = _dead_pid()
    stale = tmp_path / "a" / f".r.json.tmp-{dead}-12345678"
    stale.write_text("{")
    write_json(path, [])
    assert json.loads(path.read_text()) == [] and not stale.exists()


def _child(code: str) -> subprocess.Popen:
    """A Python child that runs ``code`` then prints "ready" and sleeps."""
    proc = subprocess.Popen([sys.executable, "-c", code + "\nprint('ready', flush=True)\n"
                             "import time\ntime.sleep(60)"], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_pid_alive_sends_no_signal(tmp_path: Path) -> None:
    """Signal 0 only checks existence: a child that records any SIGHUP gets none."""
    flag = tmp_path / "hup"
    proc = _child(f"import signal, pathlib\nsignal.signal(signal.SIGHUP, lambda *a: "
                  f"pathlib.Path({str(flag)!r}).write_text('hup'))")  # fmt: skip
    try:
        assert pid_alive(proc.pid)
        import time

        time.sleep(0.3)
        assert not flag.exists()
    finally:
        proc.kill()
        proc.wait()


def test_pid_alive_reads_the_state_after_the_last_parenthesis() -> None:
    """/proc/PID/stat is "pid (comm) state ...", and comm may hold ") Z (" itself."""
    proc = _child("open('/proc/self/comm', 'w').write('x) Z (y')")
    try:
        with open(f"/proc/{proc.pid}/stat") as fh:
            assert ") Z (" in fh.read()
        assert pid_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_pid_alive_when_proc_is_unreadable(monkeypatch) -> None:
    """The process exists but its /proc entry cannot be read: counted alive (a live
    writer's temporaries must never be deleted)."""
    def unreadable(*_a, **_k):
        raise OSError("no /proc here")

    monkeypatch.setattr(atomic, "open", unreadable, raising=False)
    assert pid_alive(os.getpid())


def test_pid_alive_for_another_users_process(monkeypatch) -> None:
    """Signalling another user's process fails with PermissionError: it exists (alive)."""
    def denied(pid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(atomic.os, "kill", denied)
    assert pid_alive(12345)
