"""DVC stage ``benchmark``: the DAVIS interactive protocol on the evaluation split for
every configured method on the graphs ``--graphs`` of the dataset ``--root`` (the GNN with
the checkpoint ``--model``); writes ``summary.json`` and plot data into ``--out``."""

from __future__ import annotations

import os

# numpy/scipy's OpenBLAS single-threaded (unless the environment says otherwise), set
# before numpy's first import: the random walker's conjugate gradients make thousands of
# products of N ~ 1e4 vectors, where a multi-threaded BLAS only synchronises. On the
# loaded 2-core machine a dot of 14k doubles took 3.4 ms with the default 2 threads vs
# 0.025 ms with one; a 3-interaction training session 312 s vs 6.3 s (cProfile).
# Worker processes inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import functools
from pathlib import Path
from typing import Any

from gnnannot.data import davis
from gnnannot.errors import ConfigError
from gnnannot.ivos.compare import compare_methods
from gnnannot.ivos.stats import BOOTSTRAP_DEFAULTS
from gnnannot.methods.refine import refine_params, with_refinement
from gnnannot.methods.registry import METHODS, make_method
from stages.common import choice, param, stage_main

PATHS = {"root": "dataset (DAVIS layout)", "graphs": "graphs store",
         "model": "GNN checkpoint", "out": "metrics folder"}


def refined_method(name: str, refine: Any, **kwargs: Any) -> Any:
    """Method ``name`` (registry arguments ``kwargs``) with pixel refinement ``refine``."""
    return with_refinement(make_method(name, **kwargs), refine)


def run(params: dict[str, Any], args: argparse.Namespace) -> None:
    root, quiet = args.root, args.quiet
    split = param(params, "benchmark.split", str)
    names = param(params, "benchmark.methods", list)
    for n in names:
        if n not in METHODS:
            raise ConfigError(f"params.yaml: benchmark.methods has {n!r}, expected some of "
                              f"{METHODS}")
    robot = param(params, "benchmark.robot", dict)

    boot = param(params, "benchmark.bootstrap", dict, {}) or {}
    unknown = set(boot) - set(BOOTSTRAP_DEFAULTS)
    if unknown:
        raise ConfigError(f"params.yaml: benchmark.bootstrap has unknown keys {sorted(unknown)} "
                          f"(allowed {sorted(BOOTSTRAP_DEFAULTS)})")
    refine = refine_params(param(params, "benchmark.refine", dict, {}) or {},
                           "params.yaml: benchmark.refine")

    def factory(name: str) -> functools.partial:  # picklable: runs in worker processes
        return functools.partial(
            refined_method, name, refine, graph_store=args.graphs, dataset_root=root,
            checkpoint=args.model if name == "gnn" else None,
            options=param(params, f"benchmark.options.{name}", dict, {}) or {},
        )

    compare_methods(
        root,
        davis.read_split(root, split),
        {n: factory(n) for n in names},
        Path(args.out),
        quiet=quiet,
        bootstrap=boot,
        workers=param(params, "benchmark.workers", int, 1),
        metric=choice(params, "benchmark.metric", ("J", "J_AND_F")),
        max_interactions=param(params, "benchmark.max_interactions", int),
        max_time=param(params, "benchmark.max_time", float),
        interaction_limit=param(params, "benchmark.interaction_limit", float),
        time_threshold=param(params, "benchmark.time_threshold", float),
        kernel_size=float(robot.get("kernel_size", 0.2)),
        max_kernel_radius=float(robot.get("max_kernel_radius", 16)),
        min_nb_nodes=int(robot.get("min_nb_nodes", 4)),
        nb_points=int(robot.get("nb_points", 1000)),
    )


if __name__ == "__main__":
    stage_main(__doc__ or "", run, PATHS)
