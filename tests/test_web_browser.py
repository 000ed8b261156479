"""gnnannot.web end to end in a real headless Chromium (Debian's ``chromium`` driven by
Playwright; no downloaded browser). One server and one page are shared by the tests
(each starts from a reset session and a reloaded page): every tool of the page is used
with the mouse and keyboard, submitted, and checked on the masks the server returns or on
the page's state. Screenshots of the main states are saved under ``.artifacts/``.

Skipped only when no chromium executable is installed (scripts/test.sh installs it with
apt-get where it can).
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gnnannot.annotate import PrepParams
from gnnannot.annotate.mask_edits import rasterise
from gnnannot.data.synthetic import make_video
from gnnannot.store.palette import read_palette_png

T, H, W = 24, 120, 160
J_MIN = 0.7  # mean J, both objects, 24 frames, one interaction, random walker (measured 0.79)
CHROMIUM = os.environ.get("GNNANNOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts"
SUBMIT_WAIT_MS = 180_000  # the longest wait for one Submit's masks
# records every state of the progress bar (shown/hidden, text) as the page changes it
PROGRESS_SPY = """
document.addEventListener("DOMContentLoaded", () => {
  window.__progress = [];
  const p = document.getElementById("progress");
  new MutationObserver(() => window.__progress.push(
    {hidden: p.hidden, text: document.getElementById("progress-text").textContent}
  )).observe(p, {attributes: true, attributeFilter: ["hidden"]});
});
"""

pytestmark = pytest.mark.skipif(
    not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)),
    reason=f"no chromium executable at {CHROMIUM} (apt-get install chromium)",
)


@dataclass
class UI:
    """The shared server, session and page."""

    synth: Any
    session: Any
    page: Any
    errors: list[str] = field(default_factory=list)


def jaccard(gt: np.ndarray, pred: np.ndarray, k: int) -> float:
    union = ((gt == k) | (pred == k)).sum()
    return float(((gt == k) & (pred == k)).sum() / union) if union else 1.0


def open_page(pw, url: str, errors: list[str], viewport: tuple[int, int]):
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]},
                            accept_downloads=True)  # fmt: skip
    page.set_default_timeout(30_000)
    page.add_init_script(PROGRESS_SPY)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", lambda m: errors.append(f"{m.text} {m.location}")
            if m.type == "error" else None)  # fmt: skip
    page.on("dialog", lambda d: d.accept())  # Reset / delete confirmations
    page.goto(url)
    return browser, page


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # a declared test dependency: do not skip silently
        pytest.fail("the browser test needs the 'playwright' package (pip install -e '.[test]')")
    from gnnannot.web.app import create_app
    from gnnannot.web.server import BackgroundServer
    from gnnannot.web.session import WebSession

    tmp = tmp_path_factory.mktemp("browser")
    synth = make_video(5, "web", n_frames=T, height=H, width=W, max_objects=2, with_flow=False)
    assert synth.n_objects == 2
    frames = tmp / "clip"
    frames.mkdir()
    for t, f in enumerate(synth.frames):
        cv2.imwrite(str(frames / f"{t:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    session = WebSession(frames, method="random_walker", params=PrepParams(work_height=None),
                         cache_dir=tmp / "cache", out=tmp / "export")  # fmt: skip
    session.add_object()
    errors: list[str] = []
    with BackgroundServer(create_app(session)) as srv, sync_playwright() as pw:
        browser, page = open_page(pw, srv.url, errors, (1100, 760))
        try:
            yield UI(synth, session, page, errors)
        finally:
            browser.close()
    assert not errors, errors


@pytest.fixture()
def fresh(ui) -> UI:
    """``ui`` with no interaction, two objects, default names, and the page reloaded."""
    s = ui.session
    s.reset()
    for k in (1, 2):
        s.update_object(k, {"name": f"object {k}"})
    ui.page.reload()
    ui.page.wait_for_selector(f'#canvas[data-frame="0"][data-version="{s.version}"]')
    ui.page.evaluate("() => { window.__progress = []; }")
    ui.errors.clear()
    yield ui
    assert not ui.errors, ui.errors


def at(page, x: float, y: float) -> tuple[float, float]:
    """Page point of frame pixel (x, y)'s centre (the canvas as it is now: zoom, pan)."""
    box = page.locator("#canvas").bounding_box()
    return (box["x"] + (x + 0.5) * box["width"] / W, box["y"] + (y + 0.5) * box["height"] / H)


