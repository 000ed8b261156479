"""DVC stage ``flow``: forward/backward optical flow and occlusions of every video of the
dataset (``--root``) into the flow store (``--out``), computed with OpenCV DIS or imported
from the seed's FlowNet2 ``.h5`` files (``flow.method``). Per-video incremental: videos
whose group attrs match the params are kept (the dvc.yaml out is ``persist: true``)."""

from __future__ import annotations

import argparse
from typing import Any

from gnnannot.config import from_section
from gnnannot.pipeline.flow import FlowConfig, build_flow_store
from stages.common import section, stage_main

PATHS = {"root": "dataset (DAVIS layout)", "out": "flow store (zarr)"}


def run(params: dict[str, Any], args: argparse.Namespace) -> None:
    cfg = from_section(FlowConfig, section(params, "flow"), "params.yaml: flow")
    build_flow_store(args.root, args.out, cfg, executor=cfg.executor.make(), quiet=args.quiet)


if __name__ == "__main__":
    stage_main(__doc__ or "", run, PATHS)
