"""Train the GNN on simulated interactive sessions.

Each training step is one interaction of a simulated DAVIS session on a training video:
interaction 1 hands a dataset scribble (``Scribbles/<seq>/*.json``), later ones the robot's
scribble on the frame where the current prediction is worst (the evaluation protocol's
robot). After every interaction the model is updated with a binary cross-entropy loss of
"node belongs to object k" against the superpixel-oracle labels, weighted by superpixel
area (the metric is measured on pixels). Adam with reduce-on-plateau on the validation J;
the checkpoint of the best validation epoch is kept.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from gnnannot.data import davis
from gnnannot.errors import ConfigError, DataError
from gnnannot.graph import VideoGraph, oracle_labels
from gnnannot.graph_clip import clip_graph
from gnnannot.ivos.metrics import batched_jaccard
from gnnannot.ivos.robot import ScribbleRobot
from gnnannot.methods.gnn import (
    GraphInputs,
    InteractionState,
    model_params,
    node_labels,
    predict_probs,
)
from gnnannot.model.checkpoint import save_checkpoint
from gnnannot.model.net import GNNAnnot
from gnnannot.progress import log, make_progress


@dataclass
class TrainConfig:
    """Training hyper-parameters (the ``train`` section of params.yaml)."""

    epochs: int = 20
    clip_frames: int = 8
    interactions: int = 6
    val_interactions: int = 4
    lr: float = 5e-3
    lr_factor: float = 0.6
    lr_patience: int = 3
    lr_min: float = 1e-5
    weight_decay: float = 0.0
    seed: int = 0
    rw_beta: float = 4.0
    decay: float = 0.9
    jaccard_weight: float = 0.0
    model: dict[str, Any] = field(
        default_factory=lambda: {"hidden": 20, "n_layers": 12, "dropout": 0.1}
    )

    def __post_init__(self) -> None:
        for name in ("epochs", "clip_frames", "interactions", "val_interactions"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"train.{name} must be >= 1, found {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be > 0, found {self.lr}")


@dataclass
class VideoItem:
    """A video (or a clip of one) prepared for sessions: graph inputs, GT, targets."""

    seq: str
    graph: VideoGraph
    inputs: GraphInputs
    gt: np.ndarray  # (T, H, W) uint8
    labels_all: np.ndarray  # (T, H, W) int32 node ids
    oracle: np.ndarray  # (N,) int64 majority GT label per node
    n_objects: int
    targets: torch.Tensor  # (K, N) float32 0/1
    weights: torch.Tensor  # (N,) float32 area weights, mean 1
    scribbles: list[Path]


def _item(graph: VideoGraph, gt: np.ndarray, labels_all: np.ndarray, oracle: np.ndarray,
          k: int, scribbles: list[Path], cfg: TrainConfig, device: str) -> VideoItem:
    targets = torch.from_numpy(
        (oracle[None, :] == np.arange(1, k + 1)[:, None]).astype(np.float32)
    ).to(device)
    count = graph.node_pixel_count.astype(np.float32)
    weights = torch.from_numpy(count / count.mean()).to(device)
    inputs = GraphInputs(graph, device, cfg.rw_beta, cfg.decay)
    return VideoItem(graph.seq, graph, inputs, gt, labels_all, oracle, k, targets, weights,
                     scribbles)


def load_item(
    graph: VideoGraph, dataset_root: str | os.PathLike[str], cfg: TrainConfig, device: str
) -> VideoItem:
    """Prepare one video (its graph from the cache, its GT and scribbles from the data)."""
    seq = graph.seq
    gt = davis.read_annotations(dataset_root, seq)
    k = davis.num_objects(gt)
    if k == 0:
        raise DataError(f"{davis.annotations_dir(dataset_root, seq)}: no object to train on")
    scribbles = davis.scribble_paths(dataset_root, seq)
    if not scribbles:
        raise DataError(f"{davis.scribbles_dir(dataset_root, seq)}: no scribble JSON to start "
                        "training sessions from")
    return _item(graph, gt, graph.labels_all(), oracle_labels(graph, gt), k, scribbles, cfg,
                 device)


def clip_item(item: VideoItem, start: int, stop: int, cfg: TrainConfig, device: str
              ) -> VideoItem:
    """The frames ``start..stop-1`` of a prepared video as an item of its own."""
    off = item.graph.frame_offsets
    lo, hi = int(off[start]), int(off[stop])
    sub = clip_graph(item.graph, start, stop)
    return _item(sub, item.gt[start:stop], item.labels_all[start:stop] - lo,
                 item.oracle[lo:hi], item.n_objects, item.scribbles, cfg, device)


def clip_scribble(scribble: dict[str, Any], start: int, stop: int, seq: str) -> dict[str, Any]:
    """The strokes of frames ``start..stop-1`` of a scribble dict."""
    return {"scribbles": scribble["scribbles"][start:stop], "sequence": seq}


def session_clip(
    scribble: dict[str, Any], n_frames: int, clip_frames: int, rng: np.random.Generator
) -> tuple[int, int]:
    """A random window of ``clip_frames`` frames containing a scribbled frame."""
    if clip_frames >= n_frames:
        return 0, n_frames
    marked = davis.annotated_frames(scribble) or [0]
    f = marked[int(rng.integers(len(marked)))]
    lo = max(0, f - clip_frames + 1)
    hi = min(f, n_frames - clip_frames)
    start = int(rng.integers(lo, hi + 1))
    return start, start + clip_frames


def feature_stats(items: Sequence[VideoItem]) -> dict[str, np.ndarray]:
    """Mean/std of constant node and edge features over the training videos."""
    x = torch.cat([it.inputs.x_const.cpu() for it in items]).double()
    e = torch.cat([it.inputs.edge_attr.cpu() for it in items]).double()
    return {
        "node_mean": x.mean(0).numpy(), "node_std": x.std(0).numpy(),
        "edge_mean": e.mean(0).numpy(), "edge_std": e.std(0).numpy(),
    }


def session_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor,
                 jaccard_weight: float = 0.0) -> torch.Tensor:
    """Area-weighted BCE of ``(K, N)`` logits against 0/1 targets, plus
    ``jaccard_weight`` times the soft Jaccard loss per object,

        1 - sum_n w_n p_n y_n / sum_n w_n (p_n + y_n - p_n y_n),   p = sigmoid(logits),

    averaged over objects (``weights (N,)`` = superpixel areas, mean 1). BCE alone is
    dominated by the large background and rewards timid object predictions; the Jaccard
    term weighs every object like the benchmark's J does."""
    loss = (F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
            * weights).mean()
    if jaccard_weight > 0:
        p = torch.sigmoid(logits)
        inter = (weights * p * targets).sum(dim=1)
        union = (weights * (p + targets - p * targets)).sum(dim=1).clamp_min(1e-6)
        loss = loss + jaccard_weight * (1.0 - inter / union).mean()
    return loss


