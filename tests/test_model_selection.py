"""Model selection of ``train_model`` keeps the untrained prior-only network when training
does not beat it on validation (issue 19: the prior branch never ran in the tests).

Training is made to fail on purpose (a huge learning rate, no gradient clipping): the
kept checkpoint must then be round -1, score the prior's validation J, and predict
exactly what an untrained network with a zero last layer predicts: the random walker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gnnannot.data import davis
from gnnannot.data import synthetic as syn
from gnnannot.model.checkpoint import load_checkpoint
from gnnannot.pipeline.features import build_feature_store
from gnnannot.pipeline.flow import build_flow_store
from gnnannot.pipeline.graphs import build_graph_store
from gnnannot.pipeline.superpixels import build_superpixel_store
from gnnannot.preprocess.superpixels import SuperpixelParams
from gnnannot.store.graphs import open_graph
from gnnannot.training.train import TrainConfig, build_model, evaluate, load_item, train_model

MODEL = {"hidden": 8, "n_layers": 2, "dropout": 0.0, "batch_norm": False,
         "graph_norm": False, "prior_features": ["rw_prob", "rw_bg_prob"], "prior_scale": 10.0}


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("select")
    root = d / "davis"
    syn.generate_dataset(root, seed=11, n_train=1, n_val=1, n_frames=4, height=64, width=96,
                         max_objects=2, quality=90, quiet=True)  # fmt: skip
    seqs = davis.read_split(root, "train") + davis.read_split(root, "val")
    s = {k: str(d / f"{k}.zarr") for k in ("flow", "superpixels", "features", "graphs")}
    build_flow_store(str(root), s["flow"], quiet=True)
    build_superpixel_store(str(root), s["superpixels"], s["flow"],
                           SuperpixelParams(n_segments=40), quiet=True)
    build_feature_store(str(root), s["features"], s["superpixels"], s["flow"], quiet=True)
    build_graph_store(s["graphs"], s["superpixels"], s["features"], s["flow"], seqs,
                      quiet=True)
    cfg = TrainConfig(rounds=1, epochs=2, interactions=2, val_interactions=2, lr=50.0,
                      grad_clip=0.0, seed=0, model=MODEL)
    return cfg, [load_item(open_graph(s["graphs"], q), root, cfg, "cpu") for q in seqs]


def test_training_that_does_not_beat_the_prior_keeps_the_prior(items, tmp_path: Path) -> None:
    cfg, (train, val) = items
    torch.manual_seed(cfg.seed)
    prior_j = evaluate(build_model([train], cfg, "cpu").eval(), [val], cfg.val_interactions)
    out = tmp_path / "m.pt"
    rows: list[dict[str, float]] = []
    result = train_model([train], [val], cfg, out, logger=rows.append, quiet=True)
    print(f"prior val J {result['initial_val_J']:.4f}, trained {rows[0]['val_J']:.4f}")
    # the independent expectation: the prior's J from evaluate() of an untrained model
    assert result["initial_val_J"] == pytest.approx(float(prior_j.mean()), abs=1e-9)
    assert len(rows) == 1 and rows[0]["val_J"] < result["initial_val_J"] - 0.01
    assert result["best_round"] == -1
    assert result["best_val_J"] == result["initial_val_J"]
    model, meta = load_checkpoint(out)
    assert meta["extra"]["round"] == -1
    assert meta["extra"]["val_J"] == pytest.approx(result["initial_val_J"])
    # the stored network is the untrained one: its sessions score the prior's J again
    np.testing.assert_allclose(evaluate(model, [val], cfg.val_interactions), prior_j,
                               atol=1e-9)

