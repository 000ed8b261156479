"""GNN training on simulated sessions, the random-walker prior, and the GNN method on the
real pipeline stores of a tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gnnannot.data import davis
from gnnannot.data import synthetic as syn
from gnnannot.errors import DataError
from gnnannot.ivos.metrics import batched_jaccard
from gnnannot.ivos.robot import ScribbleRobot
from gnnannot.ivos.session import VideoData, run_session
from gnnannot.methods.baselines import PLAIN_WALKER, RandomWalker, frame_ratio
from gnnannot.methods.gnn import (
    DEFAULT_DYNAMIC_INPUTS,
    FEATURE_VIEW,
    GNNMethod,
    GraphInputs,
    InteractionState,
    model_params,
    node_labels,
    predict_probs,
)
from gnnannot.methods.registry import make_method
from gnnannot.model import GNNAnnot, combine_objects, save_checkpoint
from gnnannot.pipeline.features import build_feature_store
from gnnannot.pipeline.flow import build_flow_store
from gnnannot.pipeline.graphs import build_graph_store
from gnnannot.pipeline.superpixels import build_superpixel_store
from gnnannot.preprocess.graph import oracle_j
from gnnannot.preprocess.superpixels import SuperpixelParams
from gnnannot.store.graphs import open_graph
from gnnannot.training.train import (
    TrainConfig,
    build_model,
    evaluate,
    first_scribble,
    frame_soft_jaccard,
    load_item,
    session_loss,
    train_model,
)
from gnnannot.training.train import play_training_session as train_session

SMALL = dict(n_frames=6, height=96, width=160, max_objects=2)
PRIOR = ["rw_prob", "rw_bg_prob"]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic dataset (3 train + 1 val videos) through the real stages."""
    d = tmp_path_factory.mktemp("train")
    root = d / "davis"
    syn.generate_dataset(root, seed=5, n_train=3, n_val=1, quality=90, quiet=True, **SMALL)
    seqs = davis.read_split(root, "train") + davis.read_split(root, "val")
    s = {k: str(d / f"{k}.zarr") for k in ("flow", "superpixels", "features", "graphs")}
    build_flow_store(str(root), s["flow"], quiet=True)
    build_superpixel_store(str(root), s["superpixels"], s["flow"],
                           SuperpixelParams(n_segments=80), quiet=True)
    build_feature_store(str(root), s["features"], s["superpixels"], s["flow"], quiet=True)
    build_graph_store(s["graphs"], s["superpixels"], s["features"], s["flow"], seqs,
                      quiet=True)
    return d


def _graphs(d: Path, split: str) -> list:
    return [open_graph(d / "graphs.zarr", s) for s in davis.read_split(d / "davis", split)]


def _untrained(graph, prior: list[str] | None, seed: int = 0) -> GNNAnnot:
    torch.manual_seed(seed)
    return GNNAnnot.from_params(model_params(graph, {
        "hidden": 12, "n_layers": 3, "batch_norm": False, "prior_features": prior}))


STRONG_RW = {"flow_scale": 50.0, "flow_overlap": True, "prior_weight": 0.005,
             "soft_seed_weight": 1.0}


RATIO_DYN = [*DEFAULT_DYNAMIC_INPUTS, "rw_frame_ratio", "rw_frame_ratio_bg"]


@pytest.mark.parametrize("rw_opts,threshold", [(None, 0.0), (STRONG_RW, 0.0),
                                               (STRONG_RW, 0.5)],
                         ids=["plain", "strong", "per_frame"])  # fmt: skip
