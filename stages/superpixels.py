"""DVC stage ``superpixels``: per-video superpixel label volumes of every video of the
train and val splits of ``data.root`` into ``data/superpixels.zarr`` (fast SLIC refined at
image and motion edges, using ``data/flow.zarr``). Per-video incremental: groups whose
fingerprint (params, frame files, flow attrs) matches are kept, so the dvc.yaml out is
``persist: true``."""

from __future__ import annotations

from typing import Any

from gnnannot.superpixels import SuperpixelParams, build_superpixel_store
from stages.common import param, stage_executor, stage_main

STORE = "data/superpixels.zarr"
FLOW_STORE = "data/flow.zarr"


def superpixel_params(params: dict[str, Any]) -> SuperpixelParams:
    d = SuperpixelParams()
    return SuperpixelParams(
        n_segments=param(params, "superpixels.n_segments", int),
        compactness=param(params, "superpixels.compactness", float, d.compactness),
        canny_low=param(params, "superpixels.canny_low", int, d.canny_low),
        canny_high=param(params, "superpixels.canny_high", int, d.canny_high),
        flow_edge_thresh=param(params, "superpixels.flow_edge_thresh", float,
                               d.flow_edge_thresh),  # fmt: skip
        min_size_factor=param(params, "superpixels.min_size_factor", float, d.min_size_factor),
        base_ratio=param(params, "superpixels.base_ratio", float, d.base_ratio),
    )


def run(params: dict[str, Any], quiet: bool) -> None:
    build_superpixel_store(
        root=param(params, "data.root", str),
        store=STORE,
        flow_store=FLOW_STORE,
        params=superpixel_params(params),
        workers=param(params, "superpixels.workers", int, 2),
        quiet=quiet,
        executor=stage_executor(params, "superpixels"),
    )


if __name__ == "__main__":
    stage_main(__doc__ or "", run)
