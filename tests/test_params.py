"""params.yaml keeps settings that must agree with each other in agreement."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_gnn_prior_is_the_benchmarked_random_walker():
    """The GNN learns a residual on its random-walker input; that input must be the random
    walker the benchmark compares it with, or a gain over it means nothing."""
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    baseline = p["benchmark"]["options"]["random_walker"]
    assert p["train"]["rw_beta"] == baseline["beta"]
    for key, value in p["train"]["rw"].items():
        assert baseline[key] == value, f"train.rw.{key} != benchmark.options.random_walker"
    assert baseline.get("frame_threshold", 0.0) == 0.0  # the GNN input decides by argmax
