"""Train the GNN on simulated interactive sessions, run exactly like the benchmark's.

A session on a training video starts from a dataset scribble (``Scribbles/<seq>/*.json``);
after every interaction the robot scribbles on the frame where the current prediction
scores the lowest mean J among frames it has not scribbled before (the protocol's rule,
:func:`gnnannot.ivos.robot.select_frame`), for ``interactions`` interactions.

Training runs in rounds. A round first plays one session per training video with the
current model (no gradient) and caches the dynamic node features of every interaction
(what the network sees: seeds, propagated seeds, the random walker's answer, the previous
prediction); then it takes ``epochs`` passes over the cached interactions in a seeded
random order, one Adam step per interaction on the whole video graph, so a step costs one
forward/backward. The next round replays the sessions with the improved model (its own
predictions steer the robot and feed ``prev_prob``, as at evaluation).

The loss tracks the benchmark's J: per frame and object, the soft Jaccard of the
predicted probabilities against the ground-truth pixels,

    J_tk = (sum_n p_kn g_kn + eps) / (sum_n (p_kn c_n + g_kn - p_kn g_kn) + eps)

over the nodes n of frame t (``c_n`` pixels of node n, ``g_kn`` of them in object k,
``eps`` = 1 pixel, so an absent object predicted empty scores 1 like the metric), as
``jaccard_weight * mean(1 - J_tk)`` plus ``bce_weight`` times the area-weighted binary
cross-entropy against the pixel fractions ``g_kn / c_n``. Model selection: after every
round the model plays full sessions (``val_interactions``) on the validation videos; the
checkpoint with the best mean J over all interactions is kept (the untrained network,
with the random-walker prior equal to the random walker, is a candidate too). The
learning rate is reduced on plateaus of that J.

Diagnosis (issue 14, ``scripts/diag_train_cache.py`` / ``scripts/diag_nodewise.py``, 40
synthetic train videos, one random-walker session of 6 interactions each cached, 34 train
/ 6 held out, one-shot J of the model's labels vs the walker's on the same held-out
states, superpixel level, +-95% normal interval over the 36 states): the inputs carry
what the walker lacks EARLY in a session and the residual learns it, but its corrections
hurt later interactions, so a session-mean selection sees nothing. The default network
after 150 steps: dJ +0.003 +-0.040, by interaction +0.141, +0.025, -0.023, -0.066,
-0.025, -0.033 (held-out loss 0.819 -> 0.680; ``a`` 10.00 -> 10.19, so the scale does not
run away; the last readout layer's norm 0 -> 0.118, so gradients reach it). A graph-free
per-node MLP on the same inputs (BCE): +0.021 +-0.055, by interaction +0.193, +0.049,
+0.012, -0.056, -0.034, -0.039; per held-out video +0.08..+0.14 on four, -0.11 and -0.20
on two (selection on 2 videos is noise at this spread). The default network, one torch
thread, more steps: step 100 -0.046 +-0.049, step 200 +0.018 +-0.052, step 300
+0.066 +-0.038, by interaction +0.218, +0.086, +0.033, +0.008, +0.033, +0.016 (all
positive; held-out loss 0.819 -> 0.564 and still falling; ``a`` 9.50): the late losses
of the shorter runs are undertraining, not a limit of the inputs. Soft-Jaccard-only loss
(bce_weight 0) was worse (step 100 -0.051, ``a`` grew to 12.5); lr 1e-3 + weight decay
1e-3 slower (step 300 +0.025 +-0.042).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from gnnannot.data import davis
from gnnannot.errors import ConfigError, DataError
from gnnannot.ivos.metrics import batched_jaccard
from gnnannot.ivos.robot import ScribbleRobot, select_frame
from gnnannot.methods.gnn import (
    FEATURE_VIEW,
    GraphInputs,
    InteractionState,
    model_params,
    node_labels,
    predict_probs,
)
from gnnannot.model.checkpoint import save_checkpoint
from gnnannot.model.net import GNNAnnot
from gnnannot.progress import log, make_progress
from gnnannot.training.clip import clip_graph
from gnnannot.training.distributed import SINGLE, SingleProcess
from gnnannot.types import VideoGraph


@dataclass
class TrainConfig:
    """Training hyper-parameters: the ``train`` section of params.yaml, whose values are
    these defaults (``tests/test_params.py`` checks that they agree). ``model`` overrides
    the architecture defaults of :class:`gnnannot.model.net.GNNAnnot`."""

    device: str = "cpu"  # cpu | cuda
    val_videos: int = 6  # the last N videos of the train split validate (model selection)
    rounds: int = 1
    epochs: int = 3
    clip_frames: int = 0
    interactions: int = 4
    val_interactions: int = 8
    lr: float = 3e-3
    lr_factor: float = 0.6
    lr_patience: int = 1
    lr_min: float = 1e-5
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    rw_beta: float = 4.0
    rw: dict[str, Any] = field(default_factory=lambda: {  # random-walker input options
        "flow_scale": 50.0, "flow_overlap": True, "prior_weight": 0.005,
        "soft_seed_weight": 1.0, "appearance_weight": 0.0,
        "background_weight": 0.0})  # fmt: skip
    decay: float = 0.9
    jaccard_weight: float = 1.0
    bce_weight: float = 1.0
    model: dict[str, Any] = field(default_factory=lambda: {
        "hidden": 16, "n_layers": 6, "dropout": 0.0, "batch_norm": False, "graph_norm": False,
        "prior_features": ["rw_prob", "rw_bg_prob"], "prior_scale": 10.0})  # fmt: skip

    def __post_init__(self) -> None:
        for name in ("rounds", "epochs", "interactions", "val_interactions"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"train.{name} must be >= 1, found {getattr(self, name)}")
        if int(self.clip_frames) < 0:
            raise ConfigError(f"train.clip_frames must be >= 0 (0: whole videos), found "
                              f"{self.clip_frames}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be > 0, found {self.lr}")
        if self.jaccard_weight < 0 or self.bce_weight < 0 or (
                self.jaccard_weight + self.bce_weight) <= 0:
            raise ConfigError("train.jaccard_weight and train.bce_weight must be >= 0 and "
                              f"not both 0, found {self.jaccard_weight}, {self.bce_weight}")


@dataclass
class VideoItem:
    """A video (or a clip of one) prepared for sessions: graph inputs, GT, targets."""

    seq: str
    graph: VideoGraph
    inputs: GraphInputs
    gt: np.ndarray  # (T, H, W) uint8
    labels_all: np.ndarray  # (T, H, W) int32 node ids
    n_objects: int
    obj_pixels: torch.Tensor  # (K, N) float32 pixels of node n in object k
    pixels: torch.Tensor  # (N,) float32 pixels of node n
    node_frame: torch.Tensor  # (N,) int64
    scribbles: list[Path]

    @property
    def targets(self) -> torch.Tensor:
        """``(K, N) float32`` fraction of each node's pixels in object k."""
        return self.obj_pixels / self.pixels.clamp_min(1.0)


