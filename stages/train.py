"""DVC stage ``train``: train the GNN on simulated interactive sessions over the training
split's cached graphs (``--graphs``, with the dataset ``--root``); writes the checkpoint
``--model`` (best validation round, with the params it was trained with), the metrics
``--metrics`` and the dvclive log ``--live``. With ``train.distributed.nproc_per_node``
> 1 (or under ``torchrun``) it trains with DistributedDataParallel
(:mod:`gnnannot.training.distributed`): rank 0 alone validates and writes."""

from __future__ import annotations

import os

# numpy/scipy's OpenBLAS single-threaded (unless the environment says otherwise), set
# before numpy's first import: the random walker's conjugate gradients make thousands of
# products of N ~ 1e4 vectors, where a multi-threaded BLAS only synchronises. On the
# loaded 2-core machine a dot of 14k doubles took 3.4 ms with the default 2 threads vs
# 0.025 ms with one; a 3-interaction training session 312 s vs 6.3 s (cProfile).
# Worker processes inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
from typing import Any

from gnnannot.atomic import write_json
from gnnannot.config import from_section
from gnnannot.data import davis
from gnnannot.errors import ConfigError
from gnnannot.store.graphs import open_graph
from gnnannot.training.distributed import init_from_env, launch, under_torchrun
from gnnannot.training.train import TrainConfig, load_item, train_model
from stages.common import section, stage_main

PATHS = {"root": "dataset (DAVIS layout)", "graphs": "graphs store",
         "model": "checkpoint to write", "metrics": "metrics JSON to write",
         "live": "dvclive folder"}


def run(params: dict[str, Any], args: argparse.Namespace) -> None:
    root = args.root
    train = dict(section(params, "train"))
    nproc = int((train.pop("distributed", None) or {}).get("nproc_per_node", 1))
    if nproc > 1 and not under_torchrun():  # launch N copies of this stage with torchrun
        launch(nproc, "stages.train", sys.argv[1:])
        return
    cfg = from_section(TrainConfig, train, "params.yaml: train")
    n_val = cfg.val_videos
    seqs = davis.read_split(root, "train")
    if not 0 <= n_val < len(seqs):
        raise ConfigError(
            f"params.yaml: train.val_videos must be in 0..{len(seqs) - 1} "
            f"(the train split has {len(seqs)} videos), found {n_val}"
        )
    train_seqs = seqs[: len(seqs) - n_val]
    val_seqs = seqs[len(seqs) - n_val :]
    dist, device = init_from_env(cfg.device)  # under torchrun: this rank's group, GPU
    try:
        _train(args, train_seqs, val_seqs, cfg, device, dist)
    finally:
        dist.close()


def _train(args: argparse.Namespace, train_seqs: list[str], val_seqs: list[str],
           cfg: TrainConfig, device: str, dist: Any) -> None:
    """Load the graphs, train, and (rank 0 only) log, write the checkpoint and metrics."""
    root = args.root
    items = [load_item(open_graph(args.graphs, s), root, cfg, device) for s in train_seqs]
    val_items = [load_item(open_graph(args.graphs, s), root, cfg, device) for s in val_seqs]
    if not dist.is_main:  # the other ranks train their shard; rank 0 writes everything
        train_model(items, val_items, cfg, args.model, device=device, quiet=True, dist=dist)
        return
    from dvclive import Live

    with Live(args.live, report=None, save_dvc_exp=False) as live:
        def logger(row: dict[str, float]) -> None:
            for key, value in row.items():
                if key != "round":
                    live.log_metric(key, value)
            live.next_step()

        result = train_model(items, val_items, cfg, args.model, device=device,
                             logger=logger, quiet=args.quiet, dist=dist)
    last = result["history"][-1]
    write_json(args.metrics, {
        "best_round": result["best_round"],
        "best_val_J": result["best_val_J"],
        "initial_val_J": result["initial_val_J"],
        "final_train_loss": last["train_loss"],
        "rounds": len(result["history"]),
        "steps": result["steps"],
    })


if __name__ == "__main__":
    stage_main(__doc__ or "", run, PATHS)
