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
    from gnnannot.methods.benchmark_config import BenchmarkConfig
    from gnnannot.pipeline.features import FeatureConfig
    from gnnannot.pipeline.flow import FlowConfig
    from gnnannot.pipeline.graphs import GraphConfig
    from gnnannot.pipeline.superpixels import SuperpixelStageConfig
    from gnnannot.training.train import TrainConfig

    return {"flow": FlowConfig, "superpixels": SuperpixelStageConfig,
            "features": FeatureConfig, "graphs": GraphConfig, "train": TrainConfig,
            "benchmark": BenchmarkConfig}


@pytest.mark.parametrize("name", ["flow", "superpixels", "features", "graphs", "train",
                                  "benchmark"])
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


def _params():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_benchmark_protocol_defaults_are_the_protocols():
    """The benchmark section's protocol defaults are run_benchmark's own (one set), except
    ``workers``: the library runs sessions serially by default, the stage on 2 processes."""
    import dataclasses
    import inspect

    from gnnannot.ivos.benchmark import run_benchmark
    from gnnannot.methods.benchmark_config import BenchmarkConfig

    cfg = BenchmarkConfig()
    sig = inspect.signature(run_benchmark).parameters
    kwargs = cfg.protocol_kwargs()
    differ = {k: (sig[k].default, v) for k, v in kwargs.items() if sig[k].default != v}
    assert differ == {"workers": (1, 2)}
    assert {f.name for f in dataclasses.fields(cfg)} >= {"split", "methods", "options"}


def test_method_options_in_params_are_real_and_differences_documented():
    """Every option params.yaml gives a method (benchmark.options, davis16_dev.options) is
    a keyword option of that method's class. The class defaults are the library's (what
    `gnnannot segment` / `annotate` use); the benchmark's values that differ from them are
    exactly the documented BENCHMARK_OPTION_CHOICES (today: random_walker beta 4 vs 10).
    Listed here: every option of every registered method with its library default."""
    from gnnannot.methods.benchmark_config import BENCHMARK_OPTION_CHOICES
    from gnnannot.methods.registry import METHODS, method_options

    library = {m: method_options(m) for m in METHODS}
    assert library["random_walker"]["beta"] == 10.0
    assert library["nearest_seed"] == {"hop_cost": 1.0, "mixed_seeds": "soft",
                                       "paint_scribbles": True}
    assert library["oracle"] == {} and library["gnn"] == {}  # the GNN's come from its checkpoint
    p = _params()
    sources = {"benchmark.options": p["benchmark"]["options"],
               "davis16_dev.options": p["davis16_dev"]["options"]}
    for where, options in sources.items():
        for m, opts in options.items():
            assert m in library, f"params.yaml {where}.{m}: not a registered method"
            unknown = set(opts) - set(library[m])
            assert not unknown, f"params.yaml {where}.{m}: {sorted(unknown)} are not options"
    differ: dict[str, dict] = {}
    for m, opts in p["benchmark"]["options"].items():
        for k, v in opts.items():
            if v != library[m][k]:
                differ.setdefault(m, {})[k] = v
    assert differ == BENCHMARK_OPTION_CHOICES


def test_benchmark_config_names_bad_methods_and_options():
    from gnnannot.config import from_section
    from gnnannot.errors import ConfigError
    from gnnannot.methods.benchmark_config import BenchmarkConfig

    where = "params.yaml: benchmark"
    with pytest.raises(ConfigError, match=r"benchmark.methods: 'nope' is not a registered"):
        from_section(BenchmarkConfig, {"methods": ["random_walker", "nope"]}, where)
    with pytest.raises(ConfigError,
                       match=r"benchmark.options.random_walker: unknown option\(s\) \['bta'\]"):
        from_section(BenchmarkConfig, {"options": {"random_walker": {"bta": 4}}}, where)
    with pytest.raises(ConfigError, match=r"benchmark: unknown key\(s\) \['robots'\]"):
        from_section(BenchmarkConfig, {"robots": {}}, where)
    with pytest.raises(ConfigError, match=r"benchmark.robot.nb_points must be int"):
        from_section(BenchmarkConfig, {"robot": {"nb_points": "many"}}, where)
    with pytest.raises(ConfigError, match=r"benchmark.metric must be one of"):
        from_section(BenchmarkConfig, {"metric": "IoU"}, where)
    cfg = from_section(BenchmarkConfig, {"refine": {"enabled": False}, "workers": 1}, where)
    assert cfg.refine.enabled is False and cfg.refine.band == 8 and cfg.workers == 1
