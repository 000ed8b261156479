"""Tests for gnnannot.data.download against a local HTTP server (no external network)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from gnnannot.data.davis import read_split
from gnnannot.data.download import (
    SCRIBBLES_ZIP_NAME,
    TRAINVAL_ZIP_NAME,
    download_file,
    extract_zip_atomic,
    fetch_davis2017,
)
from gnnannot.errors import DataError, DownloadError


# --------------------------------------------------------------------------- server
@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    honour_range: bool = True  # False: ignore Range, always answer 200 with the full body
    drop_next: int = 0  # this many responses are cut off halfway (connection closed)
    fail_next: int = 0  # this many requests get a 503
    requests: list[dict[str, str | None]] = field(default_factory=list)
    base: str = ""

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def count(self, name: str) -> int:
        return sum(r["path"] == f"/{name}" for r in self.requests)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        st: ServerState = self.server.state  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        st.requests.append({"path": self.path, "range": rng})
        if st.fail_next > 0:
            st.fail_next -= 1
            self.send_error(503, "try again")
            return
        data = st.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404)
            return
        match = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if match and st.honour_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if st.drop_next > 0:  # announce the full length, send half, hang up
            st.drop_next -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


# --------------------------------------------------------------------------- data
def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def davis_members() -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Relative DAVIS-layout paths -> bytes, for the trainval and the scribbles archive."""
    rng = np.random.default_rng(0)
    trainval: dict[str, bytes] = {}
    for seq in ("bear", "dogs"):
        for t in range(2):
            frame = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            mask = np.zeros((24, 32), np.uint8)
            mask[4 + t : 12 + t, 5:15] = 1
            jpg, png = cv2.imencode(".jpg", frame)[1], cv2.imencode(".png", mask)[1]
            trainval[f"JPEGImages/480p/{seq}/{t:05d}.jpg"] = jpg.tobytes()
            trainval[f"Annotations/480p/{seq}/{t:05d}.png"] = png.tobytes()
    trainval["ImageSets/2017/train.txt"] = b"bear\n"
    trainval["ImageSets/2017/val.txt"] = b"dogs\n"
    trainval["README.md"] = b"tiny DAVIS-like test data\n"
    scribbles = {}
    for seq in ("bear", "dogs"):
        doc = {"scribbles": [[{"path": [[0.1, 0.2], [0.3, 0.4]], "object_id": 1,
                               "start_time": 0, "end_time": 1}], []], "sequence": seq}
        scribbles[f"Scribbles/{seq}/001.json"] = json.dumps(doc).encode()
    return trainval, scribbles


def serve_davis(server: ServerState, scribbles_prefix: str = "DAVIS/") -> dict[str, bytes]:
    """Put official-like archives on the server; return the expected layout."""
    trainval, scribbles = davis_members()
    server.files["trainval.zip"] = make_zip({f"DAVIS/{k}": v for k, v in trainval.items()})
    if scribbles_prefix == "<bare>":  # <seq>/001.json at the archive root
        scrib_zip = {k.removeprefix("Scribbles/"): v for k, v in scribbles.items()}
    else:
        scrib_zip = {f"{scribbles_prefix}{k}": v for k, v in scribbles.items()}
    server.files["scribbles.zip"] = make_zip(scrib_zip)
    return {**trainval, **scribbles}


def fetch(server: ServerState, tmp_path: Path, **overrides) -> Path:
    kwargs = dict(
        cache_dir=tmp_path / "cache",
        trainval_url=server.url("trainval.zip"),
        trainval_sha256=sha(server.files["trainval.zip"]),
        scribbles_url=server.url("scribbles.zip"),
        scribbles_sha256=sha(server.files["scribbles.zip"]),
        quiet=True,
        backoff=0.0,
        timeout=10.0,
    )
    kwargs.update(overrides)
    return fetch_davis2017(tmp_path / "DAVIS", **kwargs)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(root: Path) -> list[str]:
    """Temporary/partial artefacts anywhere under ``root``."""
    return [p.relative_to(root).as_posix() for p in root.rglob("*")
            if ".tmp-" in p.name or p.name.endswith(".part") or p.name.startswith(".extract")]


