"""gnnannot.web (server side): the JSON API and page of ``gnnannot annotate`` through
Starlette's TestClient on a small synthetic video: interactions vs the Annotator, undo,
objects, resume, exports, and bad requests (4xx, saved session untouched)."""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

with warnings.catch_warnings():  # Starlette 1.x suggests httpx2; httpx works
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient

from gnnannot.annotate import Annotator, PrepParams, rle  # noqa: E402
from gnnannot.data.synthetic import make_video  # noqa: E402
from gnnannot.errors import ConfigError  # noqa: E402
from gnnannot.web.app import create_app  # noqa: E402
from gnnannot.web.server import bind  # noqa: E402
from gnnannot.web.session import WebSession  # noqa: E402
from gnnannot.web.session_store import SESSION_FILE, to_davis_scribble  # noqa: E402

T, H, W = 8, 180, 240
J_MIN = 0.8  # first interaction, fg line + bg box, random walker (measured ~0.96)
PARAMS = PrepParams(work_height=None)  # frames are small: work at the original size


@pytest.fixture(scope="module")
def synth():
    return make_video(5, "web", n_frames=T, height=H, width=W, max_objects=1, with_flow=False)


@pytest.fixture(scope="module")
def frames_dir(synth, tmp_path_factory, write_png_frames) -> Path:
    d = tmp_path_factory.mktemp("webvideo") / "clip"
    write_png_frames(synth.frames, d)
    return d


@pytest.fixture()
def session(frames_dir, cache, tmp_path) -> WebSession:
    """A fresh session (the preprocessing is cached across tests, the session file not)."""
    for f in cache.glob(f"*/{SESSION_FILE}*"):
        f.unlink()
    return WebSession(frames_dir, method="random_walker", params=PARAMS, cache_dir=cache,
                      out=tmp_path / "export")  # fmt: skip


@pytest.fixture()
def client(session) -> TestClient:
    return TestClient(create_app(session, allowed_hosts=["testserver"]))


def norm(x: float, y: float) -> list[float]:
    """Normalised DAVIS coordinates of pixel (x, y), as the page sends them."""
    return [min((int(x) + 0.5) / (W - 1), 1.0), min((int(y) + 0.5) / (H - 1), 1.0)]


def strokes_for(mask: np.ndarray, frame: int, obj: int = 1) -> list[dict]:
    """A foreground stroke along the longest row of the eroded object ``obj`` and a
    background box 12 px outside its bounding box."""
    inner = cv2.erode((mask == obj).astype(np.uint8), np.ones((7, 7), np.uint8))
    ys, xs = np.nonzero(inner)
    row = np.bincount(ys).argmax()
    xr = xs[ys == row]
    ys, xs = np.nonzero(mask == obj)
    x0, x1 = max(xs.min() - 12, 0), min(xs.max() + 12, W - 1)
    y0, y1 = max(ys.min() - 12, 0), min(ys.max() + 12, H - 1)
    box = [norm(x0, y0), norm(x1, y0), norm(x1, y1), norm(x0, y1), norm(x0, y0)]
    return [
        {"frame": frame, "object_id": obj, "path": [norm(xr.min(), row), norm(xr.max(), row)]},
        {"frame": frame, "object_id": 0, "path": box},
    ]


def jaccard(gt: np.ndarray, pred: np.ndarray) -> float:
    """Mean over frames of the IoU of object 1."""
    js = [((g == 1) & (p == 1)).sum() / max(((g == 1) | (p == 1)).sum(), 1)
          for g, p in zip(gt, pred, strict=True)]  # fmt: skip
    return float(np.mean(js))


def post(client: TestClient, strokes: list[dict]):
    """POST one interaction."""
    return client.post("/api/interactions", json={"strokes": strokes})


def session_file(session: WebSession) -> bytes | None:
    p = session.store.path
    return p.read_bytes() if p.is_file() else None


