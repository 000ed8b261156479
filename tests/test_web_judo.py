"""Issue 17's done-when in a real headless Chromium: an annotator segments the 16-frame
judo-like clip (``tests/judo_clip.py``: two articulated figures in contact on every frame,
854x480) to J >= 0.9 on every frame and object with at most 4 Submits, with the method
``--method auto`` picks (the shipped GNN).

The annotator works as a professional would with this page: Submit 1 is wide scribbles on
the middle frame (each figure's inside, a band of background around them); every later
Submit fixes the worst frames (at most ``PER_SUBMIT``, those under 0.9) with the mask brush
and the eraser: a big brush over the wrong regions' insides, a fine one along the edges
(:func:`judo_clip.fix_strokes`, from the masks the page shows against the ground truth).
A frame fixed that way is a key frame (:mod:`gnnannot.annotate.mask_edits`): what the
annotator saw and fixed stays, and it seeds the rest of the video. Every stroke is drawn
with the mouse on the canvas, tools, objects and frames are chosen with the keyboard while
the frame slider has focus (the issue's trap) and each Submit is Enter; the page's progress
bar is checked during every Submit. The per-frame J after each Submit is printed (``-s``)
and screenshots are saved under ``.artifacts/``.

Why not fewer frames fixed: the superpixels of this clip cap a graph method below 0.9 on
one figure on every frame (the superpixel oracle: J 0.75-0.88), so every frame's edges need
the pixel tools; key frames make the fixes of one Submit stay and carry to the others.
"""

from __future__ import annotations

import io
import os
import time

import cv2
import numpy as np
import pytest
from judo_clip import H, T, W, error_strokes, fix_strokes, frame_scores, judo_video, write_frames
from test_web_browser import ARTIFACTS, CHROMIUM, open_page

J_FRAME = 0.9  # the done-when: every frame, every object
MAX_SUBMITS = 4
FIRST = T // 2  # Submit 1's frame
PER_SUBMIT = 6  # frames fixed per later Submit (the worst first)
FIX_RADII, FIX_MIN_AREA = (4, 1, 0), 12  # brush radii of a fix, smallest region fixed
VIEWPORT = (1600, 1100)  # the canvas at more than 1 CSS px per frame pixel

# ~13 min on 2 loaded cores (about 2,300 mouse-drawn strokes): outside the default run,
# `pytest -m slow tests/test_web_judo.py` runs it (README, "Tests").
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.isfile(CHROMIUM),
        reason=f"no chromium executable at {CHROMIUM} (apt-get install chromium)",
    ),
]


@pytest.fixture(scope="module")
def judo(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    from gnnannot.web.app import create_app
    from gnnannot.web.server import BackgroundServer
    from gnnannot.web.session import WebSession

    tmp = tmp_path_factory.mktemp("judo")
    video = judo_video()
    assert video.n_objects == 2 and video.frames.shape == (T, H, W, 3)
    frames = write_frames(video, tmp / "judo")
    session = WebSession(frames, method="auto", cache_dir=tmp / "cache", out=tmp / "export")
    assert session.method_name == "gnn", session.method_reason
    assert session.work_size == (H, W)
    session.add_object()
    errors: list[str] = []
    with BackgroundServer(create_app(session)) as srv, sync_playwright() as pw:
        browser, page = open_page(pw, srv.url, errors, VIEWPORT)
        try:
            page.wait_for_selector('#canvas[data-frame="0"]')
            yield video, session, page, errors
        finally:
            browser.close()


def at(page, x: float, y: float) -> tuple[float, float]:
    box = page.locator("#canvas").bounding_box()
    return (box["x"] + (x + 0.5) * box["width"] / W, box["y"] + (y + 0.5) * box["height"] / H)


def drag(page, points: list[tuple[int, int]]) -> None:
    """One stroke through frame pixels ``points`` (one mouse move per point)."""
    page.mouse.move(*at(page, *points[0]))
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*at(page, *p))
    page.mouse.up()


def key(page, k: str) -> None:
    """Press ``k`` while the frame slider has focus (the issue's trap)."""
    page.focus("#slider")
    page.keyboard.press(k)


def go_to(page, t: int) -> None:
    page.locator("#slider").fill(str(t))
    page.wait_for_selector(f'#canvas[data-frame="{t}"]')


def set_brush(page, r: int) -> None:
    page.fill("#brush", str(r))
    assert page.inner_text("#brush-value") == str(r)


def page_masks(page) -> np.ndarray:
    """``(T, H, W) uint8``: every frame's mask as the page gets it (``/api/masks/t``)."""
    from PIL import Image

    out = []
    for t in range(T):
        data = page.evaluate(
            "async (t) => { const r = await fetch(`/api/masks/${t}`);"
            " return Array.from(new Uint8Array(await r.arrayBuffer())); }", t)  # fmt: skip
        out.append(np.asarray(Image.open(io.BytesIO(bytes(data)))))
    return np.stack(out)