def object_pixels(labels_all: np.ndarray, gt: np.ndarray, n_nodes: int, n_objects: int
                  ) -> np.ndarray:
    """``(K, N) int64``: pixels of node n with ground-truth object k (``labels_all``
    ``(T, H, W)`` node ids, ``gt`` ``(T, H, W)`` object ids; ids outside 1..K ignored)."""
    lab = np.asarray(labels_all, np.int64).ravel()
    obj = np.asarray(gt, np.int64).ravel()
    keep = (obj >= 1) & (obj <= n_objects)
    flat = np.bincount((obj[keep] - 1) * n_nodes + lab[keep],
                       minlength=n_objects * n_nodes)
    return flat.reshape(n_objects, n_nodes)


def _item(graph: VideoGraph, gt: np.ndarray, labels_all: np.ndarray, k: int,
          scribbles: list[Path], cfg: TrainConfig, device: str) -> VideoItem:
    obj = object_pixels(labels_all, gt, graph.n_nodes, k)
    inputs = GraphInputs(graph, device, cfg.rw_beta, cfg.decay, cfg.rw,
                         cfg.model.get("dyn_features"), cfg.model.get("const_features"))
    return VideoItem(
        graph.seq, graph, inputs, gt, labels_all, k,
        torch.from_numpy(obj.astype(np.float32)).to(device),
        torch.from_numpy(graph.node_pixel_count.astype(np.float32)).to(device),
        torch.from_numpy(graph.node_frame.astype(np.int64)).to(device),
        scribbles,
    )


