"""gnnannot.dirhash against DVC's own directory hashing (dvc_data) and by hand."""

import hashlib
import json
from pathlib import Path

from dvc_data.hashfile.build import build
from dvc_data.hashfile.db import HashFileDB
from dvc_objects.fs.local import LocalFileSystem

from gnnannot.dirhash import dir_md5, file_md5


def _tree(root: Path) -> None:
    (root / "b" / "c").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"hello\n")
    (root / "b" / "x.bin").write_bytes(bytes(range(256)) * 10)
    (root / "b" / "c" / "z.json").write_text('{"k": 1}\r\n')  # CRLF kept as is (md5)
    (root / "B.txt").write_bytes(b"")


def test_dir_md5_by_hand(tmp_path: Path) -> None:
    _tree(tmp_path)
    files = sorted(["B.txt", "a.txt", "b/c/z.json", "b/x.bin"])
    listing = [{"md5": hashlib.md5((tmp_path / f).read_bytes()).hexdigest(), "relpath": f}
               for f in files]
    expected = hashlib.md5(json.dumps(listing, sort_keys=True).encode()).hexdigest() + ".dir"
    got = dir_md5(tmp_path)
    assert got.md5 == expected
    assert got.nfiles == 4
    assert got.size == 6 + 2560 + 10 + 0
    assert file_md5(tmp_path / "a.txt") == "b1946ac92492d2347c6235b4d2611184"


def test_dir_md5_matches_dvc(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _tree(data)
    fs = LocalFileSystem()
    odb = HashFileDB(fs, str(tmp_path / "cache"))
    _, meta, obj = build(odb, str(data), fs, "md5")
    got = dir_md5(data)
    assert got.md5 == obj.hash_info.value
    assert got.nfiles == meta.nfiles
    assert got.size == meta.size
