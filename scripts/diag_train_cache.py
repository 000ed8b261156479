"""Diagnosis of GNN training on cached random-walker session states (issue 14).

    OPENBLAS_NUM_THREADS=1 python scripts/diag_train_cache.py cache --interactions 6
    OPENBLAS_NUM_THREADS=1 python scripts/diag_train_cache.py train --steps 600

``cache``: play one random-walker session per train-split video (the untrained network
with the random-walker prior == the random walker) and save the dynamic inputs of every
interaction under ``--cache``. ``train``: train a fresh network on the caches of all but
the last ``--n-held`` videos, one Adam step per cached state, and every ``--eval-every``
steps print the held-out ONE-SHOT J difference, model vs prior, on the same fixed cached
states (superpixel-level J, mean over objects and frames), per interaction, with the
prior scale ``a`` and the norm of the last readout layer (is the residual learning?).
This separates "the inputs/model cannot improve on the walker" from session dynamics
and model-selection noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gnnannot.data import davis  # noqa: E402
from gnnannot.ivos.robot import ScribbleRobot  # noqa: E402
from gnnannot.methods.gnn import model_params  # noqa: E402
from gnnannot.model.net import GNNAnnot, combine_objects  # noqa: E402
from gnnannot.store.graphs import open_graph  # noqa: E402
from gnnannot.training.train import (  # noqa: E402
    TrainConfig,
    feature_stats,
    first_scribble,
    item_loss,
    load_item,
    play_training_session,
)

torch.set_num_threads(2)


def hard_j(labels: np.ndarray, item) -> float:
    """Superpixel-level mean J over objects and frames of node labels (N,)."""
    k, t = item.n_objects, item.graph.n_frames
    obj = item.obj_pixels.numpy().astype(np.float64)  # (K, N)
    pix = item.pixels.numpy().astype(np.float64)
    nf = item.node_frame.numpy()
    js = np.zeros((k, t))
    for o in range(k):
        sel = labels == o + 1
        inter = np.bincount(nf[sel], weights=obj[o, sel], minlength=t)
        predp = np.bincount(nf[sel], weights=pix[sel], minlength=t)
        gtp = np.bincount(nf, weights=obj[o], minlength=t)
        union = predp + gtp - inter
        js[o] = np.where(union > 0, inter / np.maximum(union, 1e-9), 1.0)
    return float(js.mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["cache", "train"])
    ap.add_argument("--root", default="data/davis")
    ap.add_argument("--graphs", default="data/graphs.zarr")
    ap.add_argument("--cache", default="/tmp/gnn_diag")
    ap.add_argument("--n-held", type=int, default=6)
    ap.add_argument("--interactions", type=int, default=6)
    ap.add_argument("--split", default="train")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--model", default="{}")
    ap.add_argument("--jw", type=float, default=1.0)
    ap.add_argument("--bw", type=float, default=1.0)
    ap.add_argument("--fix-scale", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reverse", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=0)
    ap.add_argument("--drop-features", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = TrainConfig()
    seqs = davis.read_split(args.root, args.split)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if args.phase == "cache":
        if args.reverse:
            seqs = seqs[::-1][:20]
        items = [load_item(open_graph(args.graphs, s), args.root, cfg, "cpu") for s in seqs]
        from gnnannot.training.train import build_model
        model = build_model(items, cfg, "cpu").eval()
        robot = ScribbleRobot()
        for it in items:
            out = cache / f"{it.seq}.pt"
            lock = cache / f"{it.seq}.lock"
            if out.exists() or lock.exists():
                continue
            lock.touch()
            t1 = time.time()
            with torch.no_grad():
                rec = play_training_session(model, it, first_scribble(it), args.interactions,
                                            robot, record=True)
            torch.save({"x": rec.x_dyn, "js": rec.js}, out)
            print(f"{it.seq}: N {it.graph.n_nodes} K {it.n_objects} J {np.round(rec.js, 3)} "
                  f"{time.time() - t1:.1f}s", flush=True)
        return
    # train phase
    train_seqs, held_seqs = seqs[: len(seqs) - args.n_held], seqs[len(seqs) - args.n_held:]
    if args.n_train:
        train_seqs = train_seqs[: args.n_train]
    items = {s: load_item(open_graph(args.graphs, s), args.root, cfg, "cpu")
             for s in train_seqs + held_seqs}
    states = {s: torch.load(cache / f"{s}.pt")["x"] for s in items}
    mp = model_params(items[train_seqs[0]].graph, {**cfg.model, **json.loads(args.model)})
    torch.manual_seed(args.seed)
    model = GNNAnnot.from_params(mp)
    model.set_normalization(**feature_stats([items[s] for s in train_seqs]))
    drop = [mp["dyn_features"].index(f) for f in args.drop_features.split(",") if f]
    params = [p for n, p in model.named_parameters()
              if not (args.fix_scale and n == "prior_log_scale")]
    opt = torch.optim.Adam(params, lr=args.lr, weight_decay=args.wd)
    train_pairs = [(s, i) for s in train_seqs for i in range(len(states[s]))]
    held_pairs = [(s, i) for s in held_seqs for i in range(len(states[s]))]
    rng = np.random.default_rng(args.seed)

    def xd(s, i):
        x = states[s][i].float()
        if drop:
            x = x.clone()
            x[..., drop] = 0.0
        return x

    def prior_labels(s, i):
        x = states[s][i].float()
        diff = x[..., -2] - x[..., -1]
        return np.asarray(combine_objects(torch.sigmoid(10 * diff)))

    prior_j = {p: hard_j(prior_labels(*p), items[p[0]]) for p in held_pairs}
    oracle = {}
    for s in held_seqs:
        it = items[s]
        tg = it.targets.numpy()
        full = np.concatenate([1 - tg.sum(0, keepdims=True), tg])
        lab = full.argmax(0)
        oracle[s] = hard_j(lab, it)
    pj = np.mean(list(prior_j.values()))
    print(f"held-out prior one-shot J {pj:.4f}; oracle {np.mean(list(oracle.values())):.4f};"
          f" {len(train_pairs)} train states, {len(held_pairs)} held", flush=True)

    def evaluate(tag):
        model.eval()
        d, dh, flips = [], [], 0
        with torch.no_grad():
            for p in held_pairs:
                it = items[p[0]]
                lg = model(it.inputs.x_const, xd(*p), it.inputs.edge_index, it.inputs.edge_attr)
                lab = np.asarray(combine_objects(torch.sigmoid(lg)))
                flips += int((lab != prior_labels(*p)).sum())
                j = hard_j(lab, it)
                d.append(j - prior_j[p])
                dh.append(float(item_loss(lg, it, cfg)))
        model.train()
        d = np.asarray(d)
        se = d.std(ddof=1) / np.sqrt(len(d))
        sc = float(model.prior_log_scale.detach().exp()) if model.prior_log_scale is not None else 0
        w = float(model.readout[-1].weight.norm())
        print(f"[{tag}] held one-shot dJ {d.mean():+.4f} +-{1.96 * se:.4f} "
              f"(by interaction {np.round(d.reshape(len(held_seqs), -1).mean(0), 3)}) "
              f"held loss {np.mean(dh):.4f} flips {flips} a {sc:.2f} |w_last| {w:.3f} "
              f"t {time.time() - t0:.0f}s", flush=True)
        return d.mean()

    evaluate("init")
    losses = []
    step = 0
    while step < args.steps:
        for j in rng.permutation(len(train_pairs)):
            s, i = train_pairs[j]
            it = items[s]
            lg = model(it.inputs.x_const, xd(s, i), it.inputs.edge_index, it.inputs.edge_attr)
            tcfg = TrainConfig(jaccard_weight=args.jw, bce_weight=args.bw)
            loss = item_loss(lg, it, tcfg)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(float(loss))
            step += 1
            if step % args.eval_every == 0:
                print(f"step {step} train loss {np.mean(losses[-args.eval_every:]):.4f}",
                      flush=True)
                evaluate(f"step {step}")
            if step >= args.steps:
                break


if __name__ == "__main__":
    main()