# --------------------------------------------------------------------------- fetch_davis2017
@pytest.mark.parametrize("scribbles_prefix", ["DAVIS/", "", "<bare>"])
def test_fetch_davis2017_happy_path(server, tmp_path, scribbles_prefix):
    expected = serve_davis(server, scribbles_prefix)
    root = fetch(server, tmp_path)
    assert root == tmp_path / "DAVIS"
    assert tree(root) == expected
    for sub in ("JPEGImages/480p", "Annotations/480p", "ImageSets/2017", "Scribbles"):
        assert (root / sub).is_dir()
    assert read_split(root, "train") == ["bear"] and read_split(root, "val") == ["dogs"]
    decoded = cv2.imread(str(root / "Annotations/480p/dogs/00001.png"), cv2.IMREAD_UNCHANGED)
    assert decoded.shape == (24, 32) and decoded.max() == 1
    # the archives stay in the cache, verified, under their official names
    assert (tmp_path / "cache" / TRAINVAL_ZIP_NAME).read_bytes() == server.files["trainval.zip"]
    assert (tmp_path / "cache" / SCRIBBLES_ZIP_NAME).read_bytes() == server.files["scribbles.zip"]
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DAVIS", "cache"]


def test_fetch_davis2017_second_run_downloads_nothing(server, tmp_path):
    expected = serve_davis(server)
    fetch(server, tmp_path)
    n = len(server.requests)
    assert n == 2
    fetch(server, tmp_path)  # complete folder: returns at once
    assert len(server.requests) == n
    (tmp_path / "DAVIS" / "JPEGImages" / "480p" / "bear" / "00000.jpg").unlink()
    fetch(server, tmp_path, force=True)  # rebuilt from the cached, verified archives
    assert len(server.requests) == n
    assert tree(tmp_path / "DAVIS") == expected
    assert leftovers(tmp_path) == []


def test_fetch_davis2017_wrong_hash_leaves_nothing(server, tmp_path):
    serve_davis(server)
    wrong = "0" * 64
    with pytest.raises(DownloadError) as info:
        fetch(server, tmp_path, trainval_sha256=wrong)
    msg = str(info.value)
    assert wrong in msg and sha(server.files["trainval.zip"]) in msg
    assert server.url("trainval.zip") in msg
    assert not (tmp_path / "DAVIS").exists()
    assert not (tmp_path / "cache" / TRAINVAL_ZIP_NAME).exists()
    assert leftovers(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]


def test_fetch_davis2017_corrupt_zip_leaves_nothing(server, tmp_path):
    serve_davis(server)
    server.files["scribbles.zip"] = b"this is not a zip archive" * 40
    with pytest.raises(DataError, match="corrupt or unreadable zip"):
        fetch(server, tmp_path)
    assert not (tmp_path / "DAVIS").exists()
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_fetch_davis2017_zip_slip_leaves_nothing(server, tmp_path):
    serve_davis(server)
    server.files["scribbles.zip"] = make_zip(
        {"DAVIS/Scribbles/bear/001.json": b"{}", "DAVIS/../../escaped.json": b"{}"}
    )
    with pytest.raises(DataError, match=r"unsafe member .*escaped\.json"):
        fetch(server, tmp_path)
    assert not (tmp_path / "DAVIS").exists()
    assert not list(tmp_path.parent.rglob("escaped.json"))
    assert leftovers(tmp_path) == []


