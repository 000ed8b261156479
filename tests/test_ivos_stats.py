"""Bootstrap intervals, per-session statistics and paired differences: against a
brute-force bootstrap loop, exact enumeration and hand-computed values."""

import itertools

import numpy as np
import pandas as pd
import pytest

from gnnannot.errors import DataError
from gnnannot.ivos import REPORT_COLUMNS
from gnnannot.ivos.stats import (
    bootstrap_mean_ci,
    bootstrap_ratio_ci,
    method_statistics,
    object_scores,
    paired_difference,
    session_means,
)


def _brute_force_ci(values, n_boot, seed, level=0.95):
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(n_boot):  # one resample at a time, the textbook loop
        pick = rng.integers(0, len(values), size=len(values))
        means.append(sum(values[i] for i in pick) / len(values))
    a = (1 - level) / 2
    return tuple(np.quantile(means, [a, 1 - a]))


def test_bootstrap_matches_brute_force_loop_and_is_seeded():
    v = [0.3, 0.9, 0.5, 0.75, 0.1, 0.62, 0.48]
    got = bootstrap_mean_ci(v, n_boot=500, seed=3)
    assert got == pytest.approx(_brute_force_ci(v, 500, 3), abs=1e-12)
    assert bootstrap_mean_ci(v, n_boot=500, seed=3) == got  # deterministic
    assert bootstrap_mean_ci(v, n_boot=500, seed=4) != got


def test_bootstrap_close_to_exact_distribution():
    v = np.array([0.0, 0.2, 0.3, 1.0])
    # all 4^4 equally likely resamples: the exact bootstrap distribution of the mean
    exact = np.array([v[list(c)].mean() for c in itertools.product(range(4), repeat=4)])
    lo, hi = np.quantile(exact, [0.025, 0.975])
    got = bootstrap_mean_ci(v, n_boot=40000, seed=0)
    assert got[0] == pytest.approx(lo, abs=0.03) and got[1] == pytest.approx(hi, abs=0.03)


def test_constant_values_give_a_point_interval():
    assert bootstrap_mean_ci([0.25] * 5, n_boot=100) == (0.25, 0.25)
    # ratio: sessions with 1 and 3 objects scoring 0.5 each -> exactly 0.5
    assert bootstrap_ratio_ci([0.5, 1.5], [1, 3], n_boot=100) == (0.5, 0.5)


def _report(rows):
    """rows: (sequence, scribble_idx, interaction, object_id, frame, jaccard)."""
    df = pd.DataFrame(rows, columns=["sequence", "scribble_idx", "interaction", "object_id",
                                     "frame", "jaccard"])
    df["contour"] = df["jaccard"] / 2
    df["j_and_f"] = 0.5 * df["jaccard"] + 0.5 * df["contour"]
    df["timing"] = 1.0
    df["session_id"] = "m"
    return df[REPORT_COLUMNS]


# session (a, 1): one object; (a, 2): the same object; (b, 1): two objects
_SAMPLES = [("a", 1, 1), ("a", 2, 1), ("b", 1, 2)]


def _method_a():
    return _report([
        ("a", 1, 1, 1, 0, 0.2), ("a", 1, 1, 1, 1, 0.4), ("a", 1, 2, 1, 0, 0.6),
        ("a", 1, 2, 1, 1, 0.6),
        ("a", 2, 1, 1, 0, 0.5), ("a", 2, 1, 1, 1, 0.5),  # interaction 2 missing: repeats
        ("b", 1, 1, 1, 0, 1.0), ("b", 1, 1, 2, 0, 0.0), ("b", 1, 2, 1, 0, 1.0),
        ("b", 1, 2, 2, 0, 0.4),
    ])


def test_method_statistics_hand_computed():
    scores = object_scores(_method_a(), _SAMPLES, 2)
    st = method_statistics(scores, "J", n_boot=200, seed=0)
    # interaction 1 objects: 0.3, 0.5, 1.0, 0.0 -> 1.8 / 4; interaction 2: 0.6, 0.5, 1.0, 0.4
    assert st["per_interaction"] == pytest.approx([1.8 / 4, 2.5 / 4])
    assert st["mean"] == pytest.approx((1.8 + 2.5) / 8)
    assert st["sessions"] == 3
    for (lo, hi), m in zip(st["per_interaction_ci"], st["per_interaction"], strict=True):
        assert lo <= m <= hi
    assert st["mean_ci"][0] <= st["mean"] <= st["mean_ci"][1]
    f = method_statistics(scores, "J_AND_F", n_boot=10)
    assert f["per_interaction"] == pytest.approx([0.75 * 1.8 / 4, 0.75 * 2.5 / 4])


def test_paired_difference_hand_computed():
    a = session_means(object_scores(_method_a(), _SAMPLES, 2), "J")
    # session means over objects and interactions: (0.3+0.6)/2, 0.5, ((0.5)+(0.7))/2
    assert a.to_dict() == pytest.approx({("a", 1): 0.45, ("a", 2): 0.5, ("b", 1): 0.6})
    b = a.copy()
    b[:] = [0.40, 0.6, 0.5]
    d = paired_difference(a, b, n_boot=1000, seed=1)
    assert d["mean"] == pytest.approx((0.05 - 0.1 + 0.1) / 3)
    assert d["sessions"] == 3 and d["a_better"] == 2 and d["b_better"] == 1
    assert d["ci"] == pytest.approx(
        _brute_force_ci([0.05, -0.1, 0.1], 1000, 1), abs=1e-12)
    with pytest.raises(DataError, match="different sessions"):
        paired_difference(a, b.iloc[:2])
