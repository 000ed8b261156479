"""gnnannot.web end to end in a real headless Chromium (Debian's ``chromium`` driven by
Playwright; no downloaded browser): open the page on a synthetic video, draw a stroke
inside the object and a background box with the mouse, submit, check the overlay on
another frame, export through the page and score the downloaded masks against the
ground truth. A screenshot after the interaction is saved under ``.artifacts/``.

Skipped only when no chromium executable is installed (scripts/test.sh installs it with
apt-get where it can).
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from gnnannot.annotate import PrepParams
from gnnannot.data.synthetic import make_video
from gnnannot.store.palette import read_palette_png

T, H, W = 8, 180, 240
J_MIN = 0.8  # mean J of the exported masks vs the ground truth (measured ~0.96)
CHROMIUM = os.environ.get("GNNANNOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts"

pytestmark = pytest.mark.skipif(
    not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)),
    reason=f"no chromium executable at {CHROMIUM} (apt-get install chromium)",
)


def _mean_j(gt: np.ndarray, pred: np.ndarray) -> float:
    js = [((g == 1) & (p == 1)).sum() / max(((g == 1) | (p == 1)).sum(), 1)
          for g, p in zip(gt, pred, strict=True)]  # fmt: skip
    return float(np.mean(js))


def _drag(page, points: list[tuple[float, float]]) -> None:
    """Press the left button at the first point, move through the others, release."""
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def test_annotate_in_headless_chromium(tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # a declared test dependency: do not skip silently
        pytest.fail("the browser test needs the 'playwright' package (pip install -e '.[test]')")
    from gnnannot.web.app import create_app
    from gnnannot.web.server import BackgroundServer
    from gnnannot.web.session import WebSession

    synth = make_video(5, "web", n_frames=T, height=H, width=W, max_objects=1, with_flow=False)
    frames = tmp_path / "clip"
    frames.mkdir()
    for t, f in enumerate(synth.frames):
        cv2.imwrite(str(frames / f"{t:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    session = WebSession(frames, method="random_walker", params=PrepParams(work_height=None),
                         cache_dir=tmp_path / "cache", out=tmp_path / "export")  # fmt: skip

    # strokes in frame pixels: a line through the object's (eroded) widest row, a box
    # 12 px outside its bounding box
    gt0 = synth.masks[0] == 1
    ys, xs = np.nonzero(cv2.erode(gt0.astype(np.uint8), np.ones((7, 7), np.uint8)))
    row = int(np.bincount(ys).argmax())
    fg = [(float(x), float(row)) for x in np.linspace(xs[ys == row].min(), xs[ys == row].max(), 6)]
    ys, xs = np.nonzero(gt0)
    x0, x1 = max(xs.min() - 12, 0), min(xs.max() + 12, W - 1)
    y0, y1 = max(ys.min() - 12, 0), min(ys.max() + 12, H - 1)
    bg = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0 + 1)]

    errors: list[str] = []
    with BackgroundServer(create_app(session)) as srv, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760}, accept_downloads=True)
            page.set_default_timeout(20_000)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("console", lambda m: errors.append(f"{m.text} {m.location}")
                    if m.type == "error" else None)  # fmt: skip
            page.goto(srv.url)
            page.wait_for_selector('#canvas[data-frame="0"][data-version="0"]')
            box = page.locator("#canvas").bounding_box()
            assert box is not None

            def at(x: float, y: float) -> tuple[float, float]:  # frame pixel -> page point
                return (box["x"] + (x + 0.5) * box["width"] / W,
                        box["y"] + (y + 0.5) * box["height"] / H)  # fmt: skip

            _drag(page, [at(x, y) for x, y in fg])  # object 1 is selected at start
            page.click('#objects button[data-object="0"]')
            _drag(page, [at(x, y) for x, y in bg])
            assert "2 stroke(s)" in page.inner_text("#pending")
            page.click("#submit")
            page.wait_for_selector('body[data-version="1"]')
            page.wait_for_selector('#canvas[data-frame="0"][data-version="1"][data-overlay="1"]')
            status = page.inner_text("#status")
            assert "updated in" in status and " s" in status, status
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "web_annotate.png"
            page.screenshot(path=str(shot))
            print(f"\nscreenshot after one interaction: {shot}")
            assert session.store.path.is_file()

            # the overlay is drawn on another frame
            page.locator("#slider").fill(str(T - 1))
            page.wait_for_selector(
                f'#canvas[data-frame="{T - 1}"][data-version="1"][data-overlay="1"]'
            )
            assert page.inner_text("#frame-label") == f"frame {T - 1} / {T - 1}"
            rgba = page.evaluate(
                "() => { const c = document.getElementById('canvas');"
                " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height)"
                ".data); }"
            )
            shown = np.asarray(rgba, np.int32).reshape(H, W, 4)[..., :3]

            # export through the page and download the palette PNGs
            page.click("#export")
            link = page.wait_for_selector('#downloads a[download="masks.zip"]')
            with page.expect_download() as dl:
                link.click()
            zpath = tmp_path / "masks.zip"
            dl.value.save_as(zpath)
        finally:
            browser.close()
    assert not errors, errors

    with zipfile.ZipFile(zpath) as z:
        names = sorted(z.namelist())
        assert names == [f"masks/{t:05d}.png" for t in range(T)]
        pred = []
        for n in names:
            p = tmp_path / "m.png"
            p.write_bytes(z.read(n))
            pred.append(read_palette_png(p))
    pred = np.stack(pred)
    j = _mean_j(synth.masks, pred)
    print(f"J of the exported masks vs the ground truth: {j:.3f} (threshold {J_MIN})")
    assert j > J_MIN
    # on the last frame the canvas shows the object tinted, the rest as the frame itself
    diff = np.abs(shown - synth.frames[T - 1].astype(np.int32)).sum(axis=2)
    inside, outside = pred[T - 1] == 1, pred[T - 1] == 0
    assert inside.any() and diff[inside].mean() > 40, diff[inside].mean()
    assert np.median(diff[outside]) < 15, np.median(diff[outside])
    assert (tmp_path / "export" / "overlay.mp4").is_file()
    assert not zipfile.ZipFile(io.BytesIO(zpath.read_bytes())).testzip()