def test_untrained_prior_model_equals_random_walker(stores: Path, rw_opts, threshold) -> None:
    """With the random-walker prior and a zero last layer, an untrained network gives
    exactly the random walker's labels (every interaction), for the plain walker, for
    the benchmark's (strong flow edges, previous labels and soft seeds as priors) and,
    with the per-frame ratio inputs as the prior, for the real-footage walker's per-frame
    decision (``frame_threshold`` 0.5)."""
    root = stores / "davis"
    walker = PLAIN_WALKER if rw_opts is None else {**rw_opts, "beta": 4.0,
                                                   "frame_threshold": threshold}
    dyn = RATIO_DYN if threshold else None
    for graph in _graphs(stores, "train")[:2]:
        gt = davis.read_annotations(root, graph.seq)
        k = davis.num_objects(gt)
        sc = davis.read_scribble(davis.scribble_paths(root, graph.seq)[0], gt.shape[0], k)
        if threshold:
            torch.manual_seed(0)
            model = GNNAnnot.from_params(model_params(graph, {
                "hidden": 12, "n_layers": 3, "batch_norm": False, "dyn_features": dyn,
                "prior_features": ["rw_frame_ratio", "rw_frame_ratio_bg"]})).eval()
        else:
            model = _untrained(graph, PRIOR).eval()
        inputs = GraphInputs(graph, "cpu", rw_beta=4.0, rw=rw_opts, dyn_features=dyn)
        state = InteractionState(inputs, k)
        rw = RandomWalker(lambda s, g=graph: g, **walker)
        rw.start(VideoData(graph.seq, np.zeros((graph.n_frames, 1, 1, 3), np.uint8), k))
        robot = ScribbleRobot()
        for _ in range(3):
            x = state.add(sc)
            rw.seeds.add(sc)
            probs = model.predict_proba(inputs.x_const, x, inputs.edge_index, inputs.edge_attr)
            ours = combine_objects(probs.numpy())
            ref = rw.predict_nodes()
            # the next prior: the same previous labels on both sides (where the walk never
            # reaches, the labels are round-off and would seed different priors)
            state.prev_probs = (ref[None, :] == np.arange(1, k + 1)[:, None]).astype(float)
            # nodes the walk never reaches have ~1e-13 probabilities whose argmax is
            # round-off; everywhere the random walker decides, the labels are equal
            top2 = np.sort(rw._probs, axis=1)[:, -2:]
            decided = top2[:, 1] - top2[:, 0] > 1e-4
            if threshold:  # and, per frame, ratios away from the threshold and from 1
                ratio = frame_ratio(rw._probs[:, 1:], graph.node_frame, graph.n_frames)
                decided &= (np.abs(ratio - threshold) > 1e-4).all(axis=1)
                decided &= (ratio < 1 - 1e-6).sum(axis=1) >= k - 1
            assert decided.mean() > 0.5
            np.testing.assert_array_equal(ours[decided], ref[decided])
            pred = ours.astype(np.uint8)[graph.labels_all()]
            sc = robot.interact(graph.seq, pred, gt, k)


def _items(stores: Path, split: str, cfg: TrainConfig) -> list:
    return [load_item(g, stores / "davis", cfg, "cpu") for g in _graphs(stores, split)]


TINY = {"hidden": 16, "n_layers": 4, "dropout": 0.0, "batch_norm": False,
        "graph_norm": False}


def test_overfit_one_video(stores: Path, tmp_path: Path) -> None:
    """Trained and validated on one tiny video (no prior: the network starts from
    nothing), sessions reach >= 95% of that video's superpixel-oracle J."""
    cfg = TrainConfig(rounds=3, epochs=5, interactions=3, val_interactions=3, lr=0.01,
                      seed=0, model=TINY)
    item = _items(stores, "train", cfg)[0]
    rows: list[dict[str, float]] = []
    result = train_model([item], [item], cfg, tmp_path / "m.pt", logger=rows.append,
                         quiet=True)
    ceiling = oracle_j(item.graph, item.gt)
    print(f"overfit: best val J {result['best_val_J']:.4f}, oracle {ceiling:.4f}, "
          f"per round {[round(r['val_J'], 3) for r in rows]}")
    assert len(rows) == cfg.rounds and result["steps"] == 3 * 5 * 3
    assert result["initial_val_J"] is None and result["best_round"] >= 0
    assert result["best_val_J"] >= 0.95 * ceiling