def test_page_static_and_session_info(client, session):
    r = client.get("/")
    assert r.status_code == 200 and "<canvas" in r.text and "/static/app.js" in r.text
    assert client.get("/static/app.js").status_code == 200
    info = client.get("/api/session").json()
    assert info["n_frames"] == T and info["frame_size"] == [H, W] and info["work_size"] == [H, W]
    assert info["n_objects"] == 1 and not info["has_masks"] and info["interactions"] == []
    assert info["method"] == "random_walker" and len(info["palette"]) == 2
    assert info["session_file"].endswith(SESSION_FILE)


def test_frames_served_one_at_a_time(client, session):
    r = client.get("/api/frames/3", params={"overlay": 0})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content == session.prepared.frame_path(3).read_bytes()  # the cached frame
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (H, W, 3)
    thumb = client.get("/api/frames/3", params={"overlay": 1, "height": 40})
    img = cv2.imdecode(np.frombuffer(thumb.content, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[0] == 40 and abs(img.shape[1] - 40 * W / H) <= 1


def test_interaction_matches_annotator_and_is_saved(client, session, synth, frames_dir, cache):
    strokes = strokes_for(synth.masks[0], 0)
    r = client.post("/api/interactions", json={"strokes": strokes})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["seconds"] > 0 and body["session"]["has_masks"]
    assert body["session"]["version"] == 1 and body["session"]["interactions"][0]["frames"] == [0]
    pred = session.masks.to_array()
    # the same interaction through the library's Annotator gives the same masks
    ref = Annotator(frames_dir, method="random_walker", params=PARAMS, cache_dir=cache,
                    n_objects=1).interact(to_davis_scribble(strokes, T))  # fmt: skip
    np.testing.assert_array_equal(pred, ref.to_array())
    assert jaccard(synth.masks, pred) > J_MIN
    # the overlay of another frame shows the object's colour where it was predicted
    raw = client.get("/api/frames/6", params={"overlay": 0}).content
    ovl = client.get("/api/frames/6", params={"overlay": 1}).content
    raw, ovl = (cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR).astype(int)
                for b in (raw, ovl))  # fmt: skip
    diff = np.abs(raw - ovl).sum(axis=2)
    assert diff[pred[6] == 1].mean() > 40 > 5 > np.median(diff[pred[6] == 0])
    saved = json.loads(session.store.path.read_text())
    assert saved["n_objects"] == 1 and len(saved["interactions"]) == 1
    assert saved["interactions"][0]["strokes"] == strokes
    on0 = client.get("/api/frames/0/strokes").json()["strokes"]
    assert [s["object_id"] for s in on0] == [1, 0]
    assert client.get("/api/frames/1/strokes").json()["strokes"] == []



def test_a_frame_fixed_with_the_mask_brush_is_a_key_frame(client, session, synth, frames_dir,
                                                          cache, tmp_path):  # fmt: skip
    """The frame as shown plus the mask brush / eraser fixes is the frame's whole
    annotation: kept as it is in the output (now and after later interactions, on resume)
    and seeding the method on every pixel, as the same labels given to a fresh Annotator
    as a label image."""
    from gnnannot.annotate.mask_edits import Constraints

    s0 = strokes_for(synth.masks[0], 0)
    assert post(client, s0).status_code == 200
    t = 5
    shown = session.masks.work_frame(t).copy()
    ys, xs = np.nonzero(cv2.erode((synth.masks[t] == 1).astype(np.uint8),
                                  np.ones((9, 9), np.uint8)))  # fmt: skip
    row = int(np.median(ys))
    fix = [  # paint a background corner as the object, erase a row through the object
        {"frame": t, "object_id": 1, "path": [norm(6, 6), norm(30, 10)], "kind": "mask",
         "radius": 4},
        {"frame": t, "object_id": 0, "path": [norm(xs[ys == row].min(), row),
                                              norm(xs[ys == row].max(), row)],
         "kind": "erase", "radius": 2},
    ]  # fmt: skip
    expected = Constraints(fix, (H, W))(t, shown)
    assert (expected != shown).sum() > 100
    assert post(client, fix).status_code == 200
    np.testing.assert_array_equal(session.masks.work_frame(t), expected)
    assert (session.annotator.method.seeds.pixel_labels[t] >= 0).all()  # every pixel seeds
    masks = session.masks.to_array()
    # the same as a fresh Annotator given the first strokes, then the key frame's labels
    ref = Annotator(frames_dir, method="random_walker", params=PARAMS, cache_dir=cache,
                    n_objects=1)  # fmt: skip
    ref.interact(to_davis_scribble(s0, T))
    out = ref.interact(np.where(expected == 0, 255, expected).astype(np.uint8), frame=t)
    np.testing.assert_array_equal(masks, out.to_array())
    # resuming replays the key frame from the masks shown before it: the same masks
    again = WebSession(frames_dir, method="random_walker", params=PARAMS, cache_dir=cache,
                       out=tmp_path / "x")  # fmt: skip
    np.testing.assert_array_equal(again.masks.to_array(), masks)
    # a later interaction on another frame leaves the key frame as it is
    bg = [{"frame": 2, "object_id": 0, "path": [norm(2, 2), norm(W - 3, 2)]}]
    assert post(client, bg).status_code == 200
    np.testing.assert_array_equal(session.masks.work_frame(t), expected)


BAD_POSTS = [
    # (what, path, request kwargs, status, field, words in the message)
    ("unknown object", "/api/interactions",
     {"json": {"strokes": [{"frame": 0, "object_id": 2, "path": [[0.5, 0.5]]}]}},
     422, "strokes[0].object_id", ["unknown object 2", "0 (background)", "1"]),
    ("stroke outside the frame", "/api/interactions",
     {"json": {"strokes": [{"frame": 0, "object_id": 1, "path": [[0.5, 0.5], [1.5, 0.2]]}]}},
     422, "strokes[0].path[1]", ["outside the frame", "x=1.5", "0..1"]),
    ("negative coordinate", "/api/interactions",
     {"json": {"strokes": [{"frame": 0, "object_id": 0, "path": [[-0.1, 0.2]]}]}},
     422, "strokes[0].path[0]", ["outside the frame"]),
    ("frame out of range", "/api/interactions",
     {"json": {"strokes": [{"frame": T, "object_id": 1, "path": [[0.5, 0.5]]}]}},
     422, "strokes[0].frame", [f"0..{T - 1}", f"found {T}"]),
    ("frame not an int", "/api/interactions",
     {"json": {"strokes": [{"frame": "2", "object_id": 1, "path": [[0.5, 0.5]]}]}},
     422, "strokes[0].frame", ["integer", "'2'"]),
    ("bad point", "/api/interactions",
     {"json": {"strokes": [{"frame": 0, "object_id": 1, "path": [[0.5]]}]}},
     422, "strokes[0].path[0]", ["[x, y]"]),
    ("missing key", "/api/interactions",
     {"json": {"strokes": [{"frame": 0, "path": [[0.5, 0.5]]}]}},
     422, "strokes[0]", ["'object_id'"]),
    ("no strokes", "/api/interactions", {"json": {"strokes": []}}, 422, "strokes",
     ["no strokes"]),
    ("no strokes key", "/api/interactions", {"json": {}}, 422, "strokes", ["missing"]),
    ("not JSON", "/api/interactions",
     {"content": b"{oops", "headers": {"content-type": "application/json"}}, 400, "body",
     ["not valid JSON"]),
    ("form post", "/api/interactions", {"data": {"strokes": "x"}}, 415, "Content-Type",
     ["application/json"]),
    ("array body", "/api/undo", {"json": [1]}, 400, "body", ["JSON object"]),
    ("export flag", "/api/export", {"json": {"overlay": "yes"}}, 422, "overlay",
     ["true or false"]),
]  # fmt: skip


def test_bad_requests_get_4xx_and_leave_the_session(client, session, synth):
    assert post(client, strokes_for(synth.masks[0], 0)).status_code == 200
    before, version = session_file(session), session.version
    masks_before = session.masks.to_array()
    for what, path, kwargs, status, field, words in BAD_POSTS:
        r = client.post(path, **kwargs)
        assert r.status_code == status, (what, r.status_code, r.text)
        err = r.json()
        assert err["field"] == field, (what, err)
        for w in words:
            assert w in err["error"], (what, w, err)
        assert session_file(session) == before, what
        assert session.version == version, what
    gets = [("/api/frames/8", 404, "frame", f"0..{T - 1}"),
            ("/api/frames/-1", 404, "frame", "found '-1'"),
            ("/api/frames/abc", 404, "frame", "integer"),
            ("/api/frames/8/strokes", 404, "frame", "out of range"),
            ("/api/frames/0?overlay=maybe", 400, "overlay", "0 or 1"),
            ("/api/frames/0?height=5000", 400, "height", "8..480"),
            ("/api/download/secret.txt", 404, "name", "masks.zip"),
            ("/api/download/masks.zip", 404, "name", "no export yet"),
            ("/api/nothing", 404, "", "no such page")]  # fmt: skip
    for url, status, field, word in gets:
        r = client.get(url)
        assert r.status_code == status, (url, r.text)
        assert r.json()["field"] == field and word in r.json()["error"], (url, r.json())
    r = client.delete("/api/objects/5")
    assert r.status_code == 404 and "1..1" in r.json()["error"]
    r = client.delete("/api/objects/1")
    assert r.status_code == 409 and "only object" in r.json()["error"]
    assert client.get("/api/undo").status_code == 405
    assert session_file(session) == before and session.version == version
    np.testing.assert_array_equal(session.masks.to_array(), masks_before)
    # after all that, the session still works
    assert post(client, strokes_for(synth.masks[4], 4)).status_code == 200
    assert len(json.loads(session.store.path.read_text())["interactions"]) == 2


def test_nothing_to_undo_or_export(client, session):
    r = client.post("/api/undo", json={})
    assert r.status_code == 409 and "nothing to undo" in r.json()["error"]
    r = client.post("/api/export", json={})
    assert r.status_code == 409 and "nothing to export" in r.json()["error"]
    assert session_file(session) is None


def test_only_local_hosts(session):
    c = TestClient(create_app(session), base_url="http://evil.example")
    assert c.get("/api/session").status_code == 400
    c = TestClient(create_app(session), base_url="http://127.0.0.1:8765")
    assert c.get("/api/session").status_code == 200


def test_failed_save_changes_nothing(session, synth, monkeypatch):
    client = TestClient(create_app(session, allowed_hosts=["testserver"]),
                        raise_server_exceptions=False)  # fmt: skip
    assert post(client, strokes_for(synth.masks[0], 0)).status_code == 200
    before, masks_before = session_file(session), session.masks.to_array()

    def broken(state):
        raise OSError("disk full")

    monkeypatch.setattr(session.store, "save", broken)
    r = client.post("/api/interactions", json={"strokes": strokes_for(synth.masks[5], 5)})
    assert r.status_code == 500 and "disk full" in r.json()["error"]
    assert session_file(session) == before and len(session.state.interactions) == 1
    assert len(session.annotator.history) == 1  # rebuilt without the failed interaction
    np.testing.assert_array_equal(session.masks.to_array(), masks_before)


def test_undo_objects_reset_and_resume(client, session, synth, frames_dir, cache, tmp_path):
    s0 = strokes_for(synth.masks[0], 0)
    client.post("/api/interactions", json={"strokes": s0})
    first = session.masks.to_array()
    bg = [{"frame": 5, "object_id": 0, "path": [norm(2, 2), norm(W - 3, 2)]}]
    assert client.post("/api/interactions", json={"strokes": bg}).status_code == 200
    ann = session.annotator
    r = client.post("/api/undo", json={})
    assert r.status_code == 200 and len(r.json()["session"]["interactions"]) == 1
    np.testing.assert_array_equal(session.masks.to_array(), first)
    assert session.annotator is ann  # stored state restored, nothing replayed
    # a second object (here: a box in a background corner) and its strokes
    r = client.post("/api/objects", json={})
    assert r.json()["object_id"] == 2 and r.json()["session"]["n_objects"] == 2
    corner = [{"frame": 2, "object_id": 2, "path": [norm(5, 5), norm(30, 5), norm(30, 30)]}]
    r = client.post("/api/interactions", json={"strokes": corner})
    assert r.status_code == 200, r.text
    two = session.masks.to_array()
    assert (two[2] == 2).any() and (two == 1).any()
    # reopening the same video resumes the saved session with the same masks
    again = WebSession(frames_dir, method="random_walker", params=PARAMS, cache_dir=cache,
                       out=tmp_path / "x")  # fmt: skip
    assert again.resumed and again.state.n_objects == 2 and len(again.state.interactions) == 2
    np.testing.assert_array_equal(again.masks.to_array(), two)
    # removing object 1 drops its strokes; object 2 becomes object 1
    r = client.delete("/api/objects/1")
    assert r.status_code == 200 and r.json()["session"]["n_objects"] == 1
    saved = json.loads(session.store.path.read_text())
    assert saved["n_objects"] == 1
    assert [[s["object_id"] for s in i["strokes"]] for i in saved["interactions"]] == [[0], [1]]
    r = client.post("/api/reset", json={})
    assert r.status_code == 200 and not r.json()["session"]["has_masks"]
    assert json.loads(session.store.path.read_text())["interactions"] == []


def test_corrupt_session_file_is_kept_aside(session, frames_dir, cache, tmp_path):
    session.store.path.write_text("{not json")
    s = WebSession(frames_dir, method="random_walker", params=PARAMS, cache_dir=cache,
                   out=tmp_path / "x")  # fmt: skip
    assert not s.resumed and s.warning and "kept it as" in s.warning
    assert list(session.store.path.parent.glob(f"{SESSION_FILE}.bad-*"))


def test_export_and_downloads(client, session, synth):
    client.post("/api/interactions", json={"strokes": strokes_for(synth.masks[0], 0)})
    r = client.post("/api/export", json={"overlay": True, "rle": True})
    assert r.status_code == 200, r.text
    res = r.json()
    out = Path(res["out"])
    assert [d["name"] for d in res["downloads"]] == ["masks.zip", "rle.zip", "overlay.mp4"]
    assert len(list((out / "masks").glob("*.png"))) == T and (out / "overlay.mp4").stat().st_size
    assert json.loads((out / "segment.json").read_text())["interface"] == "web"
    pred = session.masks.to_array()
    z = zipfile.ZipFile(io.BytesIO(client.get("/api/download/masks.zip").content))
    assert sorted(z.namelist()) == [f"masks/{t:05d}.png" for t in range(T)]
    from gnnannot.store.palette import read_palette_png

    for t in range(T):
        (tmp := out.parent / "m.png").write_bytes(z.read(f"masks/{t:05d}.png"))
        np.testing.assert_array_equal(read_palette_png(tmp), pred[t])
    z = zipfile.ZipFile(io.BytesIO(client.get("/api/download/rle.zip").content))
    rec = json.loads(z.read("rle/00003.json"))
    np.testing.assert_array_equal(rle.decode(rec["objects"][0]["segmentation"]), pred[3] == 1)
    r = client.get("/api/download/overlay.mp4")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.content == (out / "overlay.mp4").read_bytes()
    # an export without RLE / overlay offers only the masks
    r = client.post("/api/export", json={"overlay": False, "rle": False})
    assert [d["name"] for d in r.json()["downloads"]] == ["masks.zip"]
    r = client.get("/api/download/rle.zip")
    assert r.status_code == 404 and "not in the last export" in r.json()["error"]


def test_port_in_use_is_a_clear_error():
    sock = bind(0)
    try:
        with pytest.raises(ConfigError, match="choose another --port"):
            bind(sock.getsockname()[1])
    finally:
        sock.close()


def test_cli_help():
    from typer.testing import CliRunner

    from gnnannot.cli.annotate import app

    res = CliRunner().invoke(app, ["--help"])
    assert res.exit_code == 0 and "--port" in res.output and "127.0.0.1" in res.output
