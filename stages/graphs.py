"""DVC stage ``graphs``: spatial and flow edges with constant edge features of every video
of the train and val splits (``--root``) into the graphs store (``--out``; nodes, labels
and node features stay in the superpixels and features stores, which
:func:`gnnannot.store.graphs.open_graph` joins). Per-video incremental (``persist: true``
out)."""

from __future__ import annotations

import argparse
from typing import Any

from gnnannot.config import from_section
from gnnannot.pipeline.graphs import GraphConfig, build_graph_store
from gnnannot.pipeline.runner import dataset_sequences
from stages.common import section, stage_main

PATHS = {"root": "dataset (DAVIS layout: its split lists)", "flow": "flow store",
         "superpixels": "superpixels store", "features": "features store",
         "out": "graphs store (zarr)"}


def run(params: dict[str, Any], args: argparse.Namespace) -> None:
    cfg = from_section(GraphConfig, section(params, "graphs"), "params.yaml: graphs")
    build_graph_store(args.out, args.superpixels, args.features, args.flow,
                      dataset_sequences(args.root), cfg, executor=cfg.executor.make(),
                      quiet=args.quiet)  # fmt: skip


if __name__ == "__main__":
    stage_main(__doc__ or "", run, PATHS)
