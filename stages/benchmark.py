"""DVC stage ``benchmark``: the DAVIS interactive protocol on the evaluation split for
every configured method on the graphs ``--graphs`` of the dataset ``--root`` (the GNN with
the checkpoint ``--model``); writes ``summary.json`` and plot data into ``--out``. The
whole ``benchmark`` section of params.yaml is one
:class:`gnnannot.methods.benchmark_config.BenchmarkConfig`."""

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
from typing import Any

from gnnannot.config import from_section
from gnnannot.methods.benchmark_config import BenchmarkConfig, run_configured_benchmark
from stages.common import section, stage_main

PATHS = {"root": "dataset (DAVIS layout)", "graphs": "graphs store",
         "model": "GNN checkpoint", "out": "metrics folder"}


def run(params: dict[str, Any], args: argparse.Namespace) -> None:
    cfg = from_section(BenchmarkConfig, section(params, "benchmark"), "params.yaml: benchmark")
    run_configured_benchmark(cfg, root=args.root, graphs=args.graphs, checkpoint=args.model,
                             out=args.out, quiet=args.quiet)


if __name__ == "__main__":
    stage_main(__doc__ or "", run, PATHS)