def test_trained_model_flips_prior_labels_and_beats_it_held_out(stores: Path,
                                                                tmp_path: Path) -> None:
    """With a weak random-walker prior (colour-blind: beta 0), the model trained on the
    training videos changes the prior's labels on the held-out video (on identical seeds)
    and beats the prior there in mean J over the session's interactions."""
    cfg = TrainConfig(rounds=2, epochs=3, interactions=3, val_interactions=3, lr=0.01,
                      rw_beta=0.0, seed=0, model={**TINY, "prior_features": PRIOR,
                                                  "prior_scale": 4.0})
    train, held = _items(stores, "train", cfg), _items(stores, "val", cfg)
    ckpt = tmp_path / "m.pt"
    result = train_model(train, train[-1:], cfg, ckpt, quiet=True)
    trained = GNNMethod(lambda s: open_graph(stores / "graphs.zarr", s), ckpt).model
    prior = build_model(train, cfg, "cpu").eval()
    j_trained = evaluate(trained, held, 3)
    j_prior = evaluate(prior, held, 3)
    item = held[0]
    state = InteractionState(item.inputs, item.n_objects)
    x = state.add(first_scribble(item))
    ours = node_labels(predict_probs(trained, item.inputs, x))
    theirs = node_labels(predict_probs(prior, item.inputs, x))
    flipped = int((ours != theirs).sum())
    print(f"held-out J trained {j_trained.mean():.4f} prior {j_prior.mean():.4f}, "
          f"{flipped} of {ours.size} labels flipped; best round {result['best_round']}")
    assert result["best_round"] >= 0
    assert flipped >= 0.02 * ours.size
    assert j_trained.mean() > j_prior.mean() + 0.02


def test_training_sessions_match_the_benchmark(stores: Path, tmp_path: Path) -> None:
    """A training session (robot on the worst frame not used before) gives the same J
    after every interaction as the benchmark's session driver with the same model."""
    cfg = TrainConfig(model={**TINY, "prior_features": PRIOR})
    item = _items(stores, "val", cfg)[0]
    model = build_model([item], cfg, "cpu")
    torch.nn.init.normal_(model.readout[-1].weight, std=0.3)  # not just the prior
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, model, extra={"rw_beta": 4.0, "rw": dict(cfg.rw), "decay": 0.9,
                                        "feature_view": FEATURE_VIEW})  # as train_model
    ours = train_session(model.eval(), item, first_scribble(item), 5, ScribbleRobot()).js
    bench = _benchmark_session(stores, ckpt, 5)
    assert len(set(bench["frame_pick"])) == 4  # four robot frames, none used twice
    np.testing.assert_allclose(ours, bench["J"], atol=1e-12)


def _benchmark_session(stores: Path, ckpt: Path, n: int = 3) -> dict:
    root = stores / "davis"
    seq = davis.read_split(root, "val")[0]
    gt = davis.read_annotations(root, seq)
    k = davis.num_objects(gt)
    sc = davis.read_scribble(davis.scribble_paths(root, seq)[0], gt.shape[0], k)
    method = make_method("gnn", graph_store=stores / "graphs.zarr", dataset_root=root,
                         checkpoint=ckpt)
    res = run_session(VideoData(seq, davis.read_frames(root, seq), k), gt, sc, method,
                      max_interactions=n)
    rep = res.report
    return {"jaccard": rep.sort_values(["interaction", "object_id", "frame"])[
                "jaccard"].to_numpy(),
            "J": rep.groupby("interaction")["jaccard"].mean().to_numpy(),
            "frame_pick": res.robot_frames}


def test_gnn_method_in_protocol_is_deterministic_after_reload(stores: Path,
                                                              tmp_path: Path) -> None:
    """The GNN method runs in the protocol's session driver; a checkpoint saved and loaded
    again gives identical results, several objects included."""
    graph = _graphs(stores, "train")[0]
    model = _untrained(graph, PRIOR, seed=3)
    torch.nn.init.normal_(model.readout[-1].weight, std=0.5)  # not just the prior
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    extra = {"rw_beta": 4.0, "decay": 0.9, "feature_view": FEATURE_VIEW}
    save_checkpoint(a, model, extra=extra)
    first = _benchmark_session(stores, a)["jaccard"]
    loaded = GNNMethod(lambda s: graph, a).model
    save_checkpoint(b, loaded, extra=extra)
    np.testing.assert_array_equal(_benchmark_session(stores, b)["jaccard"], first)
    assert first.size > 0 and np.all((first >= 0) & (first <= 1))


