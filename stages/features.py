"""DVC stage ``features``: per-superpixel constant node features and appearance
descriptors (colour/texture, or MobileNetV2 activations from a local weights file) of
every video into ``data/features.zarr``. Per-video incremental (``persist: true`` out)."""

from __future__ import annotations

from typing import Any

from gnnannot.features import build_feature_store
from stages.common import choice, param, stage_executor, stage_main

STORE = "data/features.zarr"
SP_STORE = "data/superpixels.zarr"
FLOW_STORE = "data/flow.zarr"


def run(params: dict[str, Any], quiet: bool) -> None:
    build_feature_store(
        root=param(params, "data.root", str),
        store=STORE,
        sp_store=SP_STORE,
        flow_store=FLOW_STORE,
        descriptor=choice(params, "features.descriptor", ("colour", "cnn")),
        cnn_weights=param(params, "features.cnn_weights", str, "") or None,
        cnn_layer=param(params, "features.cnn_layer", int, 14),
        dtype=choice(params, "features.dtype", ("float16", "float32")),
        workers=param(params, "features.workers", int, 2),
        quiet=quiet,
        executor=stage_executor(params, "features"),
    )


if __name__ == "__main__":
    stage_main(__doc__ or "", run)
