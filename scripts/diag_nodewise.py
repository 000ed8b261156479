"""Do the per-node inputs carry information the random walker's argmax lacks?

A graph-free MLP on (dynamic features of object k, scale-free constant features, derived
random-walker margins) per node, trained with BCE on nodes sampled from the train caches;
one-shot J of its labels vs the random walker's on the held-out caches."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from diag_train_cache import hard_j  # noqa: E402

from gnnannot.data import davis  # noqa: E402
from gnnannot.model.net import combine_objects  # noqa: E402
from gnnannot.store.graphs import open_graph  # noqa: E402
from gnnannot.training.train import TrainConfig, load_item  # noqa: E402

torch.set_num_threads(1)
t0 = time.time()
cfg = TrainConfig()
seqs = davis.read_split("data/davis", "train")
train_seqs, held_seqs = seqs[:-6], seqs[-6:]
n_train = int(sys.argv[1]) if len(sys.argv) > 1 else 34
train_seqs = train_seqs[:n_train]
items = {s: load_item(open_graph("data/graphs.zarr", s), "data/davis", cfg, "cpu")
         for s in train_seqs + held_seqs}
states = {s: torch.load(f"/tmp/gnn_diag/{s}.pt")["x"] for s in items}
xc_all = torch.cat([items[s].inputs.x_const for s in train_seqs])
mu, sd = xc_all.mean(0), xc_all.std(0).clamp_min(1e-6)


def feats(s, x):
    """(K, N, F) per-node features of state x (K, N, 11)."""
    x = x.float()
    it = items[s]
    k = x.shape[0]
    xc = ((it.inputs.x_const - mu) / sd)[None].expand(k, -1, -1)
    rw, bg = x[..., 9].clamp(0, 1), x[..., 10].clamp(0, 1)
    others = torch.stack([torch.cat([rw[:j], rw[j + 1:]]).max(0).values if k > 1
                          else torch.zeros_like(rw[0]) for j in range(k)])
    comp = torch.maximum(bg, others)
    eps = 1e-4
    derived = torch.stack([rw - comp, torch.log(rw + eps) - torch.log(comp + eps)], -1)
    return torch.nan_to_num(torch.cat([x, derived, xc], -1))


rng = np.random.default_rng(0)
xs, ys, ws = [], [], []
for s in train_seqs:
    it = items[s]
    tg = it.targets  # (K, N)
    for x in states[s]:
        f = feats(s, x)
        n = f.shape[1]
        idx = torch.from_numpy(rng.choice(n, min(n, 3000), replace=False))
        xs.append(f[:, idx].reshape(-1, f.shape[-1]))
        ys.append(tg[:, idx].reshape(-1))
        ws.append(it.pixels[idx].repeat(f.shape[0]))
X, Y, Wt = torch.cat(xs), torch.cat(ys), torch.cat(ws)
Wt = Wt / Wt.mean()
print(f"{X.shape[0]} samples, {X.shape[1]} features, t {time.time() - t0:.0f}s", flush=True)
nf = X.shape[1]
torch.manual_seed(0)
for name, net in [("linear", torch.nn.Linear(nf, 1)),
                  ("mlp", torch.nn.Sequential(torch.nn.Linear(nf, 32), torch.nn.ReLU(),
                                              torch.nn.Linear(32, 32), torch.nn.ReLU(),
                                              torch.nn.Linear(32, 1)))]:
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ep in range(12):
        perm = torch.randperm(X.shape[0])
        for b in range(0, X.shape[0], 4096):
            i = perm[b:b + 4096]
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(
                net(X[i]).squeeze(-1), Y[i], reduction="none") * Wt[i]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    d, dpi = [], []
    with torch.no_grad():
        for s in held_seqs:
            it = items[s]
            row = []
            for x in states[s]:
                lab = np.asarray(combine_objects(torch.sigmoid(net(feats(s, x)).squeeze(-1))))
                diff = x.float()[..., 9] - x.float()[..., 10]
                prior = np.asarray(combine_objects(torch.sigmoid(10 * diff)))
                row.append(hard_j(lab, it) - hard_j(prior, it))
            dpi.append(row)
    dpi = np.asarray(dpi)
    dd = dpi.ravel()
    print(f"{name}: train loss {float(loss.detach()):.4f}; held one-shot dJ {dd.mean():+.4f} "
          f"+-{1.96 * dd.std(ddof=1) / np.sqrt(dd.size):.4f} by interaction "
          f"{np.round(dpi.mean(0), 3)} per video {np.round(dpi.mean(1), 3)} "
          f"t {time.time() - t0:.0f}s", flush=True)
