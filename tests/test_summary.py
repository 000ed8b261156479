"""The benchmark summary (AUC, metric at the time threshold, curve) of a hand-made report,
against values computed by hand from the module's definition (not only against the
official package, which tests/test_ivos_official.py compares when installed)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gnnannot.errors import ConfigError, DataError
from gnnannot.ivos import REPORT_COLUMNS
from gnnannot.ivos.summary import (
    curve_rows,
    interaction_rows,
    reconstruct_scores,
    samples_from_report,
    summarize_report,
    write_plot_data,
)


def _report() -> pd.DataFrame:
    """Sample a/1: one object, two frames, interactions 1 and 2. Sample b/1: objects 1
    and 2, one frame, interaction 1 only (interaction 2 timed out)."""
    rows = []
    # (seq, interaction, object, frame, J, F, timing)
    for seq, it, obj, frame, j, f, tm in [
        ("a", 1, 1, 0, 0.4, 0.2, 2.0), ("a", 1, 1, 1, 0.6, 0.4, 2.0),
        ("a", 2, 1, 0, 0.8, 0.6, 4.0), ("a", 2, 1, 1, 0.8, 0.6, 4.0),
        ("b", 1, 1, 0, 0.2, 0.1, 6.0), ("b", 1, 2, 0, 0.6, 0.3, 6.0),
    ]:  # fmt: skip
        rows.append({"session_id": "s", "sequence": seq, "scribble_idx": 1,
                     "interaction": it, "object_id": obj, "frame": frame, "jaccard": j,
                     "contour": f, "j_and_f": (j + f) / 2, "timing": tm})  # fmt: skip
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def test_samples_and_reconstruction_by_hand() -> None:
    rep = _report()
    assert samples_from_report(rep) == [("a", 1, 1), ("b", 1, 2)]
    assert samples_from_report(rep.iloc[:0]) == []
    rec = reconstruct_scores(rep, max_interactions=2)
    want_j = {(1, "a", 1, 1): 0.5, (1, "b", 1, 1): 0.2, (1, "b", 1, 2): 0.6,
              (2, "a", 1, 1): 0.8, (2, "b", 1, 1): 0.2, (2, "b", 1, 2): 0.6}  # fmt: skip
    want_t = {(1, "a", 1, 1): 2.0, (1, "b", 1, 1): 6.0, (1, "b", 1, 2): 6.0,
              (2, "a", 1, 1): 4.0, (2, "b", 1, 1): 0.0, (2, "b", 1, 2): 0.0}  # fmt: skip
    assert sorted(rec.index.tolist()) == sorted(want_j)
    for key, j in want_j.items():
        assert rec.loc[key, "jaccard"] == pytest.approx(j)
        assert rec.loc[key, "timing"] == pytest.approx(want_t[key])
    assert rec.loc[(2, "b", 1, 2), "contour"] == pytest.approx(0.3)
    assert rec.loc[(1, "a", 1, 1), "j_and_f"] == pytest.approx(0.4)
    # a sample that never answered: zeros at every interaction; default max = 8
    rec = reconstruct_scores(rep, samples=[("c", 2, 1)], max_interactions=None)
    assert rec.index.tolist() == [(1, "c", 2, 1), (2, "c", 2, 1)]
    assert (rec.to_numpy() == 0).all()
    assert len(reconstruct_scores(rep)) == 8 * 3


def test_summary_by_hand() -> None:
    s = summarize_report(_report(), max_time=10.0, max_interactions=2, time_threshold=5.0)
    # mean J over the 3 objects after interactions 1, 2: 1.3 / 3, 1.6 / 3; per-sample
    # mean times (2 + 6) / 2 = 4 then (4 + 0) / 2 = 2, cumulative 4, 6; timeout = mean
    # objects per sequence (1.5) x 10 s
    j = [0.0, 1.3 / 3, 1.6 / 3, 1.6 / 3]
    t = [0.0, 4.0, 6.0, 15.0]
    np.testing.assert_allclose(s["curve"]["J"], j)
    np.testing.assert_allclose(s["curve"]["time"], t)
    auc = ((0 + j[1]) / 2 * 4 + (j[1] + j[2]) / 2 * 2 + j[2] * 9) / 15
    assert s["auc"] == pytest.approx(auc) == pytest.approx(0.44222222)
    assert s["metric_at_threshold"] == {"threshold": 5.0, "J": pytest.approx(j[1] + 0.05)}
    assert list(s) == ["auc", "metric_at_threshold", "curve"]
    # F and J&F pick their own columns
    f = summarize_report(_report(), metric="F", max_time=10.0, max_interactions=2)
    np.testing.assert_allclose(f["curve"]["F"], [0.0, 0.7 / 3, 1.0 / 3, 1.0 / 3])
    jf = summarize_report(_report(), metric="J_AND_F", max_time=10.0, max_interactions=2)
    np.testing.assert_allclose(jf["curve"]["J_AND_F"], [0.0, 1.0 / 3, 1.3 / 3, 1.3 / 3])
    # the default threshold is 60 s, beyond this curve's timeout: the last score
    assert summarize_report(_report(), max_time=10.0, max_interactions=2)[
        "metric_at_threshold"] == {"threshold": 60.0, "J": pytest.approx(1.6 / 3)}


def test_summary_timeout_without_max_time_and_missing_samples() -> None:
    # no max_time: timeout = interactions (2) x the largest interaction time (6 s)
    s = summarize_report(_report(), max_time=None, max_interactions=2)
    assert s["curve"]["time"] == pytest.approx([0.0, 4.0, 6.0, 12.0])
    # max_interactions None: the report's largest interaction (2) too
    assert summarize_report(_report(), max_time=None, max_interactions=None) == s
    # a third sample that never answered counts as zeros and zero time
    s = summarize_report(_report(), max_time=10.0, max_interactions=2,
                         samples=[("a", 1, 1), ("b", 1, 2), ("c", 1, 1)])  # fmt: skip
    np.testing.assert_allclose(s["curve"]["J"], [0.0, 1.3 / 4, 1.6 / 4, 1.6 / 4])
    # per-sample times: (2 + 6 + 0) / 3, then (4 + 0 + 0) / 3; timeout 4/3 x 10
    np.testing.assert_allclose(s["curve"]["time"], [0.0, 8 / 3, 4.0, 40 / 3])
    # all times zero: AUC 0 (no division by zero)
    zero = _report().assign(timing=0.0)
    assert summarize_report(zero, max_time=None, max_interactions=2)["auc"] == 0.0


def test_summary_errors() -> None:
    with pytest.raises(ConfigError, match=r"metric must be one of .*found 'IoU'"):
        summarize_report(_report(), metric="IoU")
    with pytest.raises(DataError, match=r"missing columns \['contour', 'timing'\]"):
        summarize_report(_report().drop(columns=["timing", "contour"]))
    with pytest.raises(DataError, match="missing columns"):
        reconstruct_scores(_report().drop(columns=["jaccard"]))
    with pytest.raises(DataError, match="no sample"):
        summarize_report(_report().iloc[:0])


def test_interaction_rows_and_plot_files(tmp_path) -> None:
    rep = _report()
    rows = interaction_rows(rep)
    assert [r["interaction"] for r in rows] == [1, 2]  # only interactions present
    assert rows[0]["J"] == pytest.approx(1.3 / 3) and rows[0]["F"] == pytest.approx(0.7 / 3)
    assert rows[0]["J_AND_F"] == pytest.approx(1.0 / 3) and rows[0]["time"] == 4.0
    # interaction 2 only of sample a: J 0.8, cumulative time 4 + 4
    assert rows[1] == {"interaction": 2, "J": pytest.approx(0.8), "F": pytest.approx(0.6),
                       "J_AND_F": pytest.approx(0.7), "time": 8.0}  # fmt: skip
    assert interaction_rows(rep.iloc[:0]) == []
    s = summarize_report(rep, max_time=10.0, max_interactions=2, time_threshold=5.0)
    assert curve_rows(s) == [{"time": t, "J": v} for t, v in
                             zip(s["curve"]["time"], s["curve"]["J"], strict=True)]
    paths = write_plot_data(tmp_path / "plots", rep, s)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "curve.csv", "per_interaction.csv", "summary.json"]
    curve = pd.read_csv(paths["curve"])
    assert list(curve.columns) == ["time", "J"] and len(curve) == 4
    np.testing.assert_allclose(curve["J"], s["curve"]["J"])
    per = pd.read_csv(paths["per_interaction"])
    assert list(per.columns) == ["interaction", "J", "F", "J_AND_F", "time"]
    assert per["time"].tolist() == [4.0, 8.0]
    assert json.loads(paths["summary"].read_text())["auc"] == pytest.approx(s["auc"])
    empty = write_plot_data(tmp_path / "empty", rep.iloc[:0], s)
    assert list(pd.read_csv(empty["per_interaction"]).columns) == [
        "interaction", "J", "F", "J_AND_F", "time"]


def test_curve_rows_refuse_a_ragged_curve() -> None:
    with pytest.raises(ValueError):
        curve_rows({"curve": {"time": [0.0, 1.0], "J": [0.0]}})
