"""Validate a dataset folder in DAVIS layout and report what it holds."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from gnnannot.data import davis
from gnnannot.errors import DataError
from gnnannot.store.palette import read_palette_png


@dataclass(frozen=True)
class SequenceInfo:
    """What validation found for one sequence."""

    name: str
    n_frames: int
    height: int
    width: int
    n_objects: int
    n_scribbles: int


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as img:
            return img.height, img.width
    except Exception as exc:
        raise DataError(f"{path}: cannot read image ({exc})") from exc


def validate_sequence(
    root: str | os.PathLike[str], seq: str, require_annotations: bool = True
) -> SequenceInfo:
    """Check one sequence: frames readable and of one size, one annotation per frame of
    the same size, palette PNGs, object ids contiguous 1..K, valid scribble files.

    Raises :class:`DataError` naming the file and the expected vs found value.
    """
    frames = davis.frame_paths(root, seq)
    height, width = _image_size(frames[0])
    for path in frames[1:]:
        size = _image_size(path)
        if size != (height, width):
            raise DataError(
                f"{path}: frame size {size[1]}x{size[0]} differs from the sequence's first "
                f"frame {width}x{height}"
            )
    n_objects = 0
    ann_dir = davis.annotations_dir(root, seq)
    if require_annotations or ann_dir.is_dir():
        anns = davis.annotation_paths(root, seq)
        if len(anns) != len(frames):
            raise DataError(
                f"{ann_dir}: {len(anns)} annotation PNGs but {len(frames)} frames in "
                f"{davis.images_dir(root, seq)} (expected one annotation per frame)"
            )
        present: set[int] = set()
        for img_path, ann_path in zip(frames, anns, strict=True):
            if img_path.stem != ann_path.stem:
                raise DataError(
                    f"{ann_path}: annotation name does not match frame {img_path.name}"
                )
            mask = read_palette_png(ann_path)
            if mask.shape != (height, width):
                raise DataError(
                    f"{ann_path}: annotation size {mask.shape[1]}x{mask.shape[0]} differs "
                    f"from frame size {width}x{height}"
                )
            present.update(np.unique(mask).tolist())
        ids = sorted(present - {0})
        n_objects = max(ids) if ids else 0
        if ids != list(range(1, n_objects + 1)):
            missing = sorted(set(range(1, n_objects + 1)) - set(ids))
            raise DataError(
                f"{ann_dir}: object ids must be contiguous 1..{n_objects}, found {ids} "
                f"(missing {missing})"
            )
    scribbles = davis.scribble_paths(root, seq)
    for path in scribbles:
        davis.read_scribble(path, n_frames=len(frames), n_objects=n_objects or None)
    return SequenceInfo(seq, len(frames), height, width, n_objects, len(scribbles))


def validate_dataset(
    root: str | os.PathLike[str],
    splits: tuple[str, ...] = davis.SPLITS,
    require_scribbles: tuple[str, ...] = (),
) -> dict[str, list[SequenceInfo]]:
    """Validate every sequence listed in ``ImageSets/2017/<split>.txt`` for ``splits``.

    ``require_scribbles`` names splits whose sequences must have at least one scribble
    file (the interactive benchmark needs them on its evaluation split).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    for sub in ("JPEGImages", "Annotations", "ImageSets"):
        if not (root / sub).is_dir():
            raise DataError(f"{root / sub}: missing folder (expected DAVIS layout)")
    out: dict[str, list[SequenceInfo]] = {}
    for split in splits:
        infos = []
        for seq in davis.read_split(root, split):
            info = validate_sequence(root, seq)
            if split in require_scribbles and info.n_scribbles == 0:
                raise DataError(
                    f"{davis.scribbles_dir(root, seq)}: no scribble JSON for {split} "
                    f"sequence {seq!r}"
                )
            infos.append(info)
        out[split] = infos
    return out
