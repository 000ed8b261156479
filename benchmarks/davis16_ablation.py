"""Paired ablation on real footage: method variants against a reference on davis16-dev.

Every variant (a method, its options over the real-footage settings of ``params.yaml``,
and optionally the pixel refinement) runs the DAVIS interactive protocol on the same
cached graphs as ``benchmarks/davis16_dev.py``. For each variant minus the reference
(the first variant) the per-session paired differences of J after the first
interaction, mean J over interactions, J AUC, and F after the last interaction are
reported with their 95% bootstrap intervals (:func:`gnnannot.ivos.stats.bootstrap_mean_ci`).
Writes ``--out`` (JSON) and prints a table; ``--reports DIR`` keeps every variant's
per-frame report (pickled DataFrame) for diagnosis.

    python benchmarks/davis16_ablation.py --graphs data/davis16_dev/data/graphs.zarr \\
        --variant ref=random_walker --variant b6=random_walker:beta=6 \\
        --variant ref+refine=random_walker:refine=true
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.davis16_dev import DEFAULT_ROOT  # noqa: E402
from gnnannot.atomic import write_json  # noqa: E402
from gnnannot.data import davis  # noqa: E402
from gnnannot.errors import ConfigError  # noqa: E402
from gnnannot.ivos.benchmark import run_benchmark  # noqa: E402
from gnnannot.ivos.stats import bootstrap_mean_ci  # noqa: E402
from gnnannot.ivos.summary import summarize_report  # noqa: E402
from gnnannot.methods.refine import refine_params, with_refinement  # noqa: E402
from gnnannot.methods.registry import make_method  # noqa: E402


def parse_variant(text: str) -> tuple[str, str, dict[str, Any], bool]:
    """``LABEL=METHOD[:KEY=VALUE,KEY=VALUE...]`` (YAML values; ``refine=true`` turns
    the pixel refinement on) -> (label, method, options, refine)."""
    label, sep, rest = text.partition("=")
    if not sep or not label or not rest:
        raise ConfigError(f"--variant {text!r}: expected LABEL=METHOD[:KEY=VALUE,...]")
    method, _, opts_text = rest.partition(":")
    opts: dict[str, Any] = {}
    for item in filter(None, opts_text.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--variant {text!r}: option {item!r} is not KEY=VALUE")
        opts[key] = yaml.safe_load(value)
    refine = bool(opts.pop("refine", False))
    return label, method, opts, refine


def per_session(report: pd.DataFrame, samples: list[tuple[str, int, int]], n_int: int,
                bench: dict[str, Any]) -> pd.DataFrame:
    """Per session: J after the 1st interaction, mean J over interactions, J AUC, F after
    the last interaction."""
    rows = {}
    for seq, idx, n_obj in samples:
        sub = report[(report["sequence"] == seq) & (report["scribble_idx"] == idx)]
        per = sub.groupby(["interaction", "object_id"])[["jaccard", "contour"]].mean()
        per = per.groupby(level="interaction").mean()
        summ = summarize_report(sub, metric="J", max_time=float(bench.get("max_time", 240)),
                                max_interactions=n_int, samples=[(seq, idx, n_obj)])
        rows[f"{seq}#{idx}"] = {"J1": float(per["jaccard"].iloc[0]),
                                "meanJ": float(per["jaccard"].mean()),
                                "auc": float(summ["auc"]),
                                "J_last": float(per["jaccard"].iloc[-1]),
                                "F_last": float(per["contour"].iloc[-1])}
    return pd.DataFrame(rows).T


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--graphs", type=Path, required=True, help="graphs store of the cache")
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml")
    ap.add_argument("--against", action="append", default=[], metavar="FILE.json:LABEL",
                    help="a variant of an earlier output (not rerun); the first given is "
                         "the reference")
    ap.add_argument("--variant", action="append", default=[],
                    metavar="LABEL=METHOD[:KEY=VALUE,...]")
    ap.add_argument("--sequences", nargs="+", default=None)
    ap.add_argument("--interactions", type=int, default=8)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reports", type=Path, default=None, help="folder for the reports (pickle)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    params = yaml.safe_load(args.params.read_text())
    bench = params.get("benchmark", {})
    real = params.get("davis16_dev") or {}
    refine = refine_params({**(bench.get("refine") or {}), **(real.get("refine") or {}),
                            "enabled": True}, "params.yaml: benchmark.refine")
    robot = bench.get("robot", {})
    seqs = args.sequences or davis.read_split(args.root, "val")
    tables: dict[str, pd.DataFrame] = {}
    out: dict[str, Any] = {"dataset": str(args.root), "graphs": str(args.graphs),
                           "sequences": list(seqs), "interactions": args.interactions,
                           "variants": {}, "paired": {}}
    for item in args.against:
        path, _, label = item.rpartition(":")
        earlier = yaml.safe_load(Path(path).read_text())["variants"][label]
        out["variants"][label] = earlier
        tables[label] = pd.DataFrame(earlier["per_session"]).T
    for text in args.variant:
        label, name, opts, ref = parse_variant(text)
        base = {**((bench.get("options") or {}).get(name) or {}),
                **((real.get("options") or {}).get(name) or {})}
        full = {**base, **opts}
        method = make_method(name, graph_store=args.graphs, dataset_root=args.root,
                             options=full)
        if ref:
            method = with_refinement(method, refine)
        t0 = time.perf_counter()
        report, summary = run_benchmark(
            args.root, seqs, method, max_interactions=args.interactions, metric="J",
            max_time=float(bench.get("max_time", 240)),
            interaction_limit=float(bench.get("interaction_limit", 30)),
            time_threshold=float(bench.get("time_threshold", 60)), session_id=label,
            quiet=True, **{k: robot[k] for k in ("kernel_size", "max_kernel_radius",
                                                 "min_nb_nodes", "nb_points") if k in robot},
        )  # fmt: skip
        if args.reports:
            args.reports.mkdir(parents=True, exist_ok=True)
            report.to_pickle(args.reports / f"{label}.pkl.gz")
        tab = per_session(report, report.attrs["samples"], args.interactions, bench)
        tables[label] = tab
        per_int = report.groupby(["interaction", "sequence", "scribble_idx", "object_id"])[
            ["jaccard", "contour"]].mean().groupby(level="interaction").mean()  # fmt: skip
        out["variants"][label] = {
            "method": name, "options": full, "refine": ref,
            "J_per_interaction": per_int["jaccard"].tolist(),
            "F_per_interaction": per_int["contour"].tolist(),
            "mean_J": float(tab["meanJ"].mean()), "J_auc": float(summary["auc"]),
            "per_session": tab.to_dict(orient="index"),
            "seconds": time.perf_counter() - t0,
        }
        if not args.quiet:
            v = out["variants"][label]
            print(f"{label}: J@1 {v['J_per_interaction'][0]:.3f} mean J {v['mean_J']:.3f} "
                  f"AUC {v['J_auc']:.3f} J@last {v['J_per_interaction'][-1]:.3f} "
                  f"F@last {v['F_per_interaction'][-1]:.3f} ({v['seconds']:.0f} s)",
                  flush=True)
    if not tables:
        raise SystemExit("no variant: give --variant (and/or --against)")
    ref_label = next(iter(tables))
    for label, tab in tables.items():
        if label == ref_label:
            continue
        diff = (tab - tables[ref_label].loc[tab.index]).astype(float)
        out["paired"][f"{label} - {ref_label}"] = {
            col: {"mean": float(diff[col].mean()),
                  "ci95": list(bootstrap_mean_ci(diff[col].to_numpy()))}
            for col in diff.columns}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, out)
    print_table(out)
    return out


def print_table(out: dict[str, Any]) -> None:
    print(f"\n{'variant':28s} {'J@1':>6s} {'mean J':>7s} {'J AUC':>6s} {'J@last':>7s} "
          f"{'F@last':>7s}")
    for label, v in out["variants"].items():
        print(f"{label:28s} {v['J_per_interaction'][0]:6.3f} {v['mean_J']:7.3f} "
              f"{v['J_auc']:6.3f} {v['J_per_interaction'][-1]:7.3f} "
              f"{v['F_per_interaction'][-1]:7.3f}")
    for key, cols in out["paired"].items():
        print(key + ": " + "; ".join(
            f"{c} {d['mean']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"
            for c, d in cols.items()))


if __name__ == "__main__":
    main()
