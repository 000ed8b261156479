"""The interactive session driver of the DAVIS-2017 interactive protocol.

For one sample (a sequence and one of its human scribbles) a method gets up to
``max_interactions`` scribbles: the dataset scribble first, then robot scribbles on the
frame where its current prediction scores worst (among frames the robot has not
scribbled on yet). Only the time between handing a scribble to the method and receiving
its masks is counted (robot and metrics excluded). As in davisinteractive, a sample
stops once its accumulated method time exceeds ``max_time`` seconds per object; the
interaction that crossed the limit is not evaluated. Interactions slower than
``interaction_limit`` seconds per object are evaluated and flagged.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from gnnannot.data.davis import validate_scribble
from gnnannot.errors import ConfigError, DataError
from gnnannot.ivos.scribbles import rasterize_frame

if TYPE_CHECKING:  # pandas, the metrics and the robot load with run_session: a method's
    import pandas as pd  # session (VideoData, gnnannot segment) needs none of them

    from gnnannot.ivos.robot import ScribbleRobot

__all__ = [
    "REPORT_COLUMNS",
    "InteractiveMethod",
    "ScribbleOnlyMethod",
    "SessionResult",
    "VideoData",
    "check_masks",
    "run_session",
]

REPORT_COLUMNS = [
    "session_id",
    "sequence",
    "scribble_idx",
    "interaction",
    "object_id",
    "frame",
    "jaccard",
    "contour",
    "j_and_f",
    "timing",
]


@dataclass
class VideoData:
    """What a method gets about a video: ``frames (T, H, W, 3) uint8`` RGB, the sequence
    name, its number of objects, and ``extra`` for method-specific inputs (cached graph
    or flow paths, ...)."""

    sequence: str
    frames: np.ndarray
    n_objects: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])


@runtime_checkable
class InteractiveMethod(Protocol):
    """An interactive segmentation method.

    ``start`` is called once per sample (not timed) and must reset any state;
    ``interact`` receives only the *new* scribble of the current interaction (a DAVIS
    scribble dict; earlier ones must be remembered by the method) and returns masks
    ``(T, H, W) uint8`` of object ids (0 = background) for the whole video.
    """

    def start(self, video: VideoData) -> None: ...

    def interact(self, scribble: dict[str, Any]) -> np.ndarray: ...


class ScribbleOnlyMethod:
    """Test/debug method: the masks are just the scribbled pixels so far (object strokes
    paint their id, background strokes paint 0). Not a segmentation method."""

    def __init__(self) -> None:
        self.masks: np.ndarray | None = None

    def start(self, video: VideoData) -> None:
        h, w = video.shape
        self.masks = np.zeros((video.n_frames, h, w), dtype=np.uint8)

    def interact(self, scribble: dict[str, Any]) -> np.ndarray:
        assert self.masks is not None, "start() must be called first"
        _, h, w = self.masks.shape
        for f, strokes in enumerate(scribble["scribbles"]):
            if strokes:
                lab = rasterize_frame(strokes, h, w)
                hit = lab >= 0
                self.masks[f][hit] = lab[hit].astype(np.uint8)
        return self.masks.copy()


def check_masks(masks: Any, n_frames: int, height: int, width: int, source: str) -> np.ndarray:
    """Validate a method's output: ``(T, H, W)`` integer ids in 0..255; returns it."""
    if not isinstance(masks, np.ndarray):
        raise DataError(f"{source}: masks must be a numpy array, found {type(masks).__name__}")
    expected = (n_frames, height, width)
    if masks.shape != expected:
        raise DataError(f"{source}: masks have shape {masks.shape}, expected {expected} (T, H, W)")
    if masks.dtype.kind not in "iub":
        raise DataError(f"{source}: masks must hold integer object ids, found dtype {masks.dtype}")
    return masks


@dataclass
class SessionResult:
    """Report rows of one sample and what happened."""

    report: pd.DataFrame
    n_interactions: int
    timed_out: bool = False
    slow_interactions: list[int] = field(default_factory=list)
    robot_frames: list[int] = field(default_factory=list)
    method_time: float = 0.0


def _report_frame(rows: dict[str, list[Any]]) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    return df.astype(
        {
            "session_id": str,
            "sequence": str,
            "scribble_idx": np.int64,
            "interaction": np.int64,
            "object_id": np.int64,
            "frame": np.int64,
            "jaccard": np.float64,
            "contour": np.float64,
            "j_and_f": np.float64,
            "timing": np.float64,
        }
    )


