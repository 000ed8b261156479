"""Run the interactive benchmark for several methods and write comparable outputs.

Outputs under ``out_dir``::

    summary.json                      {method: official summary (auc, metric_at_threshold,
                                       curve) + sessions, J and J_AND_F statistics},
                                       "paired": {metric: {"A - B": difference}},
                                       "comparison": headline numbers
    benchmark/<method>/report.csv     the per-row report
    benchmark/<method>/curve.csv      metric vs mean cumulative time (dvc plots)
    benchmark/<method>/per_interaction.csv
    benchmark/per_interaction.csv     one column per method: J after each interaction
    benchmark/J_intervals.csv         method, interaction, J, low, high (95% intervals)
    benchmark/J_AND_F_intervals.csv   the same for J&F
    benchmark/paired.csv              metric, a, b, sequence, scribble_idx, a, b, difference

Statistics (:mod:`gnnannot.ivos.stats`): per method the mean after each interaction and
the mean over interactions, with cluster-bootstrap 95% intervals over sessions (a session
is one (sequence, starting scribble)); for every pair of methods the paired difference
per session of the mean over interactions, with a bootstrap 95% interval.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from gnnannot.atomic import atomic_file, write_json
from gnnannot.errors import DataError
from gnnannot.ivos.benchmark import run_benchmark, write_report
from gnnannot.ivos.stats import (
    BOOTSTRAP_DEFAULTS,
    method_statistics,
    object_scores,
    paired_difference,
    session_means,
)
from gnnannot.ivos.summary import interaction_rows, samples_from_report, write_plot_data
from gnnannot.progress import console

STAT_METRICS = ("J", "J_AND_F")


def compare_methods(
    dataset_root: str | os.PathLike[str],
    sequences: Sequence[str],
    methods: dict[str, Callable[[], Any]],
    out_dir: str | os.PathLike[str],
    *,
    summary_path: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    bootstrap: dict[str, Any] | None = None,
    roles: dict[str, str] | None = None,
    **benchmark_kwargs: Any,
) -> dict[str, Any]:
    """Benchmark each method (``methods[name]`` is a factory making it; picklable for
    ``workers > 1``) on ``sequences``; write reports, plot data, intervals and the combined
    summary (``summary_path``, default ``out_dir/summary.json``); print the table.

    ``benchmark_kwargs`` go to :func:`gnnannot.ivos.benchmark.run_benchmark`;
    ``bootstrap``: ``n_boot``, ``seed``, ``level`` (defaults ``BOOTSTRAP_DEFAULTS``);
    ``roles``: each method's role in the headline ``comparison`` (:func:`comparison`;
    none: no headline numbers). Returns the combined summary.
    """
    out = Path(out_dir)
    official: dict[str, Any] = {}
    reports: dict[str, pd.DataFrame] = {}
    metric = benchmark_kwargs.get("metric", "J")
    for name, factory in methods.items():
        report, summary = run_benchmark(
            dataset_root, sequences, factory, session_id=name, quiet=quiet,
            **benchmark_kwargs,
        )
        method_dir = out / "benchmark" / name
        write_report(method_dir / "report.csv", report)
        write_plot_data(method_dir, report, summary)
        official[name] = summary
        reports[name] = report
    max_i = int(benchmark_kwargs.get("max_interactions", 8))
    stats = statistics(reports, max_i, **(bootstrap or {}))
    combined = {name: {**official[name], **stats["methods"][name]} for name in methods}
    combined["paired"] = stats["paired"]
    combined["comparison"] = comparison(combined, roles, metric)
    write_statistics(out / "benchmark", reports, combined, stats["sessions"])
    write_json(summary_path or out / "summary.json", combined)
    if not quiet:
        print_tables(combined)
    return combined


def _pairs(names: list[str]) -> list[tuple[str, str]]:
    """Every pair once, the later-listed method first (``gnn - random_walker`` for the
    order baselines..., gnn)."""
    return [(b, a) for a, b in itertools.combinations(names, 2)]


def statistics(
    reports: dict[str, pd.DataFrame], max_interactions: int, **bootstrap: Any
) -> dict[str, Any]:
    """``{"methods": {name: {"sessions", "J": {...}, "J_AND_F": {...}}}, "paired":
    {metric: {"A - B": {...}}}, "sessions": {metric: {name: per-session Series}}}`` for
    reports of the same sessions (``report.attrs["samples"]`` when present)."""
    boot = {**BOOTSTRAP_DEFAULTS, **bootstrap}
    methods: dict[str, Any] = {}
    per_session: dict[str, dict[str, pd.Series]] = {m: {} for m in STAT_METRICS}
    for name, report in reports.items():
        samples = report.attrs.get("samples") or samples_from_report(report)
        if not samples:
            raise DataError(f"report of {name!r}: no session")
        scores = object_scores(report, samples, max_interactions)
        entry: dict[str, Any] = {"sessions": len(samples)}
        for m in STAT_METRICS:
            st = method_statistics(scores, m, **boot)
            entry[m] = {k: v for k, v in st.items() if k != "sessions"}
            per_session[m][name] = session_means(scores, m)
        methods[name] = entry
    paired: dict[str, Any] = {m: {} for m in STAT_METRICS}
    for m in STAT_METRICS:
        for a, b in _pairs(list(reports)):
            paired[m][f"{a} - {b}"] = paired_difference(
                per_session[m][a], per_session[m][b], **boot)
    return {"methods": methods, "paired": paired, "sessions": per_session}


def write_statistics(
    out: Path,
    reports: dict[str, pd.DataFrame],
    combined: dict[str, Any],
    per_session: dict[str, dict[str, pd.Series]],
) -> None:
    """Write ``per_interaction.csv``, ``<metric>_intervals.csv`` and ``paired.csv``."""
    names = list(reports)
    table = pd.DataFrame({n: {r["interaction"]: r["J"] for r in interaction_rows(reports[n])}
                          for n in names})
    table.index.name = "interaction"
    with atomic_file(out / "per_interaction.csv") as tmp:
        table.reset_index().to_csv(tmp, index=False)
    for m in STAT_METRICS:
        rows = []
        for n in names:
            st = combined[n][m]
            for i, (v, (lo, hi)) in enumerate(
                zip(st["per_interaction"], st["per_interaction_ci"], strict=True), start=1
            ):
                rows.append({"method": n, "interaction": i, m: v, "low": lo, "high": hi})
        with atomic_file(out / f"{m}_intervals.csv") as tmp:
            pd.DataFrame(rows, columns=["method", "interaction", m, "low", "high"]).to_csv(
                tmp, index=False)
    rows = []
    for m in STAT_METRICS:
        for a, b in _pairs(names):
            sa, sb = per_session[m][a], per_session[m][b].reindex(per_session[m][a].index)
            for (seq, idx), va in sa.items():
                vb = float(sb[(seq, idx)])
                rows.append({"metric": m, "a": a, "b": b, "sequence": seq,
                             "scribble_idx": int(idx), "a_score": float(va),
                             "b_score": vb, "difference": float(va) - vb})
    with atomic_file(out / "paired.csv") as tmp:
        pd.DataFrame(rows, columns=["metric", "a", "b", "sequence", "scribble_idx",
                                    "a_score", "b_score", "difference"]).to_csv(
            tmp, index=False)


def _ci(values: Sequence[float]) -> str:
    return f"[{values[0]:.3f}, {values[1]:.3f}]"


def method_table(combined: dict[str, Any]) -> Table:
    """Rich table: per method sessions, J AUC, J@threshold (when present), mean J over
    interactions, J after the last interaction and mean J&F, each with its 95% interval."""
    t = Table(title="Interactive benchmark (95% bootstrap intervals over sessions)")
    for col in ("method", "sessions", "J AUC", "J@60s", "J mean [95%]", "J last [95%]",
                "J&F mean [95%]"):
        t.add_column(col, justify="left" if col == "method" else "right", no_wrap=True)
    for name, s in combined.items():
        if not isinstance(s, dict) or "J" not in s or "sessions" not in s:
            continue
        at = s.get("metric_at_threshold", {})
        at_v = next((v for k, v in at.items() if k != "threshold"), None)
        j, jf = s["J"], s["J_AND_F"]
        t.add_row(
            name, str(s["sessions"]),
            f"{s['auc']:.3f}" if "auc" in s else "-",
            f"{at_v:.3f}" if at_v is not None else "-",
            f"{j['mean']:.3f} {_ci(j['mean_ci'])}",
            f"{j['per_interaction'][-1]:.3f} {_ci(j['per_interaction_ci'][-1])}",
            f"{jf['mean']:.3f} {_ci(jf['mean_ci'])}",
        )
    return t


def paired_table(combined: dict[str, Any], metric: str = "J") -> Table:
    """Rich table of the paired differences (A - B) of the per-session mean over
    interactions."""
    t = Table(title=f"Paired difference per session, mean {metric} over interactions")
    for col in ("A - B", "sessions", "mean", "95% interval", "A better", "B better"):
        t.add_column(col, justify="left" if col == "A - B" else "right", no_wrap=True)
    for pair, d in combined.get("paired", {}).get(metric, {}).items():
        sig = "" if d["ci"][0] <= 0.0 <= d["ci"][1] else " *"
        t.add_row(pair, str(d["sessions"]), f"{d['mean']:+.4f}{sig}",
                  f"[{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]", str(d["a_better"]),
                  str(d["b_better"]))
    return t


def print_tables(combined: dict[str, Any]) -> None:
    """Print the method table and the paired-difference table (``*``: interval excludes 0)
    on stdout, whatever the terminal width."""
    out = Console(width=max(console.width, 120))
    out.print(method_table(combined))
    out.print(paired_table(combined, "J"))


def comparison(
    summaries: dict[str, Any], roles: dict[str, str] | None = None, metric: str = "J"
) -> dict[str, Any]:
    """Headline numbers from the methods' ``roles`` (``{name: "baseline" | "candidate" |
    "bound"}``, e.g. :func:`gnnannot.methods.registry.method_roles`; methods without a role
    are left out): the best baseline by AUC and its AUC; per candidate ``C`` its AUC margin
    over the best baseline (``C_auc_minus_best_baseline``) and, per bound ``B``, the ratio
    of its final ``metric`` to the bound's (``C_final_over_B``). Keys appear only where the
    methods ran."""
    roles = roles or {}
    ran = [n for n in summaries if n in roles and isinstance(summaries[n], dict)]
    of = {r: [n for n in ran if roles[n] == r] for r in ("baseline", "candidate", "bound")}
    out: dict[str, Any] = {}
    best = max(of["baseline"], key=lambda n: summaries[n]["auc"], default=None)
    if best is not None:
        out["best_baseline"] = best
        out["best_baseline_auc"] = summaries[best]["auc"]
        for c in of["candidate"]:
            out[f"{c}_auc_minus_best_baseline"] = summaries[c]["auc"] - summaries[best]["auc"]
    for c in of["candidate"]:
        for b in of["bound"]:
            final = summaries[c]["curve"][metric][-1]
            bound = summaries[b]["curve"][metric][-1]
            out[f"{c}_final_over_{b}"] = final / bound if bound else 0.0
    return out