def test_gnn_method_bad_checkpoints(stores: Path, tmp_path: Path) -> None:
    loader = lambda s: open_graph(stores / "graphs.zarr", s)  # noqa: E731
    missing = tmp_path / "nope.pt"
    with pytest.raises(DataError, match="nope.pt"):
        GNNMethod(loader, missing)
    graph = _graphs(stores, "train")[0]
    old = GNNAnnot.from_params({
        "n_const": len(graph.node_feature_names), "n_dyn": 3,
        "n_edge": len(graph.edge_feature_names), "hidden": 4, "n_layers": 1,
        "dyn_features": ["a", "b", "c"]})
    save_checkpoint(tmp_path / "old.pt", old, extra={"feature_view": FEATURE_VIEW})
    with pytest.raises(DataError, match="dynamic features"):
        GNNMethod(loader, tmp_path / "old.pt")
    save_checkpoint(tmp_path / "raw.pt", old)  # before scale-free features
    with pytest.raises(DataError, match="feature view"):
        GNNMethod(loader, tmp_path / "raw.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="junk.pt"):
        GNNMethod(loader, junk)


def test_session_loss_hand_computed() -> None:
    """BCE against pixel fractions and the per-frame soft Jaccard, computed by hand."""
    logits = torch.zeros(1, 3)  # p = 0.5 everywhere
    pixels = torch.tensor([4.0, 2.0, 2.0])
    obj = torch.tensor([[4.0, 1.0, 0.0]])  # node 1 is half object
    frame = torch.tensor([0, 0, 1])
    bce = float(np.log(2.0)) * (4 + 2 + 2) / (8 / 3) / 3  # each term log 2 x weight
    got = session_loss(logits, obj, pixels, frame, 2, jaccard_weight=0.0)
    assert float(got) == pytest.approx(bce, rel=1e-6)
    # frame 0: inter = 0.5*4 + 0.5*1 = 2.5, union = (2 + 4 - 2) + (1 + 1 - 0.5) = 5.5
    # frame 1: inter 0, union = 1 (object absent): (0 + 1) / (1 + 1) with eps = 1 pixel
    jac = torch.tensor([[(2.5 + 1) / (5.5 + 1), 1 / 2]])
    np.testing.assert_allclose(frame_soft_jaccard(logits, obj, pixels, frame, 2), jac,
                               rtol=1e-6)
    got = session_loss(logits, obj, pixels, frame, 2, jaccard_weight=2.0, bce_weight=0.5)
    assert float(got) == pytest.approx(0.5 * bce + 2.0 * float((1 - jac).mean()), rel=1e-6)


def test_soft_jaccard_of_hard_predictions_is_the_metric(stores: Path) -> None:
    """For saturated logits the per-frame soft Jaccard equals the benchmark's J of the
    rasterised labels (up to the 1-pixel eps), object by object and frame by frame."""
    cfg = TrainConfig()
    item = _items(stores, "val", cfg)[0]
    rng = np.random.default_rng(0)
    labels = rng.integers(0, item.n_objects + 1, item.graph.n_nodes)
    hard = torch.from_numpy(np.stack([labels == k for k in range(1, item.n_objects + 1)]))
    logits = torch.where(hard, 50.0, -50.0).float()
    got = frame_soft_jaccard(logits, item.obj_pixels, item.pixels, item.node_frame,
                             item.graph.n_frames).numpy()
    pred = labels.astype(np.uint8)[item.labels_all]
    ref = batched_jaccard(item.gt, pred, item.n_objects)  # (K, T)
    np.testing.assert_allclose(got, ref, atol=2e-3)
    assert np.ptp(ref) > 0.05  # a telling case: J varies across frames and objects