def load_item(
    graph: VideoGraph, dataset_root: str | os.PathLike[str], cfg: TrainConfig, device: str
) -> VideoItem:
    """Prepare one video (its graph from the cache, its GT and scribbles from the data)."""
    seq = graph.seq
    gt = davis.read_annotations(dataset_root, seq)
    if gt.shape != (graph.n_frames, graph.height, graph.width):
        raise DataError(f"{davis.annotations_dir(dataset_root, seq)}: annotations of shape "
                        f"{gt.shape}, the graph cache has {graph.n_frames} frames of "
                        f"{graph.height}x{graph.width}")
    k = davis.num_objects(gt)
    if k == 0:
        raise DataError(f"{davis.annotations_dir(dataset_root, seq)}: no object to train on")
    scribbles = davis.scribble_paths(dataset_root, seq)
    if not scribbles:
        raise DataError(f"{davis.scribbles_dir(dataset_root, seq)}: no scribble JSON to start "
                        "training sessions from")
    return _item(graph, gt, graph.labels_all(), k, scribbles, cfg, device)


def clip_item(item: VideoItem, start: int, stop: int, cfg: TrainConfig, device: str
              ) -> VideoItem:
    """The frames ``start..stop-1`` of a prepared video as an item of its own."""
    lo = int(item.graph.frame_offsets[start])
    sub = clip_graph(item.graph, start, stop)
    return _item(sub, item.gt[start:stop], item.labels_all[start:stop] - lo,
                 item.n_objects, item.scribbles, cfg, device)


def clip_scribble(scribble: dict[str, Any], start: int, stop: int, seq: str) -> dict[str, Any]:
    """The strokes of frames ``start..stop-1`` of a scribble dict."""
    return {"scribbles": scribble["scribbles"][start:stop], "sequence": seq}


def session_clip(
    scribble: dict[str, Any], n_frames: int, clip_frames: int, rng: np.random.Generator
) -> tuple[int, int]:
    """A random window of ``clip_frames`` frames containing a scribbled frame (the whole
    video when ``clip_frames`` is 0 or not shorter than it)."""
    if clip_frames <= 0 or clip_frames >= n_frames:
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


def frame_soft_jaccard(logits: torch.Tensor, obj_pixels: torch.Tensor, pixels: torch.Tensor,
                       node_frame: torch.Tensor, n_frames: int, eps: float = 1.0
                       ) -> torch.Tensor:
    """``(K, T)`` soft Jaccard per object and frame (see the module docstring) of
    ``(K, N)`` logits; ``obj_pixels (K, N)``, ``pixels (N,)``, ``node_frame (N,)``."""
    p = torch.sigmoid(logits)
    inter_n = p * obj_pixels
    union_n = p * pixels + obj_pixels - inter_n
    k = logits.shape[0]
    inter = logits.new_zeros(k, n_frames).index_add_(1, node_frame, inter_n)
    union = logits.new_zeros(k, n_frames).index_add_(1, node_frame, union_n)
    return (inter + eps) / (union + eps)


def session_loss(logits: torch.Tensor, obj_pixels: torch.Tensor, pixels: torch.Tensor,
                 node_frame: torch.Tensor, n_frames: int, jaccard_weight: float = 1.0,
                 bce_weight: float = 1.0) -> torch.Tensor:
    """``bce_weight`` x area-weighted BCE of ``(K, N)`` logits against the pixel fractions
    ``obj_pixels / pixels`` (weights = pixels / mean pixels) + ``jaccard_weight`` x the
    mean over objects and frames of ``1 - J_tk`` (:func:`frame_soft_jaccard`)."""
    loss = logits.new_zeros(())
    if bce_weight > 0:
        target = obj_pixels / pixels.clamp_min(1.0)
        w = pixels / pixels.mean()
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        loss = loss + bce_weight * (bce * w).mean()
    if jaccard_weight > 0:
        jac = frame_soft_jaccard(logits, obj_pixels, pixels, node_frame, n_frames)
        loss = loss + jaccard_weight * (1.0 - jac).mean()
    return loss


def item_loss(logits: torch.Tensor, item: VideoItem, cfg: TrainConfig) -> torch.Tensor:
    """:func:`session_loss` of ``logits`` on ``item`` with ``cfg``'s weights."""
    return session_loss(logits, item.obj_pixels, item.pixels, item.node_frame,
                        item.graph.n_frames, cfg.jaccard_weight, cfg.bce_weight)


@dataclass
class SessionRecord:
    """One simulated session: mean J after each interaction and, when recorded, the
    dynamic features ``(K, N, F_dyn) float16`` the network saw at each interaction."""

    js: list[float]
    x_dyn: list[torch.Tensor]


