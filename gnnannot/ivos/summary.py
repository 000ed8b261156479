"""Summary of an interactive report (davisinteractive's ``summarize_report``) and plot
data.

The report is first averaged per (interaction, sequence, scribble, object) over frames.
Missing samples/interactions (a sample that timed out) are filled with the sample's
previous interaction's scores at zero time (zeros before the first one). The curve is:
time = [0, mean cumulative time after each interaction ..., timeout] (times averaged
per sample), metric = [0, mean score after each interaction (averaged over all objects
of all samples) ..., last score again]. ``timeout = mean objects per sequence x
max_time``. AUC = trapezoid area under the curve / the largest time; the metric at the
threshold (60 s) is the curve interpolated there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gnnannot.atomic import atomic_file, write_json
from gnnannot.errors import ConfigError, DataError
from gnnannot.ivos.robot import METRICS

__all__ = [
    "curve_rows",
    "interaction_rows",
    "reconstruct_scores",
    "samples_from_report",
    "summarize_report",
    "write_plot_data",
]

_METRIC_COLUMN = {"J": "jaccard", "F": "contour", "J_AND_F": "j_and_f"}
_VALUE_COLUMNS = ["jaccard", "contour", "j_and_f", "timing"]


def samples_from_report(report: pd.DataFrame) -> list[tuple[str, int, int]]:
    """``(sequence, scribble_idx, n_objects)`` of every sample in a report (objects =
    the largest object id seen for the sequence)."""
    if len(report) == 0:
        return []
    n_obj = report.groupby("sequence")["object_id"].max()
    pairs = report[["sequence", "scribble_idx"]].drop_duplicates()
    return [
        (str(s), int(i), int(n_obj[s]))
        for s, i in pairs.itertuples(index=False, name=None)
    ]


def _check_report(report: pd.DataFrame) -> None:
    need = {"sequence", "scribble_idx", "interaction", "object_id", *_VALUE_COLUMNS}
    missing = need - set(report.columns)
    if missing:
        raise DataError(f"report: missing columns {sorted(missing)}")


def _reconstruct(
    df: pd.DataFrame, samples: Sequence[tuple[str, int, int]], max_i: int
) -> pd.DataFrame:
    index = [
        (it, seq, idx, k)
        for it in range(1, max_i + 1)
        for seq, idx, n_obj in samples
        for k in range(1, n_obj + 1)
    ]
    mi = pd.MultiIndex.from_tuples(
        index, names=["interaction", "sequence", "scribble_idx", "object_id"]
    )
    df = df.reindex(mi)
    values = df[_VALUE_COLUMNS].to_numpy(dtype=np.float64, copy=True)
    pos = {key: i for i, key in enumerate(index)}
    for seq, idx, n_obj in samples:
        prev = np.zeros((n_obj, len(_VALUE_COLUMNS)))
        for it in range(1, max_i + 1):
            rows = [pos[(it, seq, idx, k)] for k in range(1, n_obj + 1)]
            cur = values[rows]
            if np.isnan(cur).any():
                prev[:, -1] = 0.0  # a missing interaction costs no time
                values[rows] = prev
            else:
                prev = cur.copy()
    return pd.DataFrame(values, index=mi, columns=_VALUE_COLUMNS)


def _object_means(report: pd.DataFrame) -> pd.DataFrame:
    keys = ["interaction", "sequence", "scribble_idx", "object_id"]
    if len(report):
        return report.groupby(keys)[_VALUE_COLUMNS].mean()
    return report.set_index(keys)[_VALUE_COLUMNS]


def _max_interactions(report: pd.DataFrame, max_interactions: int | None) -> int:
    if max_interactions:
        return int(max_interactions)
    last = report["interaction"].max() if len(report) else np.nan
    return 1 if pd.isna(last) else int(last)


def reconstruct_scores(
    report: pd.DataFrame,
    samples: Sequence[tuple[str, int, int]] | None = None,
    max_interactions: int | None = 8,
) -> pd.DataFrame:
    """Per (interaction, sequence, scribble_idx, object_id): the mean over frames of
    jaccard, contour, j_and_f and timing, every sample's interactions 1..max present
    (missing ones repeat the previous scores at zero time, zeros before the first)."""
    _check_report(report)
    samples = list(samples) if samples is not None else samples_from_report(report)
    return _reconstruct(_object_means(report), samples,
                        _max_interactions(report, max_interactions))


def summarize_report(
    report: pd.DataFrame,
    *,
    metric: str = "J",
    max_time: float | None = 240.0,
    max_interactions: int | None = 8,
    time_threshold: float = 60.0,
    samples: Sequence[tuple[str, int, int]] | None = None,
) -> dict[str, Any]:
    """Summary ``{"auc", "metric_at_threshold": {"threshold", metric}, "curve": {"time",
    metric}}`` of a report (columns as in :data:`gnnannot.ivos.session.REPORT_COLUMNS`).

    ``samples``: every ``(sequence, scribble_idx, n_objects)`` that was run (default:
    those in the report); missing entries are reconstructed. ``max_time``: seconds per
    object (None: timeout = interactions x largest interaction time).
    """
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {METRICS}, found {metric!r}")
    _check_report(report)
    samples = list(samples) if samples is not None else samples_from_report(report)
    if not samples:
        raise DataError("report: no sample to summarise")
    max_i = _max_interactions(report, max_interactions)
    df = _object_means(report)
    dfr = _reconstruct(df, samples, max_i)
    df_average = dfr.groupby(level="interaction").mean()
    metric_values = np.concatenate(([0.0], df_average[_METRIC_COLUMN[metric]].to_numpy()))
    per_sample = dfr["timing"].groupby(level=["sequence", "scribble_idx", "interaction"]).mean()
    mean_time = per_sample.groupby(level="interaction").mean().sort_index()
    times = np.concatenate(([0.0], mean_time.cumsum().to_numpy()))

    if max_time:
        per_seq = {seq: n for seq, _, n in samples}
        timeout = float(np.mean(list(per_seq.values()))) * max_time
    else:
        timeout = max_i * float(df["timing"].max())
    times = np.concatenate((times, [timeout]))
    metric_values = np.concatenate((metric_values, metric_values[-1:]))
    at_threshold = float(np.interp(time_threshold, times, metric_values))
    if times.max() == 0.0:
        auc = 0.0
    else:
        auc = float(np.trapezoid(metric_values, x=times) / times.max())
    return {
        "auc": auc,
        "metric_at_threshold": {"threshold": time_threshold, metric: at_threshold},
        "curve": {"time": times.tolist(), metric: metric_values.tolist()},
    }


# --------------------------------------------------------------------------- plot data
def curve_rows(summary: dict[str, Any]) -> list[dict[str, float]]:
    """The summary curve as rows ``{"time": t, <metric>: v}`` (for ``dvc plots``)."""
    curve = summary["curve"]
    metric = next(k for k in curve if k != "time")
    return [
        {"time": float(t), metric: float(v)}
        for t, v in zip(curve["time"], curve[metric], strict=True)
    ]


def interaction_rows(report: pd.DataFrame) -> list[dict[str, float]]:
    """Per interaction: mean J, F, J&F over all objects and frames, and the mean
    cumulative method time, as rows (only interactions present in the report)."""
    if len(report) == 0:
        return []
    per_obj = report.groupby(["interaction", "sequence", "scribble_idx", "object_id"])[
        _VALUE_COLUMNS
    ].mean()
    means = per_obj.groupby(level="interaction").mean()
    per_sample = per_obj["timing"].groupby(
        level=["sequence", "scribble_idx", "interaction"]
    ).mean()
    mean_time = per_sample.groupby(level="interaction").mean().sort_index().cumsum()
    return [
        {
            "interaction": int(i),
            "J": float(means.loc[i, "jaccard"]),
            "F": float(means.loc[i, "contour"]),
            "J_AND_F": float(means.loc[i, "j_and_f"]),
            "time": float(mean_time.loc[i]),
        }
        for i in means.index
    ]


def write_plot_data(
    out_dir: str | os.PathLike[str], report: pd.DataFrame, summary: dict[str, Any]
) -> dict[str, Path]:
    """Write ``curve.csv`` (metric vs cumulative time), ``per_interaction.csv`` and
    ``summary.json`` into ``out_dir``, atomically. Returns the paths by name."""
    out = Path(out_dir)
    paths = {
        "curve": out / "curve.csv",
        "per_interaction": out / "per_interaction.csv",
        "summary": out / "summary.json",
    }
    with atomic_file(paths["curve"]) as tmp:
        pd.DataFrame(curve_rows(summary)).to_csv(tmp, index=False)
    with atomic_file(paths["per_interaction"]) as tmp:
        pd.DataFrame(
            interaction_rows(report), columns=["interaction", "J", "F", "J_AND_F", "time"]
        ).to_csv(tmp, index=False)
    write_json(paths["summary"], summary)
    return paths