def test_fetch_davis2017_incomplete_layout_is_rejected(server, tmp_path):
    trainval, _ = davis_members()
    trainval = {k: v for k, v in trainval.items() if not k.startswith("ImageSets/")}
    server.files["trainval.zip"] = make_zip({f"DAVIS/{k}": v for k, v in trainval.items()})
    server.files["scribbles.zip"] = make_zip({"DAVIS/Scribbles/bear/001.json": b"{}"})
    with pytest.raises(DataError, match="ImageSets/2017/train.txt"):
        fetch(server, tmp_path)
    assert not (tmp_path / "DAVIS").exists()
    assert leftovers(tmp_path) == []


def test_fetch_davis2017_refuses_to_replace_foreign_folder(server, tmp_path):
    serve_davis(server)
    (tmp_path / "DAVIS").mkdir()
    (tmp_path / "DAVIS" / "precious.txt").write_text("keep me")
    with pytest.raises(DataError, match="not a complete DAVIS-2017 folder"):
        fetch(server, tmp_path)
    assert (tmp_path / "DAVIS" / "precious.txt").read_text() == "keep me"
    assert server.requests == []


# --------------------------------------------------------------------------- download_file
PAYLOAD = np.random.default_rng(1).integers(0, 256, 200_000, dtype=np.uint8).tobytes()


def get(server: ServerState, tmp_path: Path, **kw) -> Path:
    server.files.setdefault("blob.bin", PAYLOAD)
    kw = {"chunk_size": 4096, "quiet": True, "timeout": 10.0, "backoff": 0.0, **kw}
    return download_file(server.url("blob.bin"), tmp_path / "blob.bin", sha(PAYLOAD), **kw)


def test_download_resumes_after_dropped_connection(server, tmp_path):
    server.drop_next = 1
    dest = get(server, tmp_path)
    assert dest.read_bytes() == PAYLOAD and sha(dest.read_bytes()) == sha(PAYLOAD)
    assert [r["range"] for r in server.requests] == [None, f"bytes={len(PAYLOAD) // 2}-"]
    assert not (tmp_path / "blob.bin.part").exists()


def test_download_resumes_repeatedly(server, tmp_path):
    server.drop_next = 3
    dest = get(server, tmp_path)
    assert dest.read_bytes() == PAYLOAD
    # each attempt resumes exactly where the previous one stopped
    got, ranges = 0, []
    for _ in range(4):
        ranges.append(f"bytes={got}-" if got else None)
        got += (len(PAYLOAD) - got) // 2
    assert [r["range"] for r in server.requests] == ranges


def test_download_server_ignoring_range_restarts(server, tmp_path):
    server.honour_range = False
    server.drop_next = 1
    dest = get(server, tmp_path)
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == [None, f"bytes={len(PAYLOAD) // 2}-"]


def test_download_resumes_part_from_earlier_run(server, tmp_path):
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD[:12345])
    dest = get(server, tmp_path)
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == ["bytes=12345-"]


def test_download_complete_part_gets_416(server, tmp_path):
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD)
    dest = get(server, tmp_path)
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == [f"bytes={len(PAYLOAD)}-"]


def test_download_stale_part_of_other_file_starts_over(server, tmp_path):
    (tmp_path / "blob.bin.part").write_bytes(b"x" * 5000)  # an older, different file
    dest = get(server, tmp_path)
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == ["bytes=5000-", None]


def test_download_retries_transient_http_error(server, tmp_path):
    server.fail_next = 2
    assert get(server, tmp_path).read_bytes() == PAYLOAD
    assert len(server.requests) == 3


def test_download_gives_up_after_retries_keeping_part(server, tmp_path):
    server.drop_next = 10
    with pytest.raises(DownloadError, match="after 3 attempts"):
        get(server, tmp_path, retries=2)
    assert len(server.requests) == 3
    assert not (tmp_path / "blob.bin").exists()
    part = tmp_path / "blob.bin.part"
    assert 0 < part.stat().st_size < len(PAYLOAD)
    assert PAYLOAD.startswith(part.read_bytes())  # kept for a later resume