def play_training_session(
    model: GNNAnnot,
    item: VideoItem,
    scribble: dict[str, Any],
    n_interactions: int,
    robot: ScribbleRobot,
    record: bool = False,
) -> SessionRecord:
    """Play one session like the benchmark (metric J): predict, score every frame, let
    the robot scribble on the worst frame not used before, repeat. ``record`` keeps the
    dynamic features of every interaction (on the CPU, float16)."""
    state = InteractionState(item.inputs, item.n_objects)
    used: list[int] = []
    out = SessionRecord([], [])
    for i in range(n_interactions):
        x_dyn = state.add(scribble)
        if record:
            out.x_dyn.append(x_dyn.detach().to("cpu", torch.float16))
        probs = predict_probs(model, item.inputs, x_dyn)
        state.prev_probs = probs
        # scribbled pixels keep their label, as in every graph method's output
        pred = state.seeds.paint(node_labels(probs).astype(np.uint8)[item.labels_all])
        jac = batched_jaccard(item.gt, pred, item.n_objects)  # (K, T)
        out.js.append(float(jac.mean()))
        if i == n_interactions - 1:
            break
        frame = select_frame(np.ascontiguousarray(jac.T).mean(axis=1), None, used)
        used.append(frame)
        scribble = robot.interact(item.seq, pred, item.gt, item.n_objects, frame)
    return out


def first_scribble(item: VideoItem, index: int = 0) -> dict[str, Any]:
    """The ``index``-th dataset scribble of a whole-video ``item``."""
    return davis.read_scribble(item.scribbles[index], item.gt.shape[0], item.n_objects)


def evaluate(model: GNNAnnot, items: Sequence[VideoItem], n_interactions: int,
             robot: ScribbleRobot | None = None) -> np.ndarray:
    """``(len(items), n_interactions)`` mean J after each interaction of one session per
    video (its first dataset scribble), the model in eval mode."""
    robot = robot or ScribbleRobot()
    with torch.no_grad():
        return np.asarray([play_training_session(model, it, first_scribble(it), n_interactions,
                                       robot).js for it in items], dtype=np.float64)


def build_model(items: Sequence[VideoItem], cfg: TrainConfig, device: str) -> GNNAnnot:
    """A fresh :class:`GNNAnnot` for graphs like ``items[0]``'s, its feature
    normalisation fitted on ``items``."""
    g0 = items[0].graph
    params = model_params(g0, cfg.model)
    for it in items:
        if list(it.graph.node_feature_names) != list(g0.node_feature_names):
            raise DataError(f"{it.seq}: node features differ from {g0.seq}'s")
    model = GNNAnnot.from_params(params).to(device)
    model.set_normalization(**feature_stats(items))
    return model


