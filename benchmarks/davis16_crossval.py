"""Train the GNN on real footage and measure it on real footage it never saw.

``../shared/davis16-dev`` has 10 sequences. They are split into ``--folds`` folds
(alternating in alphabetical order: fold 0 = blackswan, car-roundabout, dog, ...); for
each fold a GNN is trained (:func:`gnnannot.training.train.train_model`, the ``train``
section of params.yaml with the real-footage random-walker input of
``davis16_dev.options.random_walker``, overridable with ``--set KEY=VALUE``) on the other
folds' sequences, optionally together with synthetic training videos (``--synthetic``: a
pipeline graphs store and its dataset root), and then the protocol
(:mod:`benchmarks.davis16_dev`) runs the random walker (the best baseline there, with
the same real-footage options) and the fold's GNN on the fold's held-out sequences.
Every sequence is measured exactly once, by a model that never trained on it.

Writes ``metrics/davis16_crossval.json``: per fold the training and held-out sequences,
the training result (validation J of the untrained prior and of the kept round); pooled
over all held-out sessions per method the J after each interaction, the mean J over
interactions, the J AUC (mean of the folds' AUCs weighted by their session counts) and
the paired GNN-minus-walker difference of the per-session mean J with its 95% bootstrap
interval.

    python benchmarks/davis16_crossval.py --graphs data/davis16_dev/data/graphs.zarr
    python benchmarks/davis16_crossval.py --graphs ... --set epochs=8 --set rounds=2
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the train stage (stages/train.py)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import davis16_dev  # noqa: E402

from gnnannot.atomic import write_json  # noqa: E402
from gnnannot.config import from_section  # noqa: E402
from gnnannot.data import davis  # noqa: E402
from gnnannot.ivos.stats import bootstrap_mean_ci  # noqa: E402
from gnnannot.store.graphs import open_graph  # noqa: E402

#: random-walker options that are a decision rule, not an input of the GNN
DECISION_ONLY = ("frame_threshold", "beta", "mixed_seeds", "paint_scribbles")


def folds_of(seqs: list[str], n_folds: int) -> list[list[str]]:
    """``n_folds`` folds of ``seqs`` (sorted), dealt out alternately."""
    ordered = sorted(seqs)
    return [ordered[k::n_folds] for k in range(n_folds)]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s keys, merged into nested mappings."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def train_config(params: dict[str, Any], overrides: list[str]) -> Any:
    """The ``train`` section, with ``davis16_dev.train``'s overrides (what training on
    real footage changes: more interactions per session, features that do not let five
    videos be memorised), the real-footage walker as the GNN's input, then ``--set``."""
    from gnnannot.training.train import TrainConfig

    train = dict(params.get("train") or {})
    train.pop("distributed", None)
    real = (params.get("davis16_dev") or {}).get("train") or {}
    if not isinstance(real, dict):
        raise SystemExit(f"params davis16_dev.train: expected a mapping, found {real!r}")
    train = _merge(train, real)
    walker = {**((params.get("benchmark") or {}).get("options") or {}).get("random_walker", {}),
              **(((params.get("davis16_dev") or {}).get("options") or {})
                 .get("random_walker") or {})}  # fmt: skip
    train["rw_beta"] = float(walker.get("beta", train.get("rw_beta", 4.0)))
    train["rw"] = {k: v for k, v in walker.items() if k not in DECISION_ONLY}
    for item in overrides:
        key, _, value = item.partition("=")
        if not key or not value:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE of the train section")
        node = train
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value)
    return from_section(TrainConfig, train, "davis16_crossval: train")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=davis16_dev.DEFAULT_ROOT)
    ap.add_argument("--graphs", type=Path, help="graphs store of --root (required to train)")
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml")
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--only-fold", type=int, default=None, help="train/measure one fold")
    ap.add_argument("--synthetic", nargs=2, type=Path, default=None,
                    metavar=("ROOT", "GRAPHS"),
                    help="also train on the train split of this synthetic dataset/store")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a train param (YAML value), e.g. epochs=8")
    ap.add_argument("--interactions", type=int, default=8)
    ap.add_argument("--work", type=Path, default=REPO / "data" / "davis16_dev" / "crossval")
    ap.add_argument("--out", type=Path, default=REPO / "metrics" / "davis16_crossval.json")
    ap.add_argument("--merge", nargs="+", type=Path, default=None, metavar="JSON",
                    help="only pool earlier runs' outputs (e.g. of --only-fold 0 and 1, run "
                         "in parallel) into --out")
    ap.add_argument("--final", type=Path, default=None, metavar="CKPT",
                    help="train on ALL sequences into CKPT (no held-out measurement: the "
                         "folds estimate how this procedure does on unseen footage)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.merge:
        return finish(merge_runs(args.merge), args.out)
    if args.graphs is None:
        ap.error("--graphs is required (unless --merge)")
    if args.final is not None:
        return train_final(args)

    from gnnannot.training.train import load_item, train_model

    params = yaml.safe_load(args.params.read_text())
    cfg = train_config(params, args.set)
    seqs = davis.read_split(args.root, "val")
    folds = folds_of(seqs, args.folds)
    synth: list[Any] = []
    if args.synthetic:
        s_root, s_graphs = args.synthetic
        synth = [load_item(open_graph(s_graphs, s), s_root, cfg, cfg.device)
                 for s in davis.read_split(s_root, "train")]
    args.work.mkdir(parents=True, exist_ok=True)
    out_folds = []
    sessions: dict[str, dict[str, list[float]]] = {"random_walker": {}, "gnn": {}}
    aucs: dict[str, list[tuple[float, int]]] = {"random_walker": [], "gnn": []}
    for k, held in enumerate(folds):
        if args.only_fold is not None and k != args.only_fold:
            continue
        train_seqs = [s for s in seqs if s not in held]
        items = [load_item(open_graph(args.graphs, s), args.root, cfg, cfg.device)
                 for s in train_seqs]
        ckpt = args.work / f"fold{k}.pt"
        t0 = time.perf_counter()
        # model selection on the real training videos (never on the held-out fold)
        result = train_model(items + synth, items, cfg, ckpt, device=cfg.device,
                             quiet=args.quiet)
        train_s = time.perf_counter() - t0
        fold_json = args.work / f"fold{k}.json"
        bench = davis16_dev.main([
            "--root", str(args.root), "--graphs", str(args.graphs), "--params",
            str(args.params), "--methods", "random_walker", "gnn", "--checkpoint", str(ckpt),
            "--sequences", *held, "--interactions", str(args.interactions),
            "--out", str(fold_json), *(["--quiet"] if args.quiet else [])])
        add_fold(bench, sessions, aucs)
        out_folds.append({"fold": k, "train": train_seqs, "held_out": held,
                          "synthetic_train_videos": len(synth),
                          "train_seconds": train_s, "best_round": result["best_round"],
                          "initial_val_J": result["initial_val_J"],
                          "best_val_J": result["best_val_J"], "steps": result["steps"],
                          "history": result["history"], "benchmark_json": str(fold_json),
                          "held_out_mean_J": {n: bench["methods"][n]["mean_J"]
                                              for n in sessions}})
    out = pool(str(args.root), out_folds, {k: v for k, v in vars(cfg).items()}, sessions, aucs)
    return finish(out, args.out)


def train_final(args: argparse.Namespace) -> dict[str, Any]:
    """Train on every sequence of ``--root`` into ``--final`` (model selection on them);
    writes ``<final>.json`` with the sequences, the config and the training result."""
    from gnnannot.training.train import load_item, train_model

    params = yaml.safe_load(args.params.read_text())
    cfg = train_config(params, args.set)
    seqs = davis.read_split(args.root, "val")
    items = [load_item(open_graph(args.graphs, s), args.root, cfg, cfg.device) for s in seqs]
    t0 = time.perf_counter()
    result = train_model(items, items, cfg, args.final, device=cfg.device, quiet=args.quiet)
    record = {"dataset": str(args.root), "train": seqs, "train_seconds": time.perf_counter() - t0,
              "train_config": dict(vars(cfg)), **{k: result[k] for k in (
                  "best_round", "initial_val_J", "best_val_J", "steps", "history")}}
    write_json(args.final.with_suffix(".json"), record)
    print(f"{args.final}: trained on {len(seqs)} sequences, val J {result['initial_val_J']:.3f}"
          f" (untrained prior) -> {result['best_val_J']:.3f} (round {result['best_round']})")
    return record


def add_fold(bench: dict[str, Any], sessions: dict[str, dict[str, list[float]]],
             aucs: dict[str, list[tuple[float, int]]]) -> None:
    """Add one fold's benchmark output (:func:`davis16_dev.main`): per method its
    per-session curves and its J AUC with its session count."""
    for name in sessions:
        res = bench["methods"][name]
        sessions[name].update(res["per_session_J"])
        aucs[name].append((float(res["J_auc"]), len(res["per_session_J"])))


def merge_runs(paths: list[Path]) -> dict[str, Any]:
    """Pool the folds of earlier outputs (their per-fold benchmark JSONs hold the
    per-session curves)."""
    runs = [json.loads(p.read_text()) for p in paths]
    folds = sorted((f for r in runs for f in r["folds"]), key=lambda f: f["fold"])
    if len({f["fold"] for f in folds}) != len(folds):
        raise SystemExit(f"--merge: a fold appears twice in {[str(p) for p in paths]}")
    configs = {yaml.safe_dump(r["train_config"]) for r in runs}
    if len(configs) != 1:
        raise SystemExit("--merge: the runs were trained with different train configs")
    sessions: dict[str, dict[str, list[float]]] = {"random_walker": {}, "gnn": {}}
    aucs: dict[str, list[tuple[float, int]]] = {"random_walker": [], "gnn": []}
    for f in folds:
        bench = json.loads(Path(f["benchmark_json"]).read_text())
        add_fold(bench, sessions, aucs)
    return pool(runs[0]["dataset"], folds, runs[0]["train_config"], sessions, aucs)


def pool(dataset: str, out_folds: list[dict[str, Any]], train_config: dict[str, Any],
         sessions: dict[str, dict[str, list[float]]],
         aucs: dict[str, list[tuple[float, int]]]) -> dict[str, Any]:
    """Per method the curves pooled over every held-out session; the paired difference."""
    pooled: dict[str, Any] = {}
    for name, per in sessions.items():
        curves = np.asarray([per[s] for s in sorted(per)])
        w = np.asarray([n for _, n in aucs[name]], float)
        pooled[name] = {
            "J_per_interaction": curves.mean(axis=0).tolist(),
            "mean_J": float(curves.mean()),
            "J_auc": float(np.dot([a for a, _ in aucs[name]], w) / w.sum()),
            "sessions": len(per),
        }
    keys = sorted(sessions["gnn"])
    diff = np.asarray([np.mean(sessions["gnn"][s]) - np.mean(sessions["random_walker"][s])
                       for s in keys])
    lo, hi = bootstrap_mean_ci(diff)
    return {"dataset": dataset, "folds": out_folds, "train_config": train_config,
            "methods": pooled,
        "gnn_minus_random_walker_mean_J": {
            "mean": float(diff.mean()), "ci95": [lo, hi], "n_sessions": int(diff.size),
            "better": int((diff > 0).sum()), "worse": int((diff < 0).sum()),
            "per_session": dict(zip(keys, diff.tolist(), strict=True))}}


def finish(out: dict[str, Any], path: Path) -> dict[str, Any]:
    """Write ``out`` to ``path`` and print the table."""
    write_json(path, out)
    print(f"\n{'method':16s} {'J@1':>6s} {'J@last':>7s} {'mean J':>7s} {'J AUC':>6s}")
    for name, r in out["methods"].items():
        print(f"{name:16s} {r['J_per_interaction'][0]:6.3f} {r['J_per_interaction'][-1]:7.3f} "
              f"{r['mean_J']:7.3f} {r['J_auc']:6.3f}")
    g = out["gnn_minus_random_walker_mean_J"]
    print(f"gnn - random_walker mean J: {g['mean']:+.3f} [{g['ci95'][0]:+.3f}, "
          f"{g['ci95'][1]:+.3f}] over {g['n_sessions']} held-out sessions "
          f"({g['better']} better, {g['worse']} worse)")
    return out


if __name__ == "__main__":
    main()
