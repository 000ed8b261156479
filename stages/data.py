"""DVC stage ``data``: make the dataset available in DAVIS layout under ``data.root``."""

from __future__ import annotations

from typing import Any

from gnnannot.data.prepare import prepare_dataset
from stages.common import choice, param, stage_main


def run(params: dict[str, Any], quiet: bool) -> None:
    source = choice(params, "data.source", ("synthetic", "davis2017", "local"))
    prepare_dataset(
        source,
        param(params, "data.root", str),
        seed=param(params, "data.seed", int),
        synthetic=param(params, "data.synthetic", dict),
        davis2017=param(params, "data.davis2017", dict),
        local_path=param(params, "data.local.path", str),
        quiet=quiet,
    )


if __name__ == "__main__":
    stage_main(__doc__ or "", run)
