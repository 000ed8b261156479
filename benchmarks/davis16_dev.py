"""Real-footage benchmark: the DAVIS interactive protocol on ``../shared/davis16-dev``.

Every method (and, with ``--before``, each baseline as it was before the real-footage
fixes: plain colour random walker, latest-wins superpixel seeds, no scribble painting)
runs the protocol (one first scribble per sequence, then robot scribbles, 8
interactions) on the same cached graphs. Prints a table and writes
``metrics/davis16_dev.json``: per method the J after each interaction, the mean J over
interactions, the J AUC and J@60s (official shape), J after the first scribble by
distance (frames) from the scribbled frame, and the paired GNN-minus-best-baseline
difference of the per-session mean J with its 95% bootstrap interval. With ``--refine``
every method also runs with the pixel refinement (``METHOD@refined``; ``benchmark.refine``
of params.yaml, overridden by ``davis16_dev.refine``), with the refined-minus-raw paired
differences of mean J and of J and F after the last interaction.

Method options: ``benchmark.options`` of params.yaml, overridden by its
``davis16_dev.options`` (the real-footage settings) and then by ``--option``.

Preprocessing (flow, superpixels, features, graphs with the current ``params.yaml``) is
built into ``--cache`` (default ``data/davis16_dev``) on first use, incremental per video;
``--graphs`` uses an existing graphs store instead.

    python benchmarks/davis16_dev.py                       # all 10 sequences
    python benchmarks/davis16_dev.py --refine --graphs data/davis16_dev/data/graphs.zarr
    python benchmarks/davis16_dev.py --sequences blackswan dog --interactions 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gnnannot.atomic import write_json  # noqa: E402
from gnnannot.data import davis  # noqa: E402
from gnnannot.ivos.benchmark import run_benchmark  # noqa: E402
from gnnannot.ivos.scribbles import annotated_frames  # noqa: E402
from gnnannot.ivos.stats import bootstrap_mean_ci  # noqa: E402
from gnnannot.ivos.summary import interaction_rows  # noqa: E402
from gnnannot.methods.baselines import PLAIN_WALKER  # noqa: E402
from gnnannot.methods.refine import refine_params, with_refinement  # noqa: E402
from gnnannot.methods.registry import make_method  # noqa: E402

# ../shared/davis16-dev of the main checkout (or of a worktree's parent); $GNNANNOT_DAVIS16_DEV
_CANDIDATES = [REPO.parent / "shared" / "davis16-dev", REPO.parents[1] / "shared" / "davis16-dev"]
DEFAULT_ROOT = Path(os.environ.get("GNNANNOT_DAVIS16_DEV") or next(
    (c for c in _CANDIDATES if c.is_dir()), _CANDIDATES[0]))
BASELINES = ("nearest_seed", "random_walker")
# the methods as they were before the real-footage fixes (for before/after tables)
BEFORE: dict[str, tuple[str, dict[str, Any]]] = {
    "random_walker@before": ("random_walker", dict(
        PLAIN_WALKER, mixed_seeds="latest", paint_scribbles=False)),
    "nearest_seed@before": ("nearest_seed", dict(mixed_seeds="latest",
                                                 paint_scribbles=False)),
}  # fmt: skip
DISTANCE_BINS = ((0, 0), (1, 5), (6, 10), (11, 20), (21, 40), (41, 10**9))


def build_cache(root: Path, cache: Path, params: dict[str, Any], quiet: bool) -> Path:
    """Run the flow..graphs stages on ``root`` into ``cache/data``; the graphs store."""
    from stages import features, flow, graphs, superpixels

    data = cache / "data"
    data.mkdir(parents=True, exist_ok=True)
    paths = {"root": str(root.resolve()), "flow": str(data / "flow.zarr"),
             "superpixels": str(data / "superpixels.zarr"),
             "features": str(data / "features.zarr"), "graphs": str(data / "graphs.zarr")}
    for name, stage in (("flow", flow), ("superpixels", superpixels),
                        ("features", features), ("graphs", graphs)):
        stage.run(params, argparse.Namespace(**paths, out=paths[name], quiet=quiet))
    return data / "graphs.zarr"


def session_means(report: pd.DataFrame, column: str = "jaccard") -> pd.DataFrame:
    """(session x interaction) J (or ``column``): mean over frames per object, then over
    objects."""
    per_obj = report.groupby(["sequence", "scribble_idx", "interaction", "object_id"])[
        column].mean()  # fmt: skip
    return per_obj.groupby(level=["sequence", "scribble_idx", "interaction"]).mean().unstack()


def distance_profile(report: pd.DataFrame, root: Path) -> dict[str, float]:
    """J after the first interaction by distance (frames) from the nearest scribbled frame."""
    first = report[report["interaction"] == 1]
    rows = []
    for (seq, idx), df in first.groupby(["sequence", "scribble_idx"]):
        scr = davis.read_scribble(davis.scribble_paths(root, seq)[int(idx) - 1])
        marked = np.array(annotated_frames(scr))
        dist = np.abs(df["frame"].to_numpy()[:, None] - marked[None, :]).min(axis=1)
        rows.append(pd.DataFrame({"d": dist, "j": df["jaccard"].to_numpy()}))
    allr = pd.concat(rows)
    out = {}
    for lo, hi in DISTANCE_BINS:
        sel = allr[(allr.d >= lo) & (allr.d <= hi)]
        key = f"{lo}" if lo == hi else (f">{lo - 1}" if hi >= 10**9 else f"{lo}-{hi}")
        if len(sel):
            out[key] = float(sel.j.mean())
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="DAVIS-layout dataset")
    ap.add_argument("--cache", type=Path, default=REPO / "data" / "davis16_dev")
    ap.add_argument("--graphs", type=Path, default=None, help="existing graphs store")
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml")
    ap.add_argument("--methods", nargs="+",
                    default=["nearest_seed", "random_walker", "oracle", "gnn"])  # fmt: skip
    ap.add_argument("--before", action="store_true",
                    help="also run the baselines as they were before the fixes")
    ap.add_argument("--checkpoint", type=Path, default=REPO / "models" / "model.pt")
    ap.add_argument("--sequences", nargs="+", default=None)
    ap.add_argument("--interactions", type=int, default=8)
    ap.add_argument("--out", type=Path, default=REPO / "metrics" / "davis16_dev.json")
    ap.add_argument("--option", action="append", default=[], metavar="METHOD.KEY=VALUE",
                    help="override a method option of params.yaml (YAML value), e.g. "
                         "random_walker.frame_threshold=0.5")
    ap.add_argument("--refine", action="store_true",
                    help="also run every graph method with the pixel refinement "
                         "(benchmark.refine of params.yaml, then davis16_dev.refine) as "
                         "METHOD@refined")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    params = yaml.safe_load(args.params.read_text())
    bench = params.get("benchmark", {})
    seqs = args.sequences or davis.read_split(args.root, "val")
    graphs = args.graphs or build_cache(args.root, args.cache, params, args.quiet)
    variants: dict[str, tuple[str, dict[str, Any]]] = {}
    for name in args.methods:
        if name == "gnn" and not args.checkpoint.exists():
            print(f"skipping gnn: no checkpoint {args.checkpoint}")
            continue
        real = ((params.get("davis16_dev") or {}).get("options") or {}).get(name) or {}
        variants[name] = (name, {**((bench.get("options") or {}).get(name) or {}), **real})
        if args.before and f"{name}@before" in BEFORE:
            variants[f"{name}@before"] = BEFORE[f"{name}@before"]
    for item in args.option:
        key, _, value = item.partition("=")
        meth, _, opt = key.partition(".")
        if meth not in variants or not opt or not value:
            raise SystemExit(f"--option {item!r}: expected METHOD.KEY=VALUE for a method run")
        variants[meth][1][opt] = yaml.safe_load(value)
    refine = refine_params({**(bench.get("refine") or {}),
                            **((params.get("davis16_dev") or {}).get("refine") or {}),
                            "enabled": True}, "params.yaml: davis16_dev.refine")
    if args.refine:
        for label in [k for k in variants if "@" not in k]:
            variants[f"{label}@refined"] = variants[label]
    variants = dict(sorted(variants.items(), key=lambda kv: list(variants).index(
        kv[0].partition("@")[0])))  # each method next to its refined variant
    robot = bench.get("robot", {})
    results: dict[str, Any] = {}
    sessions: dict[str, pd.Series] = {}
    last: dict[str, tuple[pd.Series, pd.Series]] = {}  # per session J, F at the last one
    for label, (name, opts) in variants.items():
        method = make_method(name, graph_store=graphs, dataset_root=args.root,
                             checkpoint=args.checkpoint if name == "gnn" else None,
                             options=opts)  # fmt: skip
        if label.endswith("@refined"):
            method = with_refinement(method, refine)
        t0 = time.perf_counter()
        report, summary = run_benchmark(
            args.root, seqs, method, max_interactions=args.interactions,
            metric="J", max_time=float(bench.get("max_time", 240)),
            interaction_limit=float(bench.get("interaction_limit", 30)),
            time_threshold=float(bench.get("time_threshold", 60)),
            session_id=label, quiet=args.quiet,
            **{k: robot[k] for k in ("kernel_size", "max_kernel_radius", "min_nb_nodes",
                                     "nb_points") if k in robot},
        )  # fmt: skip
        per_int = session_means(report)
        sessions[label] = per_int.mean(axis=1)
        last[label] = (per_int.iloc[:, -1], session_means(report, "contour").iloc[:, -1])
        results[label] = {
            "method": name, "options": opts,
            "refine": label.endswith("@refined"),
            "J_per_interaction": [r["J"] for r in interaction_rows(report)],
            "F_per_interaction": [r["F"] for r in interaction_rows(report)],
            "mean_J": float(per_int.mean(axis=1).mean()),
            "J_auc": float(summary["auc"]),
            "J_at_threshold": float(summary["metric_at_threshold"]["J"]),
            "J_first_by_distance": distance_profile(report, args.root),
            "per_session_J_first": {f"{s}#{i}": float(v) for (s, i), v
                                    in per_int[1].items()},
            "per_session_J": {f"{s}#{i}": [float(x) for x in row] for (s, i), row
                              in per_int.iterrows()},
            "seconds": time.perf_counter() - t0,
        }  # fmt: skip
        if not args.quiet:
            print(f"{label}: mean J {results[label]['mean_J']:.3f} "
                  f"({results[label]['seconds']:.0f} s)", flush=True)
    comparison: dict[str, Any] = {}
    base = [b for b in BASELINES if b in results]
    if base:
        best = max(base, key=lambda b: results[b]["mean_J"])
        comparison["best_baseline"] = best
        for other in [m for m in ("gnn",) if m in results]:
            diff = (sessions[other] - sessions[best]).to_numpy()
            lo, hi = bootstrap_mean_ci(diff)
            comparison[f"{other}_minus_{best}_mean_J"] = {
                "mean": float(diff.mean()), "ci95": [lo, hi], "n_sessions": int(diff.size)}
    for label in [k for k in results if k.endswith("@refined")]:
        raw = label.removesuffix("@refined")
        if raw not in results:
            continue
        entry = {}
        for key, a, b in (("mean_J", sessions[label], sessions[raw]),
                          ("J_last", last[label][0], last[raw][0]),
                          ("F_last", last[label][1], last[raw][1])):
            diff = (a - b).to_numpy()
            lo, hi = bootstrap_mean_ci(diff)
            entry[key] = {"mean": float(diff.mean()), "ci95": [lo, hi]}
        comparison[f"{label}_minus_{raw}"] = entry
    out = {"dataset": str(args.root), "sequences": list(seqs),
           "interactions": args.interactions, "methods": results, "comparison": comparison}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, out)
    print_table(out)
    return out


def print_table(out: dict[str, Any]) -> None:
    """The headline table: J after the 1st and last interaction, mean J, J AUC."""
    print(f"\n{'method':24s} {'J@1':>6s} {'J@last':>7s} {'mean J':>7s} {'J AUC':>6s} "
          f"{'F@last':>7s} {'J@1 >20 fr away':>16s}")
    for label, r in out["methods"].items():
        far = [v for k, v in r["J_first_by_distance"].items() if k in ("21-40", ">40")]
        print(f"{label:24s} {r['J_per_interaction'][0]:6.3f} {r['J_per_interaction'][-1]:7.3f} "
              f"{r['mean_J']:7.3f} {r['J_auc']:6.3f} {r['F_per_interaction'][-1]:7.3f} "
              f"{(np.mean(far) if far else float('nan')):16.3f}")
    for key, v in out["comparison"].items():
        if isinstance(v, dict) and "mean" not in v:
            print(f"{key}: " + "; ".join(
                f"{k} {d['mean']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"
                for k, d in v.items()))
        elif isinstance(v, dict):
            print(f"{key}: {v['mean']:+.3f} [{v['ci95'][0]:+.3f}, {v['ci95'][1]:+.3f}] "
                  f"over {v['n_sessions']} sessions")


if __name__ == "__main__":
    main()
