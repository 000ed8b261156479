"""Helpers of benchmarks/davis16_dev.py on hand-built reports."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "davis16_dev.py"
_spec = importlib.util.spec_from_file_location("davis16_dev", _PATH)
bench = importlib.util.module_from_spec(_spec)
assert _spec.loader is not None
_spec.loader.exec_module(bench)


def test_session_means_average_frames_then_objects() -> None:
    rows = []
    # session a: interaction 1, object 1 frames J 0.2, 0.4 (mean 0.3), object 2 J 0.9
    for obj, frame, j in ((1, 0, 0.2), (1, 1, 0.4), (2, 0, 0.9), (2, 1, 0.9)):
        rows.append(("a", 1, 1, obj, frame, j))
    rows.append(("b", 1, 1, 1, 0, 0.5))
    rows.append(("b", 1, 2, 1, 0, 0.7))
    df = pd.DataFrame(rows, columns=["sequence", "scribble_idx", "interaction", "object_id",
                                     "frame", "jaccard"])  # fmt: skip
    got = bench.session_means(df)
    assert np.isclose(got.loc[("a", 1), 1], 0.6)
    assert np.isclose(got.loc[("b", 1), 1], 0.5) and np.isclose(got.loc[("b", 1), 2], 0.7)


def test_bootstrap_interval_brackets_the_mean_and_collapses_for_constants() -> None:
    assert bench.bootstrap_mean_ci(np.full(7, 0.25)) == (0.25, 0.25)
    x = np.random.default_rng(0).normal(0.1, 0.05, 40)
    lo, hi = bench.bootstrap_mean_ci(x)
    assert lo < x.mean() < hi
    # normal approximation of the mean's 95% interval: within 30% of its half-width
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert abs((hi - lo) / 2 - half) < 0.3 * half


def test_ablation_variant_parsing() -> None:
    """``LABEL=METHOD:KEY=VALUE,...`` of benchmarks/davis16_ablation.py: YAML values, the
    refinement switch taken out of the options, bad items rejected."""
    import sys

    import pytest

    sys.path.insert(0, str(_PATH.parents[1]))
    from benchmarks.davis16_ablation import parse_variant
    from gnnannot.errors import ConfigError

    assert parse_variant("ref=random_walker") == ("ref", "random_walker", {}, False)
    assert parse_variant("r=random_walker:relay=true,relay_prior=0.1,refine=true") == (
        "r", "random_walker", {"relay": True, "relay_prior": 0.1}, True)
    for bad in ("random_walker", "x=random_walker:beta"):
        with pytest.raises(ConfigError):
            parse_variant(bad)


def _crossval():
    import sys

    sys.path.insert(0, str(_PATH.parents[1]))
    sys.path.insert(0, str(_PATH.parent))
    import davis16_crossval

    return davis16_crossval


def test_crossval_folds_cover_every_sequence_once() -> None:
    cv = _crossval()
    seqs = ["dog", "blackswan", "cows", "libby", "breakdance"]
    folds = cv.folds_of(seqs, 2)
    assert folds == [["blackswan", "cows", "libby"], ["breakdance", "dog"]]
    flat = [s for f in folds for s in f]
    assert sorted(flat) == sorted(seqs) and len(flat) == len(set(flat))


def test_crossval_train_config_feeds_the_real_footage_walker() -> None:
    """The GNN's walker input is the davis16_dev walker (its beta, its priors), without
    the walker's decision-only options; --set overrides nested train keys."""
    cv = _crossval()
    params = {
        "train": {"epochs": 3, "model": {"hidden": 16}},
        "benchmark": {"options": {"random_walker": {"beta": 4.0, "flow_scale": 50.0,
                                                    "prior_weight": 0.005}}},
        "davis16_dev": {"options": {"random_walker": {
            "beta": 10.0, "frame_threshold": 0.5, "appearance_weight": 0.003}}},
    }
    cfg = cv.train_config(params, ["epochs=7", "model.hidden=24"])
    assert cfg.rw_beta == 10.0
    assert cfg.rw == {"flow_scale": 50.0, "prior_weight": 0.005, "appearance_weight": 0.003}
    assert cfg.epochs == 7 and cfg.model["hidden"] == 24
