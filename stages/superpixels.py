"""DVC stage ``superpixels``: per-video superpixel label volumes of every video of the
train and val splits of the dataset (``--root``) into the superpixels store (``--out``),
fast SLIC refined at image and motion edges (using the flow store ``--flow``).
Per-video incremental: groups whose fingerprint (params, frame files, flow attrs) matches
are kept, so the dvc.yaml out is ``persist: true``."""

from __future__ import annotations

import argparse
from typing import Any

from gnnannot.config import from_section
from gnnannot.pipeline.superpixels import SuperpixelStageConfig, build_superpixel_store
from stages.common import section, stage_main

PATHS = {"root": "dataset (DAVIS layout)", "flow": "flow store",
         "out": "superpixels store (zarr)"}


def run(params: dict[str, Any], args: argparse.Namespace) -> None:
    cfg = from_section(SuperpixelStageConfig, section(params, "superpixels"),
                       "params.yaml: superpixels")  # fmt: skip
    build_superpixel_store(args.root, args.out, args.flow, cfg, executor=cfg.executor.make(),
                           quiet=args.quiet)  # fmt: skip


if __name__ == "__main__":
    stage_main(__doc__ or "", run, PATHS)
