"""Per-session scores, bootstrap confidence intervals and paired method differences.

A session is one ``(sequence, scribble_idx)`` sample. Its score after interaction ``i``
is the mean over its objects of the per-object mean over frames (missing interactions
repeat the previous ones, as in :func:`gnnannot.ivos.summary.summarize_report`).

* Per method, the mean after each interaction and the mean over interactions are the
  protocol's object-weighted means (all objects of all sessions count once, as in the
  official curve); their 95% intervals come from a cluster bootstrap that resamples
  whole sessions.
* Between two methods, the paired difference per session (same sessions, A - B) of the
  session's mean over interactions; its interval is a percentile bootstrap of the mean
  difference.

Bootstrap resamples are drawn from ``numpy.random.default_rng(seed)``: the same inputs and
seed give the same intervals on any machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from gnnannot.errors import ConfigError, DataError
from gnnannot.ivos.summary import reconstruct_scores

__all__ = [
    "BOOTSTRAP_DEFAULTS",
    "bootstrap_mean_ci",
    "bootstrap_ratio_ci",
    "method_statistics",
    "object_scores",
    "paired_difference",
    "session_means",
    "session_table",
]

BOOTSTRAP_DEFAULTS: dict[str, Any] = {"n_boot": 10000, "seed": 0, "level": 0.95}
SCORE_COLUMNS = {"J": "jaccard", "F": "contour", "J_AND_F": "j_and_f"}


def _check(n_boot: int, level: float) -> None:
    if n_boot < 1:
        raise ConfigError(f"bootstrap samples must be >= 1, found {n_boot}")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"confidence level must be in (0, 1), found {level}")


def _resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n) int64`` session indices drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _percentiles(stats: np.ndarray, level: float) -> tuple[float, float]:
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [a, 1.0 - a], method="linear")
    return float(lo), float(hi)


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    n_boot: int = BOOTSTRAP_DEFAULTS["n_boot"],
    seed: int = BOOTSTRAP_DEFAULTS["seed"],
    level: float = BOOTSTRAP_DEFAULTS["level"],
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` ``(n,)``."""
    v = np.asarray(values, dtype=np.float64)
    return bootstrap_ratio_ci(v, np.ones_like(v), n_boot=n_boot, seed=seed, level=level)


def bootstrap_ratio_ci(
    sums: Sequence[float] | np.ndarray,
    counts: Sequence[float] | np.ndarray,
    *,
    n_boot: int = BOOTSTRAP_DEFAULTS["n_boot"],
    seed: int = BOOTSTRAP_DEFAULTS["seed"],
    level: float = BOOTSTRAP_DEFAULTS["level"],
) -> tuple[float, float]:
    """Cluster bootstrap interval of ``sum(sums) / sum(counts)``: clusters (sessions) are
    resampled whole. ``sums``, ``counts``: ``(n,)`` per cluster (e.g. the sum of its
    objects' scores and its number of objects)."""
    _check(n_boot, level)
    s = np.asarray(sums, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    if s.shape != c.shape or s.ndim != 1:
        raise DataError(f"bootstrap: sums {s.shape} and counts {c.shape} must be equal 1-D")
    if len(s) == 0:
        raise DataError("bootstrap: no session")
    idx = _resample_indices(len(s), n_boot, seed)
    stats = s[idx].sum(axis=1) / c[idx].sum(axis=1)
    return _percentiles(stats, level)


def object_scores(
    report: pd.DataFrame, samples: Sequence[tuple[str, int, int]], max_interactions: int
) -> pd.DataFrame:
    """Per (interaction, sequence, scribble_idx, object_id): mean J, F and J&F over frames
    (a DataFrame with those four index levels and columns jaccard, contour, j_and_f),
    missing interactions filled as in the official summary."""
    return reconstruct_scores(report, samples, max_interactions)[list(SCORE_COLUMNS.values())]


def session_table(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``(n_sessions, n_interactions)`` sums over objects of ``metric`` per session and
    interaction, plus a column ``n_objects``; rows indexed by (sequence, scribble_idx)."""
    col = SCORE_COLUMNS[metric]
    sums = scores[col].groupby(level=["sequence", "scribble_idx", "interaction"]).sum()
    table = sums.unstack("interaction").sort_index()
    counts = scores[col].groupby(level=["sequence", "scribble_idx", "interaction"]).size()
    table["n_objects"] = counts.unstack("interaction").iloc[:, 0].reindex(table.index)
    return table


def method_statistics(
    scores: pd.DataFrame, metric: str, **bootstrap: Any
) -> dict[str, Any]:
    """Mean ``metric`` after each interaction and over interactions (object-weighted), with
    cluster-bootstrap intervals over sessions: ``{"per_interaction": [...],
    "per_interaction_ci": [[lo, hi], ...], "mean": m, "mean_ci": [lo, hi],
    "sessions": n}``."""
    table = session_table(scores, metric)
    n_obj = table.pop("n_objects").to_numpy(np.float64)
    values = table.to_numpy(np.float64)  # (sessions, interactions) sums over objects
    per_it = [float(values[:, i].sum() / n_obj.sum()) for i in range(values.shape[1])]
    per_it_ci = [list(bootstrap_ratio_ci(values[:, i], n_obj, **bootstrap))
                 for i in range(values.shape[1])]
    over = values.mean(axis=1)  # each session's object-sum averaged over interactions
    return {
        "per_interaction": per_it,
        "per_interaction_ci": per_it_ci,
        "mean": float(over.sum() / n_obj.sum()),
        "mean_ci": list(bootstrap_ratio_ci(over, n_obj, **bootstrap)),
        "sessions": int(len(n_obj)),
    }


def session_means(scores: pd.DataFrame, metric: str) -> pd.Series:
    """Each session's ``metric`` averaged over its objects and over interactions."""
    table = session_table(scores, metric)
    n_obj = table.pop("n_objects")
    return table.mean(axis=1) / n_obj


def paired_difference(
    a: pd.Series, b: pd.Series, **bootstrap: Any
) -> dict[str, Any]:
    """Paired difference ``a - b`` of per-session scores (Series indexed by (sequence,
    scribble_idx)): ``{"mean", "ci": [lo, hi], "sessions", "a_better", "b_better"}``.
    Both must cover the same sessions."""
    if set(a.index) != set(b.index):
        only = sorted(set(a.index) ^ set(b.index))[:5]
        raise DataError(f"paired difference: the methods ran different sessions (e.g. {only})")
    d = (a - b.reindex(a.index)).sort_index()
    lo, hi = bootstrap_mean_ci(d.to_numpy(np.float64), **bootstrap)
    return {
        "mean": float(d.mean()),
        "ci": [lo, hi],
        "sessions": int(len(d)),
        "a_better": int((d > 0).sum()),
        "b_better": int((d < 0).sum()),
    }
