"""Data-parallel training (gnnannot.training.distributed): the train stage in 2 gloo processes
(launched by ``train.distributed.nproc_per_node``) on a tiny dataset completes, rank 0
alone writes the checkpoint, metrics and dvclive log, the checkpoint loads and predicts
through the GNN method, and a rerun with the same seed writes the same weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gnnannot.data import davis
from gnnannot.data import synthetic as syn
from gnnannot.ivos.session import VideoData, run_session
from gnnannot.methods.gnn import GNNMethod
from gnnannot.methods.registry import make_method
from gnnannot.pipeline.features import build_feature_store
from gnnannot.pipeline.flow import build_flow_store
from gnnannot.pipeline.graphs import build_graph_store
from gnnannot.pipeline.superpixels import build_superpixel_store
from gnnannot.preprocess.superpixels import SuperpixelParams
from gnnannot.store.graphs import open_graph
from gnnannot.training.distributed import SINGLE, DataParallel

REPO = Path(__file__).resolve().parents[1]
TRAIN = {
    "device": "cpu", "val_videos": 1, "rounds": 1, "epochs": 1, "interactions": 2,
    "val_interactions": 2, "lr": 0.01, "seed": 0, "distributed": {"nproc_per_node": 2},
    "model": {"hidden": 8, "n_layers": 2, "batch_norm": False, "graph_norm": False,
              "prior_features": ["rw_prob", "rw_bg_prob"]},
}  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder: 3 train videos (1 validates) + 1 val, stores at the stage paths."""
    d = tmp_path_factory.mktemp("ddp")
    root = d / "data" / "davis"
    syn.generate_dataset(root, seed=3, n_train=3, n_val=1, quality=90, quiet=True,
                         n_frames=5, height=64, width=96, max_objects=2)  # fmt: skip
    seqs = davis.read_split(root, "train") + davis.read_split(root, "val")
    s = {k: str(d / "data" / f"{k}.zarr") for k in ("flow", "superpixels", "features",
                                                     "graphs")}  # fmt: skip
    build_flow_store(str(root), s["flow"], quiet=True)
    build_superpixel_store(str(root), s["superpixels"], s["flow"],
                           SuperpixelParams(n_segments=40), quiet=True)  # fmt: skip
    build_feature_store(str(root), s["features"], s["superpixels"], s["flow"], quiet=True)
    build_graph_store(s["graphs"], s["superpixels"], s["features"], s["flow"], seqs,
                      quiet=True)  # fmt: skip
    (d / "params.yaml").write_text(yaml.safe_dump({"data": {"root": "data/davis"},
                                                   "train": TRAIN}))  # fmt: skip
    return d


def _train_stage(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "stages.train", "--quiet", "--root", "data/davis",
                           "--graphs", "data/graphs.zarr", "--model", "models/model.pt",
                           "--metrics", "metrics/train.json", "--live", "dvclive"], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip


def test_two_gloo_processes_train_a_checkpoint_that_loads_and_predicts(project: Path) -> None:
    first = _train_stage(project)
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt = project / "models" / "model.pt"
    meta = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert os.listdir(project / "dvclive")
    # 2 training videos, one per rank: 2 steps each (one process would take 4)
    assert json.loads((project / "metrics" / "train.json").read_text())["steps"] == 2
    weights = {k: v.clone() for k, v in meta["state_dict"].items()}

    # the checkpoint loads and predicts through the benchmark's GNN method
    root = project / "data" / "davis"
    graphs = project / "data" / "graphs.zarr"
    assert GNNMethod(lambda s: open_graph(graphs, s), ckpt).model is not None
    seq = davis.read_split(root, "val")[0]
    gt = davis.read_annotations(root, seq)
    k = davis.num_objects(gt)
    sc = davis.read_scribble(davis.scribble_paths(root, seq)[0], gt.shape[0], k)
    method = make_method("gnn", graph_store=graphs, dataset_root=root, checkpoint=ckpt)
    res = run_session(VideoData(seq, davis.read_frames(root, seq), k), gt, sc, method,
                      max_interactions=2)  # fmt: skip
    j = res.report["jaccard"].to_numpy()
    assert j.size and np.isfinite(j).all() and j.mean() > 0.3

    # same seed, same world size: the same checkpoint
    second = _train_stage(project)
    assert second.returncode == 0, second.stderr[-3000:]
    again = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    assert sorted(again) == sorted(weights)
    for key, value in weights.items():
        assert torch.equal(value, again[key]), key


def test_sharding_and_step_padding_without_a_process_group() -> None:
    """Video i goes to rank i % N; one process keeps every video and its order."""
    items = list("abcde")
    assert [DataParallel(r, 2, "cpu").shard(items) for r in (0, 1)] == [list("ace"),
                                                                         list("bd")]
    assert SINGLE.shard(items) == items and SINGLE.on_main(lambda: 7) == 7
    order = np.array([2, 0, 1])
    assert SINGLE.epoch_order(order) is order