def drag(page, points: list[tuple[float, float]]) -> None:
    """Press the left button at the first frame pixel, move through the others, release."""
    page.mouse.move(*at(page, *points[0]))
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(*at(page, x, y), steps=3)
    page.mouse.up()


def submit(ui: UI) -> None:
    v = ui.session.version
    ui.page.click("#submit")
    # a generous wait: on a loaded machine one Submit has taken over 30 s
    ui.page.wait_for_selector(f'body[data-version="{v + 1}"][data-busy="0"]',
                              timeout=SUBMIT_WAIT_MS)  # fmt: skip
    ui.page.wait_for_selector(f'#canvas[data-version="{v + 1}"]')


def inner_row(mask: np.ndarray, k: int, erode: int = 7) -> list[tuple[float, float]]:
    """Points along the longest row of object ``k`` eroded by ``erode``."""
    inner = cv2.erode((mask == k).astype(np.uint8), np.ones((erode, erode), np.uint8))
    ys, xs = np.nonzero(inner)
    row = int(np.bincount(ys).argmax())
    return [(float(x), float(row)) for x in np.linspace(xs[ys == row].min(),
                                                        xs[ys == row].max(), 5)]  # fmt: skip


def first_strokes(ui: UI, t: int = 0) -> None:
    """Object 1 and 2 strokes inside each object, a background box around both."""
    m = ui.synth.masks[t]
    page = ui.page
    for k in (1, 2):
        page.keyboard.press(str(k))
        drag(page, inner_row(m, k))
    ys, xs = np.nonzero(m > 0)
    x0, x1 = max(xs.min() - 8, 0), min(xs.max() + 8, W - 1)
    y0, y1 = max(ys.min() - 8, 0), min(ys.max() + 8, H - 1)
    page.keyboard.press("b")
    drag(page, [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0 + 1)])


def shown_pixels(page) -> np.ndarray:
    """``(H, W, 3) int`` the canvas as drawn."""
    rgba = page.evaluate(
        "() => { const c = document.getElementById('canvas');"
        " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"
    )
    return np.asarray(rgba, np.int32).reshape(H, W, 4)[..., :3]


def exported_masks(page, tmp_path: Path) -> np.ndarray:
    """``(T, H, W)`` the masks of the page's Export, downloaded as masks.zip and decoded."""
    old = page.locator('#downloads a[download="masks.zip"]')
    if old.count():  # an earlier export's link: wait for this export's new one
        old.evaluate("(a) => a.remove()")
    page.click("#export")
    link = page.wait_for_selector('#downloads a[download="masks.zip"]')
    with page.expect_download() as dl:
        link.click()
    zpath = tmp_path / "masks.zip"
    dl.value.save_as(zpath)
    with zipfile.ZipFile(io.BytesIO(zpath.read_bytes())) as z:
        names = sorted(z.namelist())
        assert names == [f"masks/{t:05d}.png" for t in range(T)]
        pred = []
        for n in names:
            (tmp_path / "m.png").write_bytes(z.read(n))
            pred.append(read_palette_png(tmp_path / "m.png"))
    return np.stack(pred)


def served_masks(page) -> np.ndarray:
    """``(T, H, W)`` the masks the app serves now (``GET /api/masks/t`` from the page)."""
    from PIL import Image

    blobs = page.evaluate(
        "async (n) => { const out = []; for (let t = 0; t < n; t++) {"
        " const r = await fetch(`/api/masks/${t}`, {cache: 'no-store'});"
        " out.push(Array.from(new Uint8Array(await r.arrayBuffer()))); } return out; }", T)
    return np.stack([np.asarray(Image.open(io.BytesIO(bytes(b)))) for b in blobs])


