"""The DAVIS-2017 interactive protocol (scribbles, robot, metrics, sessions, summary),
independent of any segmentation method."""

from gnnannot.ivos.benchmark import run_benchmark, write_report
from gnnannot.ivos.metrics import batched_f_measure, batched_jaccard, f_measure, jaccard
from gnnannot.ivos.robot import ROBOT_DEFAULTS, ScribbleRobot, frame_metric, select_frame
from gnnannot.ivos.scribbles import merge_scribbles, rasterize_frame, rasterize_scribbles
from gnnannot.ivos.session import (
    REPORT_COLUMNS,
    InteractiveMethod,
    ScribbleOnlyMethod,
    SessionResult,
    VideoData,
    run_session,
)
from gnnannot.ivos.summary import summarize_report, write_plot_data

__all__ = [
    "REPORT_COLUMNS",
    "ROBOT_DEFAULTS",
    "InteractiveMethod",
    "ScribbleOnlyMethod",
    "ScribbleRobot",
    "SessionResult",
    "VideoData",
    "batched_f_measure",
    "batched_jaccard",
    "f_measure",
    "frame_metric",
    "jaccard",
    "merge_scribbles",
    "rasterize_frame",
    "rasterize_scribbles",
    "run_benchmark",
    "run_session",
    "select_frame",
    "summarize_report",
    "write_plot_data",
    "write_report",
]
