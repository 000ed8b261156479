"""Run the DAVIS interactive benchmark of a method over DAVIS-layout sequences."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gnnannot.atomic import atomic_file
from gnnannot.data import davis
from gnnannot.errors import DataError
from gnnannot.ivos.robot import ROBOT_DEFAULTS, ScribbleRobot
from gnnannot.ivos.session import (
    REPORT_COLUMNS,
    InteractiveMethod,
    VideoData,
    run_session,
)
from gnnannot.ivos.summary import summarize_report
from gnnannot.progress import log, make_progress

__all__ = ["run_benchmark", "write_report"]


def write_report(path: str | os.PathLike[str], report: pd.DataFrame) -> None:
    """Write a report as CSV (columns ``REPORT_COLUMNS``, no index), atomically."""
    with atomic_file(path) as tmp:
        report.to_csv(tmp, index=False, columns=REPORT_COLUMNS)


def run_benchmark(
    dataset_root: str | os.PathLike[str],
    sequences: Sequence[str],
    method: InteractiveMethod,
    *,
    max_interactions: int = 8,
    metric: str = "J",
    max_time: float | None = 240.0,
    interaction_limit: float | None = 30.0,
    time_threshold: float = 60.0,
    kernel_size: float = float(ROBOT_DEFAULTS["kernel_size"]),
    max_kernel_radius: float = float(ROBOT_DEFAULTS["max_kernel_radius"]),
    min_nb_nodes: int = int(ROBOT_DEFAULTS["min_nb_nodes"]),
    nb_points: int = int(ROBOT_DEFAULTS["nb_points"]),
    scribble_indices: Sequence[int] | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
    session_id: str | None = None,
    quiet: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Evaluate ``method`` on every (sequence, scribble) sample.

    Reads frames, annotations and ``Scribbles/<seq>/*.json`` from ``dataset_root``
    (DAVIS layout); ``scribble_indices`` restricts to those 1-based scribble numbers;
    ``extra[seq]`` is passed to the method as ``VideoData.extra``. ``max_time`` and
    ``interaction_limit`` are seconds per object. Returns the report (``REPORT_COLUMNS``)
    and the summary of :func:`gnnannot.ivos.summary.summarize_report`. Flags (timeouts,
    slow interactions) are in ``report.attrs["flags"]`` and logged.
    """
    robot = ScribbleRobot(
        kernel_size=kernel_size,
        max_kernel_radius=max_kernel_radius,
        min_nb_nodes=min_nb_nodes,
        nb_points=nb_points,
    )
    session_id = session_id or uuid.uuid4().hex
    if not sequences:
        raise DataError(f"{dataset_root}: no sequence to evaluate")
    plan: list[tuple[str, int, Path]] = []
    for seq in sequences:
        paths = davis.scribble_paths(dataset_root, seq)
        if not paths:
            raise DataError(f"{davis.scribbles_dir(dataset_root, seq)}: no scribble JSON files")
        for p in paths:
            try:
                idx = int(p.stem)
            except ValueError as exc:
                raise DataError(f"{p}: scribble files must be named <nnn>.json") from exc
            if scribble_indices is None or idx in scribble_indices:
                plan.append((seq, idx, p))
    if not plan:
        raise DataError(f"{dataset_root}: no scribble matches indices {scribble_indices}")

    reports: list[pd.DataFrame] = []
    flags: list[dict[str, Any]] = []
    samples: list[tuple[str, int, int]] = []
    loaded: tuple[str, VideoData, Any] | None = None
    with make_progress(quiet) as progress:
        task = progress.add_task("interactive benchmark", total=len(plan))
        for seq, idx, path in plan:
            if loaded is None or loaded[0] != seq:
                frames = davis.read_frames(dataset_root, seq)
                gt = davis.read_annotations(dataset_root, seq)
                if gt.shape != frames.shape[:3]:
                    raise DataError(
                        f"{davis.annotations_dir(dataset_root, seq)}: annotations have shape "
                        f"{gt.shape}, frames have {frames.shape[:3]}"
                    )
                video = VideoData(
                    seq, frames, davis.num_objects(gt), dict((extra or {}).get(seq, {}))
                )
                loaded = (seq, video, gt)
            _, video, gt = loaded
            scribble = davis.read_scribble(path, video.n_frames, video.n_objects)
            progress.update(task, description=f"{seq} #{idx}")
            res = run_session(
                video,
                gt,
                scribble,
                method,
                scribble_idx=idx,
                robot=robot,
                max_interactions=max_interactions,
                metric=metric,
                max_time=max_time,
                interaction_limit=interaction_limit,
                session_id=session_id,
            )
            samples.append((seq, idx, video.n_objects))
            reports.append(res.report)
            if res.timed_out:
                flags.append({"sequence": seq, "scribble_idx": idx, "flag": "timeout",
                              "interactions": res.n_interactions})
                log(f"[yellow]{seq} #{idx}: timeout after {res.n_interactions} "
                    "interactions[/]", quiet)
            for it in res.slow_interactions:
                flags.append({"sequence": seq, "scribble_idx": idx, "flag": "slow",
                              "interaction": it})
            progress.advance(task)
    report = pd.concat(reports, ignore_index=True) if reports else pd.DataFrame(
        columns=REPORT_COLUMNS
    )
    report.attrs["flags"] = flags
    summary = summarize_report(
        report,
        metric=metric,
        max_time=max_time,
        max_interactions=max_interactions,
        time_threshold=time_threshold,
        samples=samples,
    )
    return report, summary
