"""DVC stage ``data``: make the dataset available in DAVIS layout in ``--out``."""

from __future__ import annotations

import argparse
from typing import Any

from gnnannot.data.prepare import prepare_dataset
from stages.common import choice, param, stage_main

PATHS = {"out": "dataset folder (DAVIS layout)"}


def run(params: dict[str, Any], args: argparse.Namespace) -> None:
    source = choice(params, "data.source", ("synthetic", "davis2017", "local"))
    prepare_dataset(
        source,
        args.out,
        seed=param(params, "data.seed", int),
        synthetic=param(params, "data.synthetic", dict),
        davis2017=param(params, "data.davis2017", dict),
        local_path=param(params, "data.local.path", str),
        quiet=args.quiet,
    )


if __name__ == "__main__":
    stage_main(__doc__ or "", run, PATHS)