def no_masks_served(page) -> bool:
    """Whether the app answers ``GET /api/masks/0`` with 409 "no masks yet" (asked from
    here, not from the page: the page would log the 409 as a console error)."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(page.url.rstrip("/") + "/api/masks/0", timeout=30)
    except urllib.error.HTTPError as exc:
        return exc.code == 409 and "no masks yet" in exc.read().decode()
    return False


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


# ------------------------------------------------------------------------------- tests
def test_first_interaction_progress_overlay_and_export(fresh, tmp_path):
    ui, page = fresh, fresh.page
    first_strokes(ui)
    assert "3 stroke(s)" in page.inner_text("#pending")
    submit(ui)
    # the progress bar was shown during the update, then hidden
    states = page.evaluate("() => window.__progress")
    assert states[0]["hidden"] is False and "updating all 24 frames" in states[0]["text"]
    assert states[-1]["hidden"] is True
    assert page.locator("#progress").is_hidden()
    status = page.inner_text("#status")
    assert "updated in" in status and " s" in status, status
    assert "random_walker" in page.inner_text("#method")
    shot(page, "web_annotate.png")
    # the overlay is drawn on another frame: objects tinted, the rest as the frame itself
    page.locator("#slider").fill(str(T - 1))
    page.wait_for_selector(f'#canvas[data-frame="{T - 1}"][data-overlay="1"]')
    shown = shown_pixels(page)
    pred = ui.session.masks.work_frame(T - 1)
    diff = np.abs(shown - ui.synth.frames[T - 1].astype(np.int32)).sum(axis=2)
    assert diff[pred > 0].mean() > 40 and np.median(diff[pred == 0]) < 15
    # export through the page, download the palette PNGs, score them
    pred = exported_masks(page, tmp_path)
    js = [jaccard(g, p, k) for g, p in zip(ui.synth.masks, pred, strict=True) for k in (1, 2)]
    print(f"mean J of the exported masks: {np.mean(js):.3f} (threshold {J_MIN})")
    assert np.mean(js) > J_MIN


def test_shortcuts_work_wherever_focus_is_and_the_pointer_shows_the_object(fresh):
    page = fresh.page
    page.focus("#slider")  # the trap: keys ignored while the slider had focus
    page.keyboard.press("2")
    assert page.get_attribute("body", "data-object") == "2"
    page.keyboard.press("m")
    assert page.get_attribute("body", "data-tool") == "mask"
    page.focus("#show-overlay")
    page.keyboard.press("b")  # the mask brush of background is the eraser
    assert page.get_attribute("body", "data-object") == "0"
    assert page.get_attribute("body", "data-tool") == "erase"
    page.keyboard.press("s")
    page.keyboard.press("1")
    # typing in a name field is text, not a shortcut
    name = page.locator('#objects .object-row[data-object="2"] input.name')
    name.focus()
    page.keyboard.type("2s")
    assert page.get_attribute("body", "data-object") == "1"
    assert page.get_attribute("body", "data-tool") == "scribble"
    assert name.input_value() == "object 22s"
    name.fill("object 2")
    # the indicator by the pointer names the current object and tool
    page.mouse.move(*at(page, 40, 40))
    assert page.get_attribute("#cursor", "hidden") is None
    assert page.locator("#cursor .label").is_visible()
    assert page.inner_text("#cursor .label") == "object 1 · scribble"
    page.focus("#slider")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector('#canvas[data-frame="1"]')
    page.keyboard.press("2")
    page.mouse.move(*at(page, 41, 40))
    assert page.inner_text("#cursor .label") == "object 2 · scribble"
    shot(page, "web_pointer.png")
    # the trap end to end: the object picked with the slider focused is the one
    # the next stroke gets, and Enter with the slider focused submits it
    drag(page, inner_row(fresh.synth.masks[1], 2))
    assert "object 2 on frame 1 (1)" in page.inner_text("#pending")
    page.focus("#slider")
    v = fresh.session.version
    page.keyboard.press("Enter")
    page.wait_for_selector(f'body[data-version="{v + 1}"][data-busy="0"]',
                           timeout=SUBMIT_WAIT_MS)  # fmt: skip
    (s,) = fresh.session.state.interactions[-1].strokes
    assert (s["object_id"], s["frame"]) == (2, 1)


def test_pending_strokes_per_object_and_frame_each_removable(fresh):
    ui, page = fresh, fresh.page
    m0 = ui.synth.masks[0]
    page.keyboard.press("1")
    drag(page, inner_row(m0, 1))
    drag(page, inner_row(m0, 1, erode=11))
    page.keyboard.press("ArrowRight")
    page.wait_for_selector('#canvas[data-frame="1"]')
    page.keyboard.press("2")
    drag(page, inner_row(ui.synth.masks[1], 2))
    groups = page.locator("#pending-list li.group")
    assert groups.count() == 2
    assert groups.nth(0).inner_text() == "object 1 — frame 0: 2 stroke(s)"
    assert groups.nth(1).inner_text() == "object 2 — frame 1: 1 stroke(s)"
    pending = page.inner_text("#pending")
    assert "object 1 on frame 0 (2)" in pending and "object 2 on frame 1 (1)" in pending
    shot(page, "web_pending.png")
    # remove the first stroke of object 1: the second one and object 2's stay
    page.locator("#pending-list li.stroke button.remove").first.click()
    assert groups.nth(0).inner_text() == "object 1 — frame 0: 1 stroke(s)"
    submit(ui)
    strokes = ui.session.state.interactions[-1].strokes
    assert [(s["frame"], s["object_id"]) for s in strokes] == [(0, 1), (1, 2)]
    # the kept object-1 stroke is the second (eroded by 11) one
    ys = {round(p[1] * (H - 1) - 0.5) for p in strokes[0]["path"]}
    assert ys == {inner_row(m0, 1, erode=11)[0][1]}
    assert page.locator("#pending-list li").count() == 0


def test_brush_radius_zoom_and_pan_keep_strokes_on_their_pixels(fresh):
    ui, page = fresh, fresh.page
    page.fill("#brush", "5")  # the slider
    page.focus("#slider")
    page.keyboard.press("]")
    page.keyboard.press("]")
    assert page.inner_text("#brush-value") == "7"
    box0 = page.locator("#canvas").bounding_box()
    page.keyboard.press("+")
    page.keyboard.press("+")
    box1 = page.locator("#canvas").bounding_box()
    assert box1["width"] == pytest.approx(box0["width"] * 1.5625, rel=0.01)
    # pan: Space + drag moves the canvas by the drag
    page.keyboard.down(" ")
    page.mouse.move(500, 300)
    page.mouse.down()
    page.mouse.move(440, 280, steps=3)
    page.mouse.up()
    page.keyboard.up(" ")
    box2 = page.locator("#canvas").bounding_box()
    assert (box2["x"] - box1["x"], box2["y"] - box1["y"]) == pytest.approx((-60, -20), abs=1)
    # a mask stroke drawn while zoomed lands on the frame pixels under the pointer
    page.keyboard.press("m")
    page.keyboard.press("1")
    drag(page, [(60, 50), (75, 55)])
    shot(page, "web_zoomed.png")
    assert fresh.page.locator("#pending-list li.stroke").inner_text().startswith("mask brush r7")
    submit(ui)
    (s,) = ui.session.state.interactions[-1].strokes
    assert s["kind"] == "mask" and s["radius"] == 7
    pix = [(round(x * (W - 1) - 0.5), round(y * (H - 1) - 0.5)) for x, y in s["path"]]
    assert pix[0] == (60, 50) and pix[-1] == (75, 55)
    page.keyboard.press("f")
    box3 = page.locator("#canvas").bounding_box()  # the page may scroll: compare sizes
    assert (box3["width"], box3["height"]) == pytest.approx((box0["width"], box0["height"]), abs=1)
    assert page.get_attribute("#canvas", "data-zoom") == "1.000"


def test_mask_brush_and_eraser_pixels_are_kept_in_the_output(fresh):
    ui, page = fresh, fresh.page
    first_strokes(ui)
    # mask brush: object 2 painted over the background; eraser: a line through object 1
    m0 = ui.synth.masks[0]
    free = cv2.erode((m0 == 0).astype(np.uint8), np.ones((25, 25), np.uint8))
    ys, xs = np.nonzero(free)
    bx, by = int(xs[len(xs) // 2]), int(ys[len(ys) // 2])
    page.keyboard.press("m")
    page.keyboard.press("2")
    page.fill("#brush", "4")
    drag(page, [(bx - 5, by), (bx + 5, by)])
    page.keyboard.press("e")
    page.fill("#brush", "2")
    row = inner_row(m0, 1)
    drag(page, [row[0], row[-1]])
    submit(ui)
    strokes = ui.session.state.interactions[-1].strokes
    mask_s = [s for s in strokes if s.get("kind") == "mask"]
    erase_s = [s for s in strokes if s.get("kind") == "erase"]
    assert len(mask_s) == len(erase_s) == 1
    out = np.array(page.evaluate(
        "async () => { const r = await fetch('/api/masks/0'); return Array.from("
        "new Uint8Array(await r.arrayBuffer())); }"), np.uint8)  # fmt: skip
    from PIL import Image

    got = np.asarray(Image.open(io.BytesIO(out.tobytes())))  # palette indices
    painted = rasterise(mask_s[0]["path"], 4, (H, W))
    erased = rasterise(erase_s[0]["path"], 2, (H, W))
    assert painted.sum() > 50 and erased.sum() > 20
    assert (got[painted] == 2).all() and (got[erased] == 0).all()
    # the method alone would not give those pixels (the constraint did it)
    assert (m0[painted] == 0).all() and (m0[erased] == 1).mean() > 0.9
    shot(page, "web_mask_edit.png")
    # a later interaction elsewhere keeps them
    page.keyboard.press("s")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector('#canvas[data-frame="1"]')
    page.keyboard.press("1")
    drag(page, inner_row(ui.synth.masks[1], 1))
    submit(ui)
    again = ui.session.masks.work_frame(0)
    assert (again[painted] == 2).all() and (again[erased] == 0).all()


def test_positive_and_negative_clicks(fresh):
    ui, page = fresh, fresh.page
    m0 = ui.synth.masks[0]
    page.keyboard.press("c")
    page.keyboard.press("1")
    pts = {k: inner_row(m0, k)[2] for k in (1, 2)}
    page.mouse.click(*at(page, *pts[1]))  # positive for object 1
    page.keyboard.press("2")
    page.mouse.click(*at(page, *pts[2]))  # positive for object 2
    ys, xs = np.nonzero(cv2.erode((m0 == 0).astype(np.uint8), np.ones((15, 15), np.uint8)))
    negs = [(int(xs[i]), int(ys[i])) for i in np.linspace(0, len(xs) - 1, 6).astype(int)]
    for x, y in negs[:3]:  # negative: right click
        page.mouse.click(*at(page, x, y), button="right")
    for x, y in negs[3:]:  # negative: shift + click
        page.keyboard.down("Shift")
        page.mouse.click(*at(page, x, y))
        page.keyboard.up("Shift")
    assert page.locator("#pending-list li.stroke").first.inner_text().startswith("click r3")
    submit(ui)
    strokes = ui.session.state.interactions[-1].strokes
    assert [s["object_id"] for s in strokes] == [1, 2, 0, 0, 0, 0, 0, 0]
    assert all(len(s["path"]) == 1 and s["radius"] == 3 for s in strokes)
    pred = ui.session.masks.work_frame(0)
    for (x, y), k in [(pts[1], 1), (pts[2], 2), *[(p, 0) for p in negs]]:
        assert pred[int(y), int(x)] == k
    assert (pred == 1).sum() > 100 and (pred == 2).sum() > 100


def test_thumbnail_strip_every_frame_virtualised_updated_in_place(fresh):
    ui, page = fresh, fresh.page
    strip = page.locator("#strip")
    inner_w = page.evaluate("() => document.getElementById('strip-inner').offsetWidth")
    thumb_w = page.evaluate("() => S.thumbW")
    assert inner_w == T * thumb_w  # a slot for every frame
    shown = page.locator("#strip figure")
    n0 = shown.count()
    assert 0 < n0 < T  # only those near the visible part exist
    # mark the thumbnails' elements: after a Submit the same elements show new images
    page.evaluate("() => document.querySelectorAll('#strip figure img').forEach("
                  "(i, n) => { i.__mark = n; })")  # fmt: skip
    before = page.evaluate("() => Array.from(document.querySelectorAll('#strip img'), i => i.src)")
    first_strokes(ui)
    submit(ui)
    page.wait_for_function("() => Array.from(document.querySelectorAll('#strip figure'))"
                           ".every(f => f.dataset.loading !== '1')")  # fmt: skip
    after = page.evaluate("() => Array.from(document.querySelectorAll('#strip img'),"
                          " i => [i.__mark, i.src, i.complete && i.naturalWidth > 0])")
    assert [a[0] for a in after] == list(range(n0))  # same elements, none re-created
    assert all(a[2] for a in after)  # each shows a loaded image (never blank)
    assert all(f"v={ui.session.version}" in a[1] and a[1] != b
               for a, b in zip(after, before, strict=True))  # fmt: skip
    assert page.locator("#strip figure.marked").first.get_attribute("data-t") == "0"
    # scrolling to the end renders the last frames, the first ones go
    strip.evaluate("(s) => { s.scrollLeft = s.scrollWidth; }")
    page.wait_for_selector(f'#strip figure[data-t="{T - 1}"]')
    assert page.locator('#strip figure[data-t="0"]').count() == 0
    page.click(f'#strip figure[data-t="{T - 1}"]')
    page.wait_for_selector(f'#canvas[data-frame="{T - 1}"]')
    shot(page, "web_strip.png")


def test_object_names_colours_hide_and_delete(fresh):
    ui, page = fresh, fresh.page
    first_strokes(ui)
    submit(ui)
    row2 = page.locator('#objects .object-row[data-object="2"]')
    row2.locator("input.name").fill("judoka blue")
    row2.locator("input.name").press("Tab")
    page.wait_for_function("() => S.info.objects[1].name === 'judoka blue'")
    assert ui.session.state.objects[1]["name"] == "judoka blue"
    v = ui.session.version
    row2.locator("input.colour").evaluate(
        "(el) => { el.value = '#00ff00'; el.dispatchEvent(new Event('change')); }")
    page.wait_for_selector(f'#canvas[data-version="{v + 1}"]')
    assert ui.session.state.objects[1]["colour"] == [0, 255, 0]
    pred = ui.session.masks.work_frame(0)
    frame = ui.synth.frames[0].astype(np.int32)
    shown = shown_pixels(page)
    inside2 = cv2.erode((pred == 2).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    tint = (shown - frame)[inside2].mean(axis=0)  # green up, red and blue down
    assert tint[1] > 30 and tint[0] < 0 and tint[2] < 0, tint
    page.keyboard.press("2")
    page.mouse.move(*at(page, 5, 5))
    assert page.inner_text("#cursor .label") == "judoka blue · scribble"
    # hide object 1's mask: its pixels show the frame as it is, object 2 stays tinted
    page.uncheck("#show-overlay")  # the reference: the frame without masks
    page.wait_for_selector('#canvas[data-overlay="0"]')
    plain = shown_pixels(page)
    page.check("#show-overlay")
    page.locator('#objects .object-row[data-object="1"] button.eye').click()
    page.wait_for_selector('#canvas[data-hidden="1"][data-overlay="1"]')
    shown = shown_pixels(page)
    inside1 = cv2.erode((pred == 1).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    diff = np.abs(shown - plain).sum(axis=2)  # medians: the submitted strokes are drawn too
    assert np.median(diff[inside1]) < 12 and np.median(diff[inside2]) > 40
    shot(page, "web_hidden.png")
    page.focus("#slider")
    page.keyboard.press("1")
    page.keyboard.press("h")  # H shows it again
    page.wait_for_selector('#canvas[data-hidden=""]')
    # delete object 1: its strokes go, object 2 becomes object 1 (keeps name and colour)
    page.locator('#objects .object-row[data-object="1"] button.delete').click()
    page.wait_for_function("() => S.info.n_objects === 1")
    st = ui.session.state
    assert st.n_objects == 1 and st.objects[0]["name"] == "judoka blue"
    ids = sorted({s["object_id"] for it in st.interactions for s in it.strokes})
    assert ids == [0, 1]
    # the masks are those of the kept strokes given to a fresh one-object Annotator
    from gnnannot.annotate import Annotator
    from gnnannot.web.session_store import to_davis_scribble

    ann = Annotator(ui.session.source, method="random_walker", n_objects=1,
                    params=PrepParams(work_height=None),
                    cache_dir=ui.session.prepared.dir.parent)  # fmt: skip
    for it in st.interactions:
        ref = ann.interact(to_davis_scribble(it.strokes, T, (H, W)))
    pred = ui.session.masks.work_frame(0)
    assert np.array_equal(pred, ref.work_frame(0)) and not (pred > 1).any()
    page.click("#add-object")  # back to two objects for the next test
    page.wait_for_function("() => S.info.n_objects === 2")


def test_undo_and_reset_buttons_return_the_masks_to_the_earlier_state(fresh, tmp_path):
    """Scribble, submit, scribble a correction, submit, then the page's Undo: the served
    masks, the export and the canvas are exactly those saved before the correction, and
    equal to the first interaction alone given to a fresh Annotator (a replay, not the
    undo's stored state); Reset returns to the masks of no interaction. The app has no
    Redo (the page has Undo, Ctrl+Z and Reset only)."""
    ui, page = fresh, fresh.page
    assert page.locator("#redo").count() == 0
    assert no_masks_served(page)
    page.locator("#slider").fill(str(T - 1))
    page.wait_for_selector(f'#canvas[data-frame="{T - 1}"]')
    shown_none = shown_pixels(page)
    page.locator("#slider").fill("0")
    page.wait_for_selector('#canvas[data-frame="0"]')
    assert page.is_disabled("#undo")
    first_strokes(ui)
    submit(ui)
    first = served_masks(page)
    assert (first == 1).sum() > 500 and (first == 2).sum() > 500
    page.locator("#slider").fill(str(T - 1))
    page.wait_for_selector(f'#canvas[data-frame="{T - 1}"][data-overlay="1"]')
    shown_first = shown_pixels(page)
    # the correction: object 2 scribbled along object 1 on the last frame
    page.keyboard.press("2")
    row = inner_row(ui.synth.masks[T - 1], 1)
    drag(page, row)
    submit(ui)
    second = served_masks(page)
    rx = [int(x) for x, _ in row]
    assert (second[T - 1, int(row[0][1]), rx[0]:rx[-1] + 1] == 2).all()  # it took effect
    assert (second != first).sum() > 100
    # Ctrl+Z with a pending stroke removes that stroke only (no request, masks unchanged)
    v = ui.session.version
    drag(page, inner_row(ui.synth.masks[T - 1], 2))
    assert page.locator("#pending-list li.stroke").count() == 1
    page.keyboard.press("Control+z")
    assert page.locator("#pending-list li.stroke").count() == 0
    assert ui.session.version == v and len(ui.session.state.interactions) == 2
    # the Undo button drops the correction
    page.click("#undo")
    page.wait_for_selector(f'body[data-version="{v + 1}"][data-busy="0"]',
                           timeout=SUBMIT_WAIT_MS)  # fmt: skip
    page.wait_for_selector(f'#canvas[data-version="{v + 1}"][data-frame="{T - 1}"]')
    assert "undid the last interaction" in page.inner_text("#status")
    undone = served_masks(page)
    assert np.array_equal(undone, first), int((undone != first).sum())
    assert np.array_equal(exported_masks(page, tmp_path), first)
    assert np.array_equal(shown_pixels(page), shown_first)  # its strokes are not drawn
    (it,) = ui.session.state.interactions
    assert [s["object_id"] for s in it.strokes] == [1, 2, 0]
    # independent: the first interaction alone, replayed into a fresh Annotator
    from gnnannot.annotate import Annotator
    from gnnannot.web.session_store import to_davis_scribble

    ann = Annotator(ui.session.source, method="random_walker", n_objects=2,
                    params=PrepParams(work_height=None),
                    cache_dir=ui.session.prepared.dir.parent)  # fmt: skip
    ref = ann.interact(to_davis_scribble(it.strokes, T, (H, W)))
    assert np.array_equal(first, np.stack([ref.work_frame(t) for t in range(T)]))
    # Reset: every interaction goes, the masks are those of no interaction
    v = ui.session.version
    page.click("#reset")  # its confirmation is accepted (open_page)
    page.wait_for_selector(f'body[data-version="{v + 1}"][data-busy="0"]',
                           timeout=SUBMIT_WAIT_MS)  # fmt: skip
    page.wait_for_selector(f'#canvas[data-version="{v + 1}"][data-frame="{T - 1}"]')
    assert ui.session.state.interactions == []
    assert no_masks_served(page)  # as before the first interaction
    assert np.array_equal(shown_pixels(page), shown_none)
    assert page.is_disabled("#undo")
