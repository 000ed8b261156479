"""The web app refuses hostile requests before they cost memory or change anything: bodies
are limited while they stream in (a chunked upload without Content-Length too), over-deep
JSON is a 400 (not a 500), and changing requests from another origin are a 403."""

from __future__ import annotations

import asyncio
import warnings

import cv2
import pytest

with warnings.catch_warnings():  # Starlette 1.x suggests httpx2; httpx works
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient

from gnnannot.annotate import PrepParams  # noqa: E402
from gnnannot.data.synthetic import make_video  # noqa: E402
from gnnannot.web import app as web_app  # noqa: E402
from gnnannot.web.app import create_app, origin_allowed  # noqa: E402
from gnnannot.web.session import WebSession  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    root = tmp_path_factory.mktemp("weblimits")
    clip = root / "clip"
    clip.mkdir()
    synth = make_video(2, "lim", n_frames=3, height=60, width=80, max_objects=1,
                       with_flow=False)  # fmt: skip
    for t, f in enumerate(synth.frames):
        cv2.imwrite(str(clip / f"{t:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    session = WebSession(clip, method="random_walker", params=PrepParams(work_height=None),
                         cache_dir=root / "cache", out=root / "export")  # fmt: skip
    return TestClient(create_app(session, allowed_hosts=["testserver"]),
                      raise_server_exceptions=False)  # fmt: skip


def test_chunked_body_is_cut_off_while_streaming(client, monkeypatch):
    """Drive the ASGI app directly (TestClient buffers the body itself): a chunked upload
    of 1 GiB with no Content-Length is answered 413 after about the limit was received."""
    monkeypatch.setattr(web_app, "MAX_BODY_BYTES", 1 << 20)
    piece, pieces = 1 << 16, 1 << 14  # 64 KiB x 16384 = 1 GiB on offer
    pulled = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b" " * piece, "more_body": pulled < pieces}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/undo", "raw_path": b"/api/undo",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("testserver", 80),
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                         (b"transfer-encoding", b"chunked")]}  # fmt: skip
    asyncio.run(client.app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    assert pulled <= (1 << 20) // piece + 1  # stopped at the limit, not at 1 GiB


def test_declared_large_body_refused_before_reading(client, monkeypatch):
    monkeypatch.setattr(web_app, "MAX_BODY_BYTES", 100)
    r = client.post("/api/undo", content=b"{}" + b" " * 200,
                    headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 413 and "at most 100" in r.json()["error"]


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deep_json_is_400(client, depth):
    raw = '{"strokes": ' + "[" * depth + "]" * depth + "}"
    r = client.post("/api/interactions", content=raw,
                    headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 400, r.text
    assert "nested deeper than 32" in r.json()["error"]


def test_moderate_json_still_accepted(client):
    r = client.post("/api/undo", content='{"a": [[[[1]]]]}',
                    headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 409  # parsed fine; nothing to undo


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://testserver:9999",
                                    "file://testserver", "http://testserver.evil.example"])
def test_cross_origin_changes_refused(client, origin):
    before = client.get("/api/session").json()
    r = client.post("/api/objects", json={}, headers={"origin": origin})
    assert r.status_code == 403 and r.json()["field"] == "Origin"
    r = client.delete("/api/objects/1", headers={"origin": origin})
    assert r.status_code == 403
    assert client.get("/api/session").json() == before


def test_same_origin_and_no_origin_accepted(client):
    n = client.get("/api/session").json()["n_objects"]
    r = client.post("/api/objects", json={}, headers={"origin": "http://testserver"})
    assert r.status_code == 200, r.text
    r = client.post("/api/objects", json={})  # no Origin: not a browser page of a site
    assert r.status_code == 200
    assert client.get("/api/session").json()["n_objects"] == n + 2
    # GET is never blocked by Origin
    assert client.get("/api/session", headers={"origin": "http://evil.example"}).status_code == 200


def test_origin_allowed_table():
    hosts = ("127.0.0.1", "localhost")
    assert origin_allowed(None, "127.0.0.1:8765", hosts)
    assert origin_allowed("http://127.0.0.1:8765", "127.0.0.1:8765", hosts)
    assert not origin_allowed("http://127.0.0.1:8766", "127.0.0.1:8765", hosts)
    assert not origin_allowed("http://localhost:8765", "127.0.0.1:8765", hosts)
    assert not origin_allowed("http://evil.example:8765", "evil.example:8765", hosts)
    assert not origin_allowed("http://127.0.0.1:8765", None, hosts)
