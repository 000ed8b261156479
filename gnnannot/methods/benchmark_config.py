"""The benchmark stage's configuration (the ``benchmark`` section of params.yaml) as one
dataclass, and the run it describes: every configured registered method, with its options
and the pixel refinement, through the DAVIS interactive protocol
(:func:`gnnannot.ivos.compare.compare_methods`).

Defaults, one place each:

* :class:`BenchmarkConfig`'s field defaults are the stage's defaults; ``params.yaml``
  holds the same values (``tests/test_params.py`` checks it, like every stage section);
  the nested ``robot`` and ``bootstrap`` sections default to the protocol's own constants
  (:data:`gnnannot.ivos.robot.ROBOT_DEFAULTS`, :data:`gnnannot.ivos.stats.BOOTSTRAP_DEFAULTS`),
  ``refine`` to :class:`gnnannot.methods.refine.RefineParams`.
* A method's options default to its class's keyword defaults (the library's: what
  ``gnnannot segment`` / ``annotate`` use; :func:`gnnannot.methods.registry.method_options`).
  ``benchmark.options.<method>`` names the options the benchmark sets; every name must be
  a real option of the method (checked when the config is built). Where the benchmark's
  value differs from the library's, :data:`BENCHMARK_OPTION_CHOICES` says so and why
  (``tests/test_params.py`` fails on an undocumented difference).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gnnannot.data import davis
from gnnannot.errors import ConfigError
from gnnannot.ivos.compare import compare_methods
from gnnannot.ivos.robot import METRICS, ROBOT_DEFAULTS
from gnnannot.ivos.stats import BOOTSTRAP_DEFAULTS
from gnnannot.methods.refine import RefineParams, with_refinement
from gnnannot.methods.registry import METHODS, make_method, method_options, method_roles

__all__ = ["BENCHMARK_OPTION_CHOICES", "BenchmarkConfig", "BootstrapConfig", "RobotConfig",
           "refined_method", "run_configured_benchmark"]

#: The benchmark's option values that differ from the methods' library defaults, with the
#: reason (the measurement). ``{method: {option: value}}``.
BENCHMARK_OPTION_CHOICES: dict[str, dict[str, Any]] = {
    # library default 10, for real footage; the synthetic val prefers 4 (J over 2
    # interactions 0.843 vs 0.807); the GNN's random-walker input uses the same (train.rw_beta)
    "random_walker": {"beta": 4.0},
}


@dataclass(frozen=True)
class RobotConfig:
    """``benchmark.robot``: the scribble robot's settings (DAVIS's defaults)."""

    kernel_size: float = float(ROBOT_DEFAULTS["kernel_size"])
    max_kernel_radius: float = float(ROBOT_DEFAULTS["max_kernel_radius"])
    min_nb_nodes: int = int(ROBOT_DEFAULTS["min_nb_nodes"])
    nb_points: int = int(ROBOT_DEFAULTS["nb_points"])


@dataclass(frozen=True)
class BootstrapConfig:
    """``benchmark.bootstrap``: the 95% intervals over sessions (seeded)."""

    n_boot: int = int(BOOTSTRAP_DEFAULTS["n_boot"])
    seed: int = int(BOOTSTRAP_DEFAULTS["seed"])
    level: float = float(BOOTSTRAP_DEFAULTS["level"])


def _default_options() -> dict[str, dict[str, Any]]:
    # the random walker's are stated in full: the GNN's random-walker input (train.rw)
    # must be this very baseline (tests/test_params.py)
    return {
        "nearest_seed": {"hop_cost": 1.0},
        "random_walker": {"beta": 4.0, "flow_scale": 50.0, "flow_overlap": True,
                          "frame_threshold": 0.0, "prior_weight": 0.005,
                          "soft_seed_weight": 1.0, "appearance_weight": 0.0,
                          "background_weight": 0.0},
    }  # fmt: skip


@dataclass(frozen=True)
class BenchmarkConfig:
    """The ``benchmark`` section: which split and registered ``methods`` (in this order;
    pairs are later - earlier), the protocol (``metric`` the robot optimises,
    ``max_interactions``, ``max_time`` s per object, ``interaction_limit`` s per object per
    interaction, ``time_threshold`` s for the metric at a time), ``workers`` parallel
    session processes, the ``bootstrap`` and ``robot`` settings, the pixel ``refine``ment
    of every method's masks and each method's ``options``."""

    split: str = "val"
    methods: tuple[str, ...] = METHODS
    metric: str = "J"
    max_interactions: int = 8
    max_time: float = 240.0
    interaction_limit: float = 30.0
    time_threshold: float = 60.0
    workers: int = 2
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    robot: RobotConfig = field(default_factory=RobotConfig)
    refine: RefineParams = field(default_factory=RefineParams)
    options: dict[str, dict[str, Any]] = field(default_factory=_default_options)

    def __post_init__(self) -> None:
        for n in self.methods:
            if n not in METHODS:
                raise ConfigError(f"benchmark.methods: {n!r} is not a registered method; "
                                  f"expected some of {list(METHODS)}")
        if self.metric not in METRICS:
            raise ConfigError(f"benchmark.metric must be one of {list(METRICS)}, found "
                              f"{self.metric!r}")
        if self.workers < 1 or self.max_interactions < 1:
            raise ConfigError(f"benchmark.workers and max_interactions must be >= 1, found "
                              f"{self.workers} and {self.max_interactions}")
        for name, opts in self.options.items():
            if name not in METHODS:
                raise ConfigError(f"benchmark.options.{name}: not a registered method; "
                                  f"expected some of {list(METHODS)}")
            if not isinstance(opts, dict):
                raise ConfigError(f"benchmark.options.{name} must be a mapping, found "
                                  f"{opts!r}")
            known = method_options(name)
            bad = sorted(set(opts) - set(known))
            if bad:
                raise ConfigError(f"benchmark.options.{name}: unknown option(s) {bad}; "
                                  f"{name} takes {sorted(known)}")

    def protocol_kwargs(self) -> dict[str, Any]:
        """The protocol's keyword arguments of :func:`gnnannot.ivos.benchmark.run_benchmark`."""
        return {"workers": self.workers, "metric": self.metric,
                "max_interactions": self.max_interactions, "max_time": self.max_time,
                "interaction_limit": self.interaction_limit,
                "time_threshold": self.time_threshold,
                "kernel_size": self.robot.kernel_size,
                "max_kernel_radius": self.robot.max_kernel_radius,
                "min_nb_nodes": self.robot.min_nb_nodes, "nb_points": self.robot.nb_points}


def refined_method(name: str, refine: Any, **kwargs: Any) -> Any:
    """Method ``name`` (registry arguments ``kwargs``) with pixel refinement ``refine``."""
    return with_refinement(make_method(name, **kwargs), refine)


def run_configured_benchmark(
    config: BenchmarkConfig,
    *,
    root: str | os.PathLike[str],
    graphs: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    quiet: bool = False,
) -> dict[str, Any]:
    """Benchmark ``config.methods`` on the ``config.split`` of the dataset ``root`` with
    the graphs store ``graphs`` (and the GNN ``checkpoint``); writes ``summary.json`` and
    the plot data into ``out``; returns the combined summary."""
    factories = {  # picklable: the sessions run in worker processes
        n: functools.partial(refined_method, n, config.refine, graph_store=graphs,
                             dataset_root=root, checkpoint=checkpoint,
                             options=dict(config.options.get(n, {})))
        for n in config.methods
    }  # fmt: skip
    return compare_methods(
        root, davis.read_split(root, config.split), factories, Path(out), quiet=quiet,
        bootstrap={"n_boot": config.bootstrap.n_boot, "seed": config.bootstrap.seed,
                   "level": config.bootstrap.level},
        roles=method_roles(config.methods), **config.protocol_kwargs())
