"""DVC stage ``train``: train the GNN on simulated interactive sessions over the training
split's cached graphs; writes ``models/model.pt`` (best validation epoch, with the params
it was trained with), ``metrics/train.json`` and the dvclive log ``dvclive/``."""

from __future__ import annotations

import sys
from typing import Any

from gnnannot.atomic import write_json
from gnnannot.data import davis
from gnnannot.errors import ConfigError
from gnnannot.io.graph_store import open_graph
from gnnannot.train import TrainConfig, load_item, train_model
from gnnannot.train_distributed import init_from_env, launch, under_torchrun
from stages.common import param, stage_main

GRAPH_STORE = "data/graphs.zarr"
CHECKPOINT = "models/model.pt"


def run(params: dict[str, Any], quiet: bool) -> None:
    root = param(params, "data.root", str)
    section = dict(param(params, "train", dict))
    device = str(section.pop("device", "cpu"))
    n_val = int(section.pop("val_videos", 2))
    nproc = int((section.pop("distributed", None) or {}).get("nproc_per_node", 1))
    if nproc > 1 and not under_torchrun():  # launch N copies of this stage with torchrun
        launch(nproc, "stages.train", sys.argv[1:])
        return
    try:
        cfg = TrainConfig(**section)
    except TypeError as exc:
        raise ConfigError(f"params.yaml: bad key in section 'train' ({exc})") from exc
    seqs = davis.read_split(root, "train")
    if not 0 <= n_val < len(seqs):
        raise ConfigError(
            f"params.yaml: train.val_videos must be in 0..{len(seqs) - 1} "
            f"(the train split has {len(seqs)} videos), found {n_val}"
        )
    train_seqs = seqs[: len(seqs) - n_val]
    val_seqs = seqs[len(seqs) - n_val :]
    dist, device = init_from_env(device)  # under torchrun: this rank's process group, GPU
    try:
        _train(root, train_seqs, val_seqs, cfg, device, dist, quiet)
    finally:
        dist.close()


def _train(root: str, train_seqs: list[str], val_seqs: list[str], cfg: TrainConfig,
           device: str, dist: Any, quiet: bool) -> None:
    """Load the graphs, train, and (rank 0 only) log, write the checkpoint and metrics."""
    items = [load_item(open_graph(GRAPH_STORE, s), root, cfg, device) for s in train_seqs]
    val_items = [load_item(open_graph(GRAPH_STORE, s), root, cfg, device) for s in val_seqs]

    if not dist.is_main:  # the other ranks train their shard; rank 0 writes everything
        train_model(items, val_items, cfg, CHECKPOINT, device=device, quiet=True, dist=dist)
        return
    from dvclive import Live

    with Live("dvclive", report=None, save_dvc_exp=False) as live:
        def logger(row: dict[str, float]) -> None:
            for key, value in row.items():
                if key != "round":
                    live.log_metric(key, value)
            live.next_step()

        result = train_model(items, val_items, cfg, CHECKPOINT,
                             device=device, logger=logger, quiet=quiet, dist=dist)
    last = result["history"][-1]
    write_json("metrics/train.json", {
        "best_round": result["best_round"],
        "best_val_J": result["best_val_J"],
        "initial_val_J": result["initial_val_J"],
        "final_train_loss": last["train_loss"],
        "rounds": len(result["history"]),
        "steps": result["steps"],
    })


if __name__ == "__main__":
    stage_main(__doc__ or "", run)
