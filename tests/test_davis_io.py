"""DAVIS-layout I/O and validation on small hand-made datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gnnannot.data import davis
from gnnannot.data.validate import validate_dataset, validate_sequence
from gnnannot.errors import DataError
from gnnannot.store.palette import PALETTE, read_palette_png, write_palette_png


def _make_dataset(root: Path, n_frames: int = 3, h: int = 12, w: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(n_frames, h, w, 3), dtype=np.uint8)
    masks = np.zeros((n_frames, h, w), np.uint8)
    masks[:, 2:6, 2:6] = 1
    masks[:, 7:10, 9:14] = 2
    davis.write_sequence(root, "seq-a", frames, masks)
    davis.write_split(root, "train", ["seq-a"])
    davis.write_split(root, "val", ["seq-a"])
    scribble = davis.empty_scribble(n_frames, "seq-a")
    scribble["scribbles"][1] = [
        {"path": [[0.2, 0.3], [0.25, 0.3]], "object_id": 1, "start_time": 0, "end_time": 1},
        {"path": [[0.9, 0.1]], "object_id": 0, "start_time": 1, "end_time": 2},
    ]
    davis.write_scribble(davis.scribbles_dir(root, "seq-a") / "001.json", scribble)
    return masks


def test_palette_matches_davis_colours_and_round_trips(tmp_path: Path) -> None:
    # The first DAVIS colours are black, dark red, dark green, olive, navy.
    assert PALETTE[:5].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0],
                                    [0, 0, 128]]
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_palette_png(tmp_path / "m.png", mask)
    assert Image.open(tmp_path / "m.png").mode == "P"
    np.testing.assert_array_equal(read_palette_png(tmp_path / "m.png"), mask)


def test_non_palette_annotation_is_rejected(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(DataError, match=r"rgb.png.*palette.*found mode 'RGB'"):
        read_palette_png(tmp_path / "rgb.png")


def test_round_trip_and_validation(tmp_path: Path) -> None:
    masks = _make_dataset(tmp_path)
    np.testing.assert_array_equal(davis.read_annotations(tmp_path, "seq-a"), masks)
    assert davis.read_frames(tmp_path, "seq-a").shape == (3, 12, 16, 3)
    info = validate_sequence(tmp_path, "seq-a")
    assert (info.n_frames, info.height, info.width, info.n_objects, info.n_scribbles) == (
        3, 12, 16, 2, 1)
    assert validate_dataset(tmp_path)["val"][0].name == "seq-a"
    sc = davis.read_scribble(davis.scribble_paths(tmp_path, "seq-a")[0])
    assert davis.annotated_frames(sc) == [1]


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset folder not found"):
        validate_dataset(tmp_path / "nope")
    _make_dataset(tmp_path)
    with pytest.raises(DataError, match="frame folder of sequence 'ghost' not found"):
        validate_sequence(tmp_path, "ghost")


def test_frame_count_mismatch(tmp_path: Path) -> None:
    _make_dataset(tmp_path)
    (davis.annotations_dir(tmp_path, "seq-a") / "00002.png").unlink()
    with pytest.raises(DataError, match="2 annotation PNGs but 3 frames"):
        validate_sequence(tmp_path, "seq-a")


def test_size_mismatch(tmp_path: Path) -> None:
    _make_dataset(tmp_path)
    write_palette_png(davis.annotations_dir(tmp_path, "seq-a") / "00001.png",
                      np.zeros((10, 16), np.uint8))
    with pytest.raises(DataError, match=r"00001.png: annotation size 16x10 differs from frame "
                                        r"size 16x12"):
        validate_sequence(tmp_path, "seq-a")


def test_non_contiguous_object_ids(tmp_path: Path) -> None:
    _make_dataset(tmp_path)
    m = davis.read_annotations(tmp_path, "seq-a")
    m[m == 2] = 3
    for t in range(3):
        write_palette_png(davis.annotations_dir(tmp_path, "seq-a") / f"{t:05d}.png", m[t])
    with pytest.raises(DataError, match=r"contiguous 1..3, found \[1, 3\] \(missing \[2\]\)"):
        validate_sequence(tmp_path, "seq-a")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"sequence": "x"}', "missing key 'scribbles'"),
        ('{"scribbles": [[{"object_id": 1}], [], []]}', r"scribbles\[0\]\[0\]: missing key 'path'"),
        ('{"scribbles": [[{"path": [[0.1, 0.2, 0.3]], "object_id": 1}], [], []]}',
         r"shape \(n, 2\)"),
        ('{"scribbles": [[{"path": [[1.5, 0.2]], "object_id": 1}], [], []]}',
         r"normalised to \[0, 1\], found 0.2..1.5"),
        ('{"scribbles": [[{"path": [[0.5, 0.2]], "object_id": "a"}], [], []]}',
         "'object_id' must be an int"),
        ('{"scribbles": [[{"path": [[0.5, 0.2]], "object_id": 7}], [], []]}',
         "'object_id' 7 but the sequence has 2 objects"),
        ('{"scribbles": [[], []]}', "has 2 frame entries, expected 3"),
        ('{"scribbles": [[], [], [], []]}', "has 4 frame entries, expected 3"),
        ("{not json", "malformed scribble JSON"),
    ],
)
def test_bad_scribbles(tmp_path: Path, payload: str, message: str) -> None:
    _make_dataset(tmp_path)
    path = davis.scribbles_dir(tmp_path, "seq-a") / "002.json"
    path.write_text(payload)
    with pytest.raises(DataError, match=message) as info:
        validate_sequence(tmp_path, "seq-a")
    assert "002.json" in str(info.value)


def test_scribble_json_written_is_davis_format(tmp_path: Path) -> None:
    _make_dataset(tmp_path)
    data = json.loads((davis.scribbles_dir(tmp_path, "seq-a") / "001.json").read_text())
    assert set(data) == {"scribbles", "sequence"}
    assert data["scribbles"][1][0]["object_id"] == 1