def run_session(
    video: VideoData,
    gt_masks: np.ndarray,
    scribble: dict[str, Any],
    method: InteractiveMethod,
    *,
    scribble_idx: int = 1,
    robot: ScribbleRobot | None = None,
    max_interactions: int = 8,
    metric: str = "J",
    max_time: float | None = 240.0,
    interaction_limit: float | None = 30.0,
    frame_candidates: Sequence[int] | None = None,
    session_id: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> SessionResult:
    """Run one sample of the interactive protocol.

    gt_masks: ``(T, H, W)`` int object ids. ``scribble``: the starting (human) scribble.
    ``max_time`` / ``interaction_limit``: seconds *per object* (None: no limit).
    ``frame_candidates``: restrict the robot's frame choice to these frames.
    Returns the report rows (``REPORT_COLUMNS``, one per frame and object and
    interaction, ``timing`` = that interaction's method time) and flags.
    """
    import pandas as pd

    from gnnannot.ivos.metrics import batched_f_measure, batched_jaccard
    from gnnannot.ivos.robot import METRICS, ScribbleRobot, select_frame

    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {METRICS}, found {metric!r}")
    if max_interactions < 1:
        raise ConfigError(f"max_interactions must be >= 1, found {max_interactions}")
    robot = robot or ScribbleRobot()
    session_id = session_id or uuid.uuid4().hex
    gt = np.asarray(gt_masks)
    n_frames, h, w = video.n_frames, *video.shape
    if gt.shape != (n_frames, h, w):
        raise DataError(
            f"{video.sequence}: ground truth has shape {gt.shape}, expected {(n_frames, h, w)} "
            "to match the frames"
        )
    n_obj = int(video.n_objects)
    if n_obj < 1:
        raise DataError(f"{video.sequence}: the sequence has no object to segment")
    validate_scribble(scribble, f"{video.sequence} scribble {scribble_idx}", n_frames, n_obj)

    rows: dict[str, list[Any]] = {c: [] for c in REPORT_COLUMNS}
    result = SessionResult(report=pd.DataFrame(columns=REPORT_COLUMNS), n_interactions=0)
    frames_idx = np.repeat(np.arange(n_frames), n_obj)
    objects_idx = np.tile(np.arange(1, n_obj + 1), n_frames)

    method.start(video)
    current = copy.deepcopy(scribble)
    for interaction in range(1, max_interactions + 1):
        t0 = clock()
        masks = method.interact(current)
        dt = clock() - t0
        result.method_time += dt
        masks = check_masks(
            masks, n_frames, h, w, f"{video.sequence} interaction {interaction}"
        )
        if max_time is not None and result.method_time > max_time * n_obj:
            result.timed_out = True  # submitted after the timeout: not evaluated
            break
        if interaction_limit is not None and dt > interaction_limit * n_obj:
            result.slow_interactions.append(interaction)
        jac = batched_jaccard(gt, masks, n_obj)  # (n_obj, T)
        con = batched_f_measure(gt, masks, n_obj)
        jac_t = np.ascontiguousarray(jac.T)  # (T, n_obj) like the toolkit
        con_t = np.ascontiguousarray(con.T)
        n = n_frames * n_obj
        jl, cl = jac_t.ravel().tolist(), con_t.ravel().tolist()
        rows["session_id"] += [session_id] * n
        rows["sequence"] += [video.sequence] * n
        rows["scribble_idx"] += [scribble_idx] * n
        rows["interaction"] += [interaction] * n
        rows["object_id"] += objects_idx.tolist()
        rows["frame"] += frames_idx.tolist()
        rows["jaccard"] += jl
        rows["contour"] += cl
        rows["j_and_f"] += [0.5 * j + 0.5 * f for j, f in zip(jl, cl, strict=True)]
        rows["timing"] += [dt] * n
        result.n_interactions = interaction
        if interaction == max_interactions:
            break
        if metric == "J":
            scores = jac_t.mean(axis=1)
        elif metric == "F":
            scores = con_t.mean(axis=1)
        else:
            scores = (0.5 * jac_t + 0.5 * con_t).mean(axis=1)
        frame = select_frame(
            scores, list(frame_candidates) if frame_candidates else None, result.robot_frames
        )
        result.robot_frames.append(frame)
        current = robot.interact(video.sequence, masks, gt, n_obj, frame)
    result.report = _report_frame(rows)
    return result
