"""Property-based tests of the formats users exchange: COCO RLE round trips, palette PNG
round trips, and scribble rasterisation (inside the frame, every path vertex painted,
later strokes win), each against a reference written from the format's definition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from gnnannot.annotate import rle
from gnnannot.errors import DataError
from gnnannot.ivos.scribbles import NO_STROKE, rasterize_frame, rasterize_scribbles
from gnnannot.store.palette import PALETTE, davis_palette, read_palette_png, write_palette_png

shapes = st.tuples(st.integers(0, 12), st.integers(0, 12))
masks = shapes.flatmap(lambda s: arrays(np.bool_, s))
# masks with long runs too (counts >= 32 need several 5-bit groups, deltas go negative)
blocky = st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**31 - 1)).map(
    lambda a: np.random.default_rng(a[2]).random((a[0], a[1])) < np.random.default_rng(
        a[2] + 1).random())


def ref_counts(mask: np.ndarray) -> list[int]:
    """Column-major run lengths starting with zeros, one pixel at a time."""
    flat = [bool(v) for v in np.asarray(mask, bool).T.ravel()]
    if not flat:
        return []
    counts, cur, n = [], False, 0
    for v in flat:
        if v != cur:
            counts.append(n)
            cur, n = v, 0
        n += 1
    counts.append(n)
    return counts


# ------------------------------------------------------------------------------------- RLE
@settings(deadline=None)
@given(st.one_of(masks, blocky))
def test_rle_round_trip_and_counts(mask) -> None:
    enc = rle.encode(mask)
    assert enc["size"] == list(mask.shape)
    counts = rle.counts_from_string(enc["counts"])
    assert counts == ref_counts(mask) == rle.mask_counts(mask)
    dec = rle.decode(enc)
    assert dec.dtype == np.uint8 and dec.shape == mask.shape
    np.testing.assert_array_equal(dec, mask.astype(np.uint8))
    # bytes and uncompressed list forms decode alike; area and bbox agree with the mask
    np.testing.assert_array_equal(rle.decode({**enc, "counts": enc["counts"].encode()}), dec)
    np.testing.assert_array_equal(rle.decode({"size": enc["size"], "counts": counts}), dec)
    assert rle.area(enc) == int(mask.sum()) == rle.area({**enc, "counts": counts})
    ys, xs = np.nonzero(mask)
    want = [0, 0, 0, 0] if ys.size == 0 else [int(xs.min()), int(ys.min()),
                                               int(xs.max() - xs.min() + 1),
                                               int(ys.max() - ys.min() + 1)]
    assert rle.bbox(mask) == want


@settings(deadline=None)
@given(st.lists(st.integers(-(2**40), 2**40), max_size=30))
def test_rle_string_round_trip_of_any_counts(counts) -> None:
    """The 5-bit group code is lossless for any ints (deltas of either sign, big ones)."""
    assert rle.counts_from_string(rle.counts_to_string(counts)) == counts


def test_rle_hand_computed_long_runs_and_errors() -> None:
    # 2x40 mask, column-major: 30 zeros, then 50 ones: counts [30, 50]
    flat = np.zeros(80, bool)
    flat[30:] = True
    m = flat.reshape(40, 2).T
    assert rle.mask_counts(m) == [30, 50]
    # 30 = 0b11110: its group has the sign bit 0x10, so a 0 group must follow: 30 | 0x20
    # = 62 -> chr(110) 'n', then '0'; 50 = 0b1_10010: 18 | 0x20 -> 'b', then 1 -> '1'
    assert rle.encode(m)["counts"] == "n0b1"
    # from the fourth count on (index > 2, as pycocotools), the difference to the count
    # two places before: [5, 1, 3, 0] -> 5, 1, 3, 0 - 1 = -1 = 0b...11111: group 31 with
    # the sign bit, nothing after -> chr(79) 'O'
    assert rle.counts_to_string([5, 1, 3, 0]) == "513O"
    assert rle.counts_from_string("513O") == [5, 1, 3, 0]
    full = np.ones((1, 3), bool)
    assert rle.mask_counts(full) == [0, 3]
    with pytest.raises(DataError, match="covers|cover"):
        rle.decode({"size": [2, 2], "counts": [1, 2]})
    with pytest.raises(DataError, match="invalid character"):
        rle.counts_from_string("a~")
    with pytest.raises(DataError, match="ends inside"):
        rle.counts_from_string("b")  # a group with the "more" bit, then nothing
    with pytest.raises(DataError, match="size"):
        rle.decode({"counts": "1"})
    with pytest.raises(DataError, match="2-D"):
        rle.encode(np.zeros((2, 2, 2)))


# ------------------------------------------------------------------------------ palette PNG
def test_davis_palette_hand_computed() -> None:
    pal = davis_palette()
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    # the VOC colour map: id 1 dark red, 2 dark green, 3 olive, 4 dark blue, 8 (64, 0, 0)
    assert pal[0].tolist() == [0, 0, 0]
    assert pal[1].tolist() == [128, 0, 0]
    assert pal[2].tolist() == [0, 128, 0]
    assert pal[3].tolist() == [128, 128, 0]
    assert pal[4].tolist() == [0, 0, 128]
    assert pal[8].tolist() == [64, 0, 0]
    assert pal[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in pal.tolist()}) == 256  # every id its own colour


@settings(deadline=None, max_examples=25)
@given(shapes.filter(lambda s: s[0] > 0 and s[1] > 0).flatmap(
    lambda s: arrays(np.uint8, s, elements=st.integers(0, 255))))
def test_palette_png_round_trip(tmp_path_factory, mask) -> None:
    path = Path(tmp_path_factory.mktemp("png")) / "m.png"
    write_palette_png(path, mask)
    np.testing.assert_array_equal(read_palette_png(path), mask)
    with Image.open(path) as img:
        assert img.mode == "P"
        pal = np.asarray(img.getpalette(), np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(pal[: len(PALETTE)], PALETTE)
    assert [p.name for p in path.parent.iterdir()] == ["m.png"]  # no temporaries left


def test_palette_png_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"m\.png.*\[0, 255\]"):
        write_palette_png(tmp_path / "m.png", np.array([[0, 256]]))
    with pytest.raises(DataError, match=r"m\.png.*\[0, 255\]"):
        write_palette_png(tmp_path / "m.png", np.array([[-1, 0]]))
    with pytest.raises(DataError, match="2-D"):
        write_palette_png(tmp_path / "m.png", np.zeros((2, 2, 3), np.uint8))
    assert not (tmp_path / "m.png").exists()
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(rgb)
    with pytest.raises(DataError, match=r"rgb\.png.*palette"):
        read_palette_png(rgb)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"broken\.png.*cannot read"):
        read_palette_png(broken)
    with pytest.raises(DataError, match=r"gone\.png.*not found"):
        read_palette_png(tmp_path / "gone.png")


# ----------------------------------------------------------------------- scribble rasters
coord = st.floats(0.0, 1.0, allow_nan=False)
paths = st.lists(st.tuples(coord, coord), min_size=1, max_size=6)
strokes = st.lists(st.tuples(paths, st.integers(0, 3)), min_size=1, max_size=4)


def _pixel(x: float, y: float, h: int, w: int) -> tuple[int, int]:
    return int(x * (w - 1)), int(y * (h - 1))  # DAVIS: truncation


@settings(deadline=None)
@given(strokes, st.integers(1, 30), st.integers(1, 30))
def test_scribbles_rasterise_inside_the_frame(strk, h, w) -> None:
    frame = [{"path": [list(p) for p in path], "object_id": k} for path, k in strk]
    img = rasterize_frame(frame, h, w)
    assert img.shape == (h, w) and img.dtype == np.int16
    assert set(np.unique(img).tolist()) <= {NO_STROKE, 0, 1, 2, 3}
    # the last stroke's vertices all carry its label; every vertex of any stroke is painted
    last_path, last_k = strk[-1]
    for x, y in last_path:
        px, py = _pixel(x, y, h, w)
        assert img[py, px] == last_k
    for path, _ in strk:
        for x, y in path:
            px, py = _pixel(x, y, h, w)
            assert img[py, px] != NO_STROKE
    # a single-stroke frame paints an 8-connected path: at most (major steps + 1) pixels
    # per segment, never more pixels than the path's Chebyshev length + vertices
    path, k = strk[0]
    one = rasterize_frame([{"path": [list(p) for p in path], "object_id": k}], h, w)
    pix = [_pixel(x, y, h, w) for x, y in path]
    longest = sum(max(abs(a[0] - b[0]), abs(a[1] - b[1]))
                  for a, b in zip(pix, pix[1:], strict=False))
    assert 1 <= int((one != NO_STROKE).sum()) <= longest + 1
    # through the scribble dict: the same image, on its frame only
    scribble = {"scribbles": [[], frame], "sequence": "p"}
    out = rasterize_scribbles(scribble, h, w)
    assert list(out) == [1]
    np.testing.assert_array_equal(out[1], img)


def test_rasterise_hand_computed_line_and_overwrite() -> None:
    # 5x5 frame: a diagonal from (0, 0) to (1, 1) is pixels (i, i); a later horizontal
    # background stroke along row 2 overwrites the centre
    frame = [{"path": [[0, 0], [1, 1]], "object_id": 1},
             {"path": [[0, 0.5], [1, 0.5]], "object_id": 0}]
    img = rasterize_frame(frame, 5, 5)
    want = np.full((5, 5), NO_STROKE, np.int16)
    want[np.arange(5), np.arange(5)] = 1
    want[2, :] = 0
    np.testing.assert_array_equal(img, want)
    # a shallow line (4 steps in x, 1 in y) rounds its minor steps half up
    img = rasterize_frame([{"path": [[0, 0], [1, 0.25]], "object_id": 2}], 5, 5)
    ys, xs = np.nonzero(img == 2)
    got = sorted(zip(xs.tolist(), ys.tolist(), strict=True))
    assert got == [(0, 0), (1, 0), (2, 1), (3, 1), (4, 1)]
    with pytest.raises(DataError, match="invalid size"):
        rasterize_scribbles({"scribbles": [frame]}, 0, 5)
    with pytest.raises(DataError, match="outside|\\[0, 1\\]"):
        rasterize_scribbles({"scribbles": [[{"path": [[1.5, 0]], "object_id": 1}]]}, 5, 5)
