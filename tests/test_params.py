"""params.yaml keeps settings that must agree with each other in agreement."""

from pathlib import Path

import pytest
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


def _section_configs():
    from gnnannot.pipeline.features import FeatureConfig
    from gnnannot.pipeline.flow import FlowConfig
    from gnnannot.pipeline.graphs import GraphConfig
    from gnnannot.pipeline.superpixels import SuperpixelStageConfig
    from gnnannot.training.train import TrainConfig

    return {"flow": FlowConfig, "superpixels": SuperpixelStageConfig,
            "features": FeatureConfig, "graphs": GraphConfig, "train": TrainConfig}


@pytest.mark.parametrize("name", ["flow", "superpixels", "features", "graphs", "train"])
def test_params_yaml_holds_the_config_defaults(name):
    """One set of defaults: each stage section of params.yaml equals its config
    dataclass's defaults, key for key (a default changed in one place only fails here)."""
    from gnnannot.config import as_section, from_section

    cls = _section_configs()[name]
    section = yaml.safe_load((ROOT / "params.yaml").read_text())[name]
    assert section == as_section(cls())
    assert from_section(cls, section, f"params.yaml: {name}") == cls()


def test_config_from_section_names_bad_keys_and_types():
    from gnnannot.config import from_section
    from gnnannot.errors import ConfigError
    from gnnannot.pipeline.graphs import GraphConfig

    with pytest.raises(ConfigError, match=r"graphs: unknown key\(s\) \['workers'\]"):
        from_section(GraphConfig, {"workers": 2}, "params.yaml: graphs")
    with pytest.raises(ConfigError, match="graphs.min_flow_weight must be float"):
        from_section(GraphConfig, {"min_flow_weight": "x"}, "params.yaml: graphs")
    with pytest.raises(ConfigError, match="graphs.executor.workers must be an int"):
        from_section(GraphConfig, {"executor": {"workers": 0}}, "params.yaml: graphs")
    cfg = from_section(GraphConfig, {"executor": {"kind": "dask", "address": "tcp://h:1"}},
                       "params.yaml: graphs")
    assert (cfg.executor.kind, cfg.executor.workers, cfg.executor.options) == (
        "dask", 2, {"address": "tcp://h:1"})