def test_download_http_404_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP error 404"):
        download_file(server.url("missing.zip"), tmp_path / "m.zip", "0" * 64,
                      quiet=True, backoff=0.0)
    assert len(server.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_download_wrong_hash(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    wrong = "ab" * 32
    with pytest.raises(DownloadError) as info:
        download_file(server.url("blob.bin"), tmp_path / "blob.bin", wrong.upper(),
                      quiet=True, backoff=0.0)
    msg = str(info.value)
    assert f"expected {wrong}" in msg and f"found {sha(PAYLOAD)}" in msg
    assert server.url("blob.bin") in msg
    assert list(tmp_path.iterdir()) == []


def test_download_skips_complete_file(server, tmp_path):
    get(server, tmp_path)
    assert len(server.requests) == 1
    get(server, tmp_path)
    assert len(server.requests) == 1
    # a dest with the wrong content is downloaded again and replaced
    (tmp_path / "blob.bin").write_bytes(b"garbage")
    assert get(server, tmp_path).read_bytes() == PAYLOAD
    assert len(server.requests) == 2


# --------------------------------------------------------------------------- extract_zip_atomic
def test_extract_strip_top(tmp_path):
    members = {"top/a.txt": b"A", "top/sub/b.txt": b"B" * 1000}
    (tmp_path / "x.zip").write_bytes(make_zip(members))
    out = extract_zip_atomic(tmp_path / "x.zip", tmp_path / "out", strip_top="top", quiet=True)
    assert tree(out) == {"a.txt": b"A", "sub/b.txt": b"B" * 1000}
    out = extract_zip_atomic(tmp_path / "x.zip", tmp_path / "out2", strip_top=True, quiet=True)
    assert tree(out) == {"a.txt": b"A", "sub/b.txt": b"B" * 1000}
    out = extract_zip_atomic(tmp_path / "x.zip", tmp_path / "out3", quiet=True)
    assert tree(out) == members
    with pytest.raises(DataError, match="not under the expected top folder 'other'"):
        extract_zip_atomic(tmp_path / "x.zip", tmp_path / "out4", strip_top="other", quiet=True)
    assert not (tmp_path / "out4").exists()


@pytest.mark.parametrize("evil", ["../evil.txt", "a/../../evil.txt", "/evil.txt",
                                  "..\\evil.txt", "C:/evil.txt"])
def test_extract_zip_slip_is_refused(tmp_path, evil):
    work = tmp_path / "work"
    work.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok/first.txt", b"fine")
        zf.writestr(zipfile.ZipInfo(evil), b"pwned")
    (work / "evil.zip").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="unsafe member"):
        extract_zip_atomic(work / "evil.zip", work / "out", quiet=True)
    assert not (work / "out").exists()
    assert not list(tmp_path.rglob("evil.txt"))
    assert sorted(p.name for p in work.iterdir()) == ["evil.zip"]


def test_extract_corrupt_member_leaves_nothing_and_keeps_old_dest(tmp_path):
    data = make_zip({"d/a.txt": b"a" * 3000, "d/b.txt": b"b" * 3000}, zipfile.ZIP_STORED)
    pos = data.index(b"b" * 3000)
    corrupt = data[: pos + 10] + b"X" + data[pos + 11 :]  # breaks b.txt's CRC only
    (tmp_path / "bad.zip").write_bytes(corrupt)
    old = tmp_path / "out"
    old.mkdir()
    (old / "previous.txt").write_text("old content")
    with pytest.raises(DataError, match=r"corrupt or unreadable zip .*d/b\.txt"):
        extract_zip_atomic(tmp_path / "bad.zip", old, quiet=True)
    assert tree(old) == {"previous.txt": b"old content"}
    assert leftovers(tmp_path) == []


def test_extract_truncated_zip(tmp_path):
    data = make_zip({"a.txt": b"a" * 3000})
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt or unreadable zip"):
        extract_zip_atomic(tmp_path / "cut.zip", tmp_path / "out", quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.zip"]
