"""DVC stage ``flow``: forward/backward optical flow and occlusions of every video of
``data.root`` into ``data/flow.zarr`` (computed with OpenCV DIS, or imported from the seed's
FlowNet2 ``.h5`` files). Per-video incremental: videos whose group attrs match the params
are kept (the dvc.yaml out is ``persist: true`` for this reason)."""

from __future__ import annotations

from typing import Any

from gnnannot.flow import DIS_PRESETS, build_flow_store
from stages.common import choice, param, stage_executor, stage_main

STORE = "data/flow.zarr"


def run(params: dict[str, Any], quiet: bool) -> None:
    method = choice(params, "flow.method", ("dis", "farneback", "h5"))
    build_flow_store(
        root=param(params, "data.root", str),
        store=STORE,
        method=method,
        preset=choice(params, "flow.preset", tuple(DIS_PRESETS)),
        scale=param(params, "flow.scale", float),
        spread=param(params, "flow.occ_spread", float, 0.0),
        exclude_out_of_frame=param(params, "flow.occ_exclude_out_of_frame", bool, False),
        h5_dir=param(params, "flow.h5_dir", str, "") or None,
        dtype=choice(params, "flow.dtype", ("quantized", "float16", "float32")),
        quiet=quiet,
        executor=stage_executor(params, "flow"),
    )


if __name__ == "__main__":
    stage_main(__doc__ or "", run)
