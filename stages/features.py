"""DVC stage ``features``: per-superpixel constant node features and appearance
descriptors (colour/texture, or MobileNetV2 activations from a local weights file) of
every video into the features store (``--out``), from the dataset (``--root``), the
superpixels (``--superpixels``) and the flow (``--flow``). Per-video incremental
(``persist: true`` out)."""

from __future__ import annotations

import argparse
from typing import Any

from gnnannot.config import from_section
from gnnannot.pipeline.features import FeatureConfig, build_feature_store
from stages.common import section, stage_main

PATHS = {"root": "dataset (DAVIS layout)", "flow": "flow store",
         "superpixels": "superpixels store", "out": "features store (zarr)"}


def run(params: dict[str, Any], args: argparse.Namespace) -> None:
    cfg = from_section(FeatureConfig, section(params, "features"), "params.yaml: features")
    build_feature_store(args.root, args.out, args.superpixels, args.flow, cfg,
                        executor=cfg.executor.make(), quiet=args.quiet)  # fmt: skip


if __name__ == "__main__":
    stage_main(__doc__ or "", run, PATHS)