def train_model(
    items: Sequence[VideoItem],
    val_items: Sequence[VideoItem],
    cfg: TrainConfig,
    out_path: str | os.PathLike[str],
    *,
    device: str = "cpu",
    logger: Callable[[dict[str, float]], None] | None = None,
    quiet: bool = False,
    dist: SingleProcess = SINGLE,
) -> dict[str, Any]:
    """Train on ``items`` (see the module docstring), select by mean J over all
    interactions on ``val_items`` (the training items when empty), save the best
    checkpoint to ``out_path`` (atomically). ``logger(metrics)`` is called once per round.
    Returns ``{"history": [...], "best_round", "best_val_J", "initial_val_J", "steps"}``
    (``best_round`` -1: the untrained network; ``initial_val_J`` None without a prior).
    ``dist``: data-parallel hooks (:mod:`gnnannot.train_distributed`; default one process)."""
    if not items:
        raise ConfigError("train: no training video")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    val_items = list(val_items) or list(items)
    model = build_model(items, cfg, device)
    fwd, save, shard = dist.wrap(model), dist.main_only(save_checkpoint), dist.shard(items)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.lr_min
    )
    robot = ScribbleRobot()
    extra = {"rw_beta": cfg.rw_beta, "rw": dict(cfg.rw), "decay": cfg.decay,
             "feature_view": FEATURE_VIEW,
             "config": asdict(cfg), "train_sequences": [it.seq for it in items],
             "val_sequences": [it.seq for it in val_items]}
    history: list[dict[str, float]] = []
    has_prior = bool(model.params.get("prior_features"))
    steps_per_round = cfg.epochs * len(items) * cfg.interactions
    total = (cfg.rounds * (len(items) + steps_per_round)
             + (cfg.rounds + int(has_prior)) * len(val_items))
    n_steps = 0
    t_start = time.monotonic()

    def eta(done: float) -> str:
        """Elapsed time and a linear estimate of the time left (progress units)."""
        spent = time.monotonic() - t_start
        left = spent * (total - done) / max(done, 1e-9)
        return f"{spent:.0f} s elapsed, ETA {left:.0f} s"

    with make_progress(quiet) as progress:
        task = progress.add_task("train", total=total)

        def validate() -> np.ndarray:
            curves = []
            for it in val_items:
                curves.append(evaluate(model, [it], cfg.val_interactions, robot)[0])
                progress.advance(task)
            return np.asarray(curves)

        best = (-1.0, -2)
        initial_j: float | None = None
        if has_prior:
            # the untrained network reproduces its prior (the random walker): a candidate
            # too, so the kept checkpoint is never worse than the prior on validation
            initial_j = float(dist.on_main(validate).mean())
            best = (initial_j, -1)
            save(out_path, model, extra={**extra, "round": -1,
                                                    "val_J": initial_j})
            log(f"train: untrained (prior only) val J {initial_j:.4f}", quiet)
        for rnd in range(cfg.rounds):
            progress.update(task, description=f"train round {rnd + 1}/{cfg.rounds}: sessions")
            cache: list[tuple[VideoItem, torch.Tensor]] = []
            train_js = []
            model.eval()
            with torch.no_grad():
                for idx in range(len(shard)):
                    item = shard[idx]
                    s_idx = int(rng.integers(len(item.scribbles)))
                    sc = davis.read_scribble(item.scribbles[s_idx], item.gt.shape[0],
                                             item.n_objects)
                    start, stop = session_clip(sc, item.gt.shape[0], cfg.clip_frames, rng)
                    if (start, stop) != (0, item.gt.shape[0]):
                        item = clip_item(item, start, stop, cfg, device)
                        sc = clip_scribble(sc, start, stop, item.seq)
                    rec = play_training_session(model, item, sc, cfg.interactions, robot,
                                                record=True)
                    cache += [(item, x) for x in rec.x_dyn]
                    train_js.append(float(np.mean(rec.js)))
                    progress.advance(task)
            model.train()
            losses: list[float] = []
            for epoch in range(cfg.epochs):
                for j in dist.epoch_order(rng.permutation(len(cache))):
                    item, x = cache[int(j)]
                    logits = fwd(item.inputs.x_const, x.to(device, torch.float32),
                                   item.inputs.edge_index, item.inputs.edge_attr)
                    loss = item_loss(logits, item, cfg)
                    opt.zero_grad()
                    loss.backward()
                    if cfg.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    opt.step()
                    losses.append(float(loss.detach()))
                    n_steps += 1
                    progress.update(task, advance=1, description=(
                        f"train round {rnd + 1}/{cfg.rounds} epoch {epoch + 1}/{cfg.epochs}"
                        f" loss {np.mean(losses[-50:]):.4f}"))
                # one line per epoch too: dvc's log is no terminal for the live bar
                log(f"train: round {rnd + 1}/{cfg.rounds} epoch {epoch + 1}/{cfg.epochs} "
                    f"({n_steps} steps) loss {np.mean(losses[-len(cache):]):.4f}; "
                    f"{eta(progress.tasks[0].completed)}", quiet)
            model.eval()
            progress.update(task, description=f"train round {rnd + 1}/{cfg.rounds}: validate")
            val_curve = dist.on_main(validate).mean(axis=0)
            val_j = float(val_curve.mean())
            sched.step(val_j)
            row = {"round": rnd, "steps": n_steps, "train_loss": dist.mean(np.mean(losses)),
                   "train_J": dist.mean(np.mean(train_js)), "val_J": val_j,
                   "val_J_first": float(val_curve[0]), "val_J_last": float(val_curve[-1]),
                   "lr": opt.param_groups[0]["lr"]}
            history.append(row)
            if logger is not None:
                logger(row)
            log(f"train: round {rnd + 1}/{cfg.rounds} ({n_steps} steps) loss "
                f"{row['train_loss']:.4f} train J {row['train_J']:.4f} val J {val_j:.4f}",
                quiet)
            if val_j >= best[0]:  # ties: the later (longer trained) round
                best = (val_j, rnd)
                save(out_path, model, extra={**extra, "round": rnd,
                                                        "val_J": val_j})
    log(f"[green]train:[/] best val J {best[0]:.4f} at round {best[1]}", quiet)
    return {"history": history, "best_round": best[1], "best_val_J": best[0],
            "initial_val_J": initial_j, "steps": n_steps}