def submit(page, session, n_frames_note: int) -> float:
    """Enter with the slider focused; waits for the new masks. Checks the progress bar
    was shown with its label and hidden after; returns the wall seconds."""
    v = session.version
    page.evaluate("() => { window.__progress = []; }")
    t0 = time.perf_counter()
    key(page, "Enter")
    page.wait_for_selector(f'body[data-version="{v + 1}"][data-busy="0"]', timeout=300_000)
    page.wait_for_selector(f'#canvas[data-version="{v + 1}"]')
    seconds = time.perf_counter() - t0
    states = page.evaluate("() => window.__progress")
    assert states and states[0]["hidden"] is False, states
    assert f"updating all {n_frames_note} frames" in states[0]["text"], states
    assert states[-1]["hidden"] is True and page.locator("#progress").is_hidden()
    assert page.locator("#pending-list li").count() == 0
    return seconds


def print_table(title: str, js: np.ndarray) -> None:
    print(f"\n{title}: min J {js.min():.3f}, mean {js.mean():.3f}")
    print("frame " + " ".join(f"{t:5d}" for t in range(T)))
    for k in range(js.shape[1]):
        print(f"obj {k + 1} " + " ".join(f"{j:5.3f}" for j in js[:, k]))


def test_judo_clip_every_frame_j_09_in_four_submits(judo):
    video, session, page, errors = judo
    gt = video.masks
    box = page.locator("#canvas").bounding_box()
    assert box["width"] / W > 1 and box["height"] / H > 1, box  # one frame pixel > 1 CSS px
    assert "gnn" in page.inner_text("#method")
    ARTIFACTS.mkdir(exist_ok=True)

    # Submit 1: wide scribbles on the middle frame
    go_to(page, FIRST)
    key(page, "s")
    set_brush(page, 3)
    band = np.where(cv2.dilate((gt[FIRST] > 0).astype(np.uint8),
                                             np.ones((61, 61), np.uint8)) > 0, 255, gt[FIRST])
    first = error_strokes(gt[FIRST], band.astype(np.uint8), radius=3, margin=10, min_area=30)
    for label, pts in first:
        key(page, str(label) if label else "b")  # the object chosen with the slider focused
        drag(page, pts)
    pending = page.inner_text("#pending")
    assert f"object 1 on frame {FIRST}" in pending and f"object 2 on frame {FIRST}" in pending
    page.screenshot(path=str(ARTIFACTS / "judo_scribbles.png"))
    times = [submit(page, session, T)]
    # every stroke went to the object chosen just before it (keys with the slider focused)
    sent = session.state.interactions[0].strokes
    assert [(s["object_id"], s["frame"], s["radius"]) for s in sent] == [
        (label, FIRST, 3) for label, _ in first]  # fmt: skip
    masks = page_masks(page)
    js = frame_scores(gt, masks, 2)
    print_table(f"Submit 1 (scribbles on frame {FIRST})", js)
    page.screenshot(path=str(ARTIFACTS / "judo_submit1.png"))

    # Submits 2..4: the mask brush and eraser on the worst frames
    n_submits = 1
    while js.min() < J_FRAME and n_submits < MAX_SUBMITS:
        worst = [int(t) for t in np.argsort(js.min(axis=1), kind="stable")[:PER_SUBMIT]
                 if js[t].min() < J_FRAME]  # fmt: skip
        n_strokes, tool = 0, (-1, -1)
        for t in sorted(worst):
            go_to(page, t)
            for label, r, path in fix_strokes(gt[t], masks[t], FIX_RADII, FIX_MIN_AREA):
                if tool != (label, r):  # keys only when the tool, object or size changes
                    key(page, "m" if label else "e")
                    if label:
                        key(page, str(label))
                    if tool[1] != r:
                        set_brush(page, r)
                    tool = (label, r)
                    assert page.get_attribute("body", "data-tool") == ("mask" if label
                                                                       else "erase")
                drag(page, path)
                n_strokes += 1
        # the note names the object and the frame of each group; long groups stay short
        pending = page.inner_text("#pending")
        assert f"{n_strokes} stroke(s) not submitted" in pending, pending
        assert any(f"object {k} on frame" in pending for k in (1, 2)), pending
        groups = page.locator("#pending-list li.group").count()
        assert page.locator("#pending-list li.stroke").count() <= 12 * groups
        page.screenshot(path=str(ARTIFACTS / f"judo_fixes{n_submits + 1}.png"))
        times.append(submit(page, session, T))
        n_submits += 1
        sent = session.state.interactions[-1].strokes
        assert len(sent) == n_strokes and {s["frame"] for s in sent} == set(worst)
        assert {s["kind"] for s in sent} == {"mask", "erase"}
        masks = page_masks(page)
        js = frame_scores(gt, masks, 2)
        print_table(f"Submit {n_submits} (mask brush/eraser on frames {sorted(worst)}, "
                    f"{n_strokes} strokes)", js)  # fmt: skip
    print("Submit wall seconds:", " ".join(f"{s:.1f}" for s in times))
    go_to(page, int(js.min(axis=1).argmin()))
    page.screenshot(path=str(ARTIFACTS / "judo_final.png"))
    assert n_submits <= MAX_SUBMITS
    assert len(session.state.interactions) == n_submits
    assert js.min() >= J_FRAME, js
    # what the page got is what the session exports
    assert np.array_equal(masks, np.stack([session.masks.work_frame(t) for t in range(T)]))
    assert not errors, errors
