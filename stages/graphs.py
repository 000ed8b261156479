"""DVC stage ``graphs``: spatial and flow edges with constant edge features of every video
into ``data/graphs.zarr`` (nodes, labels and node features stay in the superpixels and
features stores; :func:`gnnannot.io.graph_store.open_graph` joins them). Per-video
incremental (``persist: true`` out)."""

from __future__ import annotations

from typing import Any

from gnnannot.graph import build_graph_store
from gnnannot.io.graph_store import dataset_sequences
from stages.common import choice, param, stage_executor, stage_main

STORE = "data/graphs.zarr"
SP_STORE = "data/superpixels.zarr"
FT_STORE = "data/features.zarr"
FLOW_STORE = "data/flow.zarr"


def run(params: dict[str, Any], quiet: bool) -> None:
    build_graph_store(
        store=STORE,
        sp_store=SP_STORE,
        ft_store=FT_STORE,
        flow_store=FLOW_STORE,
        sequences=dataset_sequences(param(params, "data.root", str)),
        min_flow_weight=param(params, "graphs.min_flow_weight", float, 0.05),
        dtype=choice(params, "graphs.dtype", ("float16", "float32")),
        workers=param(params, "graphs.workers", int, 2),
        quiet=quiet,
        executor=stage_executor(params, "graphs"),
    )


if __name__ == "__main__":
    stage_main(__doc__ or "", run)
