"""compare_methods writes the official summary plus statistics, and `gnnannot compare`
recomputes the same statistics from the report CSVs."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gnnannot.cli import app
from gnnannot.data import davis
from gnnannot.ivos import ScribbleOnlyMethod, VideoData
from gnnannot.ivos.compare import compare_methods


class FullMasks(ScribbleOnlyMethod):
    """Predicts object 1 everywhere (a second, worse-or-better 'method')."""

    def start(self, video: VideoData) -> None:
        super().start(video)
        assert self.masks is not None
        self.masks[:] = 1

    def interact(self, scribble):
        return self.masks.copy()


def _dataset(root):
    rng = np.random.default_rng(0)
    for name in ("v1", "v2"):
        gt = np.zeros((3, 40, 60), np.uint8)
        gt[:, 5:30, 5:25] = 1
        gt[:, 10:35, 35:55] = 2
        frames = rng.integers(0, 255, size=(3, 40, 60, 3), dtype=np.uint8)
        davis.write_sequence(root, name, frames, gt)
        for idx in (1, 2):
            scribble = davis.empty_scribble(3, name)
            y = 0.3 if idx == 1 else 0.5
            scribble["scribbles"][1] = [
                {"path": [[0.1, y], [0.3, y]], "object_id": 1},
                {"path": [[0.7, y], [0.85, y]], "object_id": 2},
            ]
            davis.write_scribble(davis.scribbles_dir(root, name) / f"{idx:03d}.json", scribble)


def test_summary_statistics_and_compare_cli(tmp_path):
    root = tmp_path / "DAVIS"
    _dataset(root)
    out = tmp_path / "out"
    combined = compare_methods(
        root, ["v1", "v2"], {"scribbles": ScribbleOnlyMethod, "full": FullMasks}, out,
        quiet=True, max_interactions=2, bootstrap={"n_boot": 500, "seed": 0})
    s = json.loads((out / "summary.json").read_text())
    assert s == json.loads(json.dumps(combined))
    for name in ("scribbles", "full"):
        assert {"auc", "metric_at_threshold", "curve", "sessions", "J", "J_AND_F"} <= set(s[name])
        assert s[name]["sessions"] == 4
        # the official curve's values are the per-interaction means (object-weighted)
        assert s[name]["curve"]["J"][1:-1] == s[name]["J"]["per_interaction"]
    # FullMasks: object 1 is right only where gt is 1: J = |gt1| / (H W) per frame, and
    # object 2 gets 0; every session has the same numbers, so the interval is a point
    j1 = (25 * 20) / (40 * 60)
    full = s["full"]["J"]
    assert full["mean"] == full["per_interaction"][0] == j1 / 2
    assert full["mean_ci"] == [j1 / 2, j1 / 2]
    d = s["paired"]["J"]["full - scribbles"]
    rep = {n: pd.read_csv(out / "benchmark" / n / "report.csv") for n in ("scribbles", "full")}
    per_session = {n: r.groupby(["sequence", "scribble_idx", "interaction", "object_id"])
                   ["jaccard"].mean().groupby(["sequence", "scribble_idx"]).mean()
                   for n, r in rep.items()}
    diff = per_session["full"] - per_session["scribbles"]
    assert d["mean"] == pytest.approx(diff.mean(), abs=1e-12)
    assert d["sessions"] == 4 and d["ci"][0] <= d["mean"] <= d["ci"][1]
    paired_csv = pd.read_csv(out / "benchmark" / "paired.csv")
    assert len(paired_csv) == 2 * 4  # J and J_AND_F, 4 sessions
    ci = pd.read_csv(out / "benchmark" / "J_intervals.csv")
    assert list(ci.columns) == ["method", "interaction", "J", "low", "high"]
    assert len(ci) == 2 * 2 and (ci["low"] <= ci["J"]).all() and (ci["J"] <= ci["high"]).all()

    res = CliRunner().invoke(app, [
        "compare", str(out / "benchmark" / "scribbles" / "report.csv"),
        str(out / "benchmark" / "full" / "report.csv"), "--n-boot", "500",
        "--json", str(tmp_path / "cmp.json")])
    assert res.exit_code == 0, res.output
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    assert cmp["paired"]["J"]["full - scribbles"] == d
    assert cmp["full"]["J"] == s["full"]["J"]
    assert cmp["full"]["auc"] == pytest.approx(s["full"]["auc"], abs=1e-12)


def _summary(auc, final):
    return {"auc": auc, "curve": {"J": [0.0, final / 2, final]}}


def test_comparison_follows_roles_not_names():
    """The headline numbers come from the roles: any method name works, the best baseline
    is the one with the highest AUC, every candidate is measured against it and every
    bound; methods without a role (and non-method entries) are left out."""
    from gnnannot.ivos.compare import comparison

    summaries = {"slow": _summary(0.5, 0.6), "quick": _summary(0.7, 0.8),
                 "toy": _summary(0.75, 0.9), "mine": _summary(0.6, 0.3),
                 "truth": _summary(0.9, 1.2), "unranked": _summary(0.99, 1.0),
                 "paired": {"J": {}}}
    roles = {"slow": "baseline", "quick": "baseline", "toy": "candidate",
             "mine": "candidate", "truth": "bound"}
    out = comparison(summaries, roles)
    assert out == {
        "best_baseline": "quick", "best_baseline_auc": 0.7,
        "toy_auc_minus_best_baseline": pytest.approx(0.05),
        "mine_auc_minus_best_baseline": pytest.approx(-0.1),
        "toy_final_over_truth": pytest.approx(0.75), "mine_final_over_truth": pytest.approx(0.25),
    }
    assert comparison(summaries) == {}  # no roles: no headline
    assert comparison({"toy": _summary(0.5, 0.5)}, roles) == {}  # no baseline, no bound


def test_registry_roles_give_the_committed_comparison():
    """The benchmark stage's headline numbers, recomputed from the committed summary with
    the registry's roles, are the committed ones (the generic comparison changed no
    number or key)."""
    from pathlib import Path

    from gnnannot.ivos.compare import comparison
    from gnnannot.methods.registry import method_roles

    summary = json.loads((Path(__file__).resolve().parents[1] / "metrics" / "summary.json")
                         .read_text())
    names = [n for n in summary if n not in ("paired", "comparison")]
    assert comparison(summary, method_roles(names)) == summary["comparison"]
    assert method_roles(names) == {"nearest_seed": "baseline", "random_walker": "baseline",
                                   "oracle": "bound", "gnn": "candidate"}
