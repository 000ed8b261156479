"""The DAVIS-2017 interactive protocol (scribbles, robot, metrics, sessions, summary),
independent of any segmentation method.

The names below are loaded on first use (PEP 562): importing one module of this package
(e.g. ``scribbles`` for the seeds) does not import the benchmark driver and pandas."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "InteractiveMethod": "session",
    "REPORT_COLUMNS": "session",
    "ROBOT_DEFAULTS": "robot",
    "ScribbleOnlyMethod": "session",
    "ScribbleRobot": "robot",
    "SessionResult": "session",
    "VideoData": "session",
    "batched_f_measure": "metrics",
    "batched_jaccard": "metrics",
    "f_measure": "metrics",
    "frame_metric": "robot",
    "jaccard": "metrics",
    "merge_scribbles": "scribbles",
    "rasterize_frame": "scribbles",
    "rasterize_scribbles": "scribbles",
    "run_benchmark": "benchmark",
    "run_session": "session",
    "select_frame": "robot",
    "summarize_report": "summary",
    "write_plot_data": "summary",
    "write_report": "benchmark",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