def run_session(
    model: GNNAnnot,
    item: VideoItem,
    scribble: dict[str, Any],
    n_interactions: int,
    robot: ScribbleRobot,
    step: Callable[[torch.Tensor, VideoItem], float] | None = None,
) -> tuple[list[float], list[float]]:
    """Simulate one session; with ``step`` (training) call it on the logits of every
    interaction. Returns the losses (empty without ``step``) and the mean J after each
    interaction."""
    state = InteractionState(item.inputs, item.n_objects)
    losses: list[float] = []
    js: list[float] = []
    for _ in range(n_interactions):
        x_dyn = state.add(scribble)
        if step is not None:
            model.train()
            logits = model(item.inputs.x_const, x_dyn, item.inputs.edge_index,
                           item.inputs.edge_attr)
            losses.append(step(logits, item))
            probs = torch.sigmoid(logits.detach()).float().cpu().numpy()
        else:
            probs = predict_probs(model, item.inputs, x_dyn)
        state.prev_probs = probs
        pred = node_labels(probs).astype(np.uint8)[item.labels_all]
        js.append(float(batched_jaccard(item.gt, pred, item.n_objects).mean()))
        scribble = robot.interact(item.seq, pred, item.gt, item.n_objects)
    return losses, js


def train_model(
    train_graphs: Sequence[VideoGraph],
    val_graphs: Sequence[VideoGraph],
    dataset_root: str | os.PathLike[str],
    cfg: TrainConfig,
    out_path: str | os.PathLike[str],
    *,
    device: str = "cpu",
    logger: Callable[[dict[str, float]], None] | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Train on ``train_graphs``, select by mean J on ``val_graphs``, save the best
    checkpoint to ``out_path`` (atomically). ``logger(metrics)`` is called once per epoch.
    With a prior (``model.prior_features``) the untrained network is validated first and
    kept as epoch -1 if no epoch beats it. Returns ``{"history": [...], "best_epoch",
    "best_val_J", "initial_val_J"}`` (``initial_val_J`` is None without a prior)."""
    if not train_graphs:
        raise ConfigError("train: no training video")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    items = [load_item(g, dataset_root, cfg, device) for g in train_graphs]
    val_items = [load_item(g, dataset_root, cfg, device) for g in val_graphs] or items
    g0 = train_graphs[0]
    params = model_params(g0, cfg.model)
    for g in list(train_graphs) + list(val_graphs):
        if list(g.node_feature_names) != params["const_features"]:
            raise DataError(f"{g.seq}: node features differ from {g0.seq}'s")
    model = GNNAnnot.from_params(params).to(device)
    model.set_normalization(**feature_stats(items))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.lr_min
    )
    robot = ScribbleRobot()

    def step(logits: torch.Tensor, item: VideoItem) -> float:
        loss = session_loss(logits, item.targets, item.weights, cfg.jaccard_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.detach())

    history: list[dict[str, float]] = []
    best = (-1.0, -1)
    extra = {"rw_beta": cfg.rw_beta, "decay": cfg.decay, "config": asdict(cfg),
             "train_sequences": [g.seq for g in train_graphs],
             "val_sequences": [g.seq for g in val_graphs]}

    def validate() -> np.ndarray:
        val_js = []
        with torch.no_grad():
            for item in val_items:
                sc = davis.read_scribble(item.scribbles[0], item.gt.shape[0], item.n_objects)
                val_js.append(run_session(model, item, sc, cfg.val_interactions, robot)[1])
        return np.mean(val_js, axis=0)

    with make_progress(quiet) as progress:
        task = progress.add_task("train", total=cfg.epochs)
        initial_j: float | None = None
        if model.params.get("prior_features"):
            # the untrained network reproduces its prior (the random walker): a candidate
            # too, so the kept checkpoint is never worse than the prior on validation
            j0 = float(validate().mean())
            initial_j, best = j0, (j0, -1)
            save_checkpoint(out_path, model, extra={**extra, "epoch": -1, "val_J": j0})
            log(f"train: untrained (prior only) val J {j0:.4f}", quiet)
        for epoch in range(cfg.epochs):
            losses: list[float] = []
            train_js: list[float] = []
            for idx in rng.permutation(len(items)):
                item = items[idx]
                path = item.scribbles[int(rng.integers(len(item.scribbles)))]
                sc = davis.read_scribble(path, item.gt.shape[0], item.n_objects)
                start, stop = session_clip(sc, item.gt.shape[0], cfg.clip_frames, rng)
                clip = clip_item(item, start, stop, cfg, device)
                sc = clip_scribble(sc, start, stop, clip.seq)
                ls, js = run_session(model, clip, sc, cfg.interactions, robot, step)
                losses += ls
                train_js.append(js[-1])
            val_curve = validate()
            val_j = float(val_curve.mean())
            sched.step(val_j)
            row = {"epoch": epoch, "train_loss": float(np.mean(losses)),
                   "train_J": float(np.mean(train_js)), "val_J": val_j,
                   "val_J_first": float(val_curve[0]), "val_J_last": float(val_curve[-1]),
                   "lr": opt.param_groups[0]["lr"]}
            history.append(row)
            if logger is not None:
                logger(row)
            if val_j >= best[0]:  # ties: the later (longer trained) epoch
                best = (val_j, epoch)
                save_checkpoint(out_path, model, extra={**extra, "epoch": epoch,
                                                        "val_J": val_j})
            progress.update(task, advance=1, description=(
                f"train loss {row['train_loss']:.4f} val J {val_j:.3f}"))
    log(f"[green]train:[/] best val J {best[0]:.4f} at epoch {best[1]}", quiet)
    return {"history": history, "best_epoch": best[1], "best_val_J": best[0],
            "initial_val_J": initial_j}
