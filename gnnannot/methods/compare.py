"""Run the interactive benchmark for several methods and write comparable outputs.

Outputs under ``out_dir``::

    summary.json                      {method: official-shape summary (auc,
                                       metric_at_threshold, curve)} + "comparison"
    benchmark/<method>/report.csv     the per-row report
    benchmark/<method>/curve.csv      metric vs mean cumulative time (dvc plots)
    benchmark/<method>/per_interaction.csv
    benchmark/per_interaction.csv     one column per method: J after each interaction
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gnnannot.atomic import atomic_file, write_json
from gnnannot.ivos.benchmark import run_benchmark, write_report
from gnnannot.ivos.summary import interaction_rows, write_plot_data
from gnnannot.progress import console


def compare_methods(
    dataset_root: str | os.PathLike[str],
    sequences: Sequence[str],
    methods: dict[str, Callable[[], Any]],
    out_dir: str | os.PathLike[str],
    *,
    summary_path: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    **benchmark_kwargs: Any,
) -> dict[str, Any]:
    """Benchmark each ``methods[name]()`` on ``sequences``; write reports, plot data and
    the combined summary (``summary_path``, default ``out_dir/summary.json``).

    ``benchmark_kwargs`` go to :func:`gnnannot.ivos.benchmark.run_benchmark`. Returns the
    combined summary.
    """
    out = Path(out_dir)
    combined: dict[str, Any] = {}
    per_interaction: dict[str, dict[int, float]] = {}
    metric = benchmark_kwargs.get("metric", "J")
    for name, factory in methods.items():
        report, summary = run_benchmark(
            dataset_root, sequences, factory(), session_id=name, quiet=quiet,
            **benchmark_kwargs,
        )
        method_dir = out / "benchmark" / name
        write_report(method_dir / "report.csv", report)
        write_plot_data(method_dir, report, summary)
        combined[name] = summary
        per_interaction[name] = {r["interaction"]: r[metric] for r in interaction_rows(report)}
        if not quiet:
            at = summary["metric_at_threshold"]
            console.print(
                f"[bold]{name}[/]: {metric} AUC {summary['auc']:.4f}, "
                f"{metric}@{at['threshold']:g}s {at[metric]:.4f}"
            )
    combined["comparison"] = comparison(combined, metric)
    table = pd.DataFrame(per_interaction)
    table.index.name = "interaction"
    with atomic_file(out / "benchmark" / "per_interaction.csv") as tmp:
        table.reset_index().to_csv(tmp, index=False)
    write_json(summary_path or out / "summary.json", combined)
    return combined


def comparison(summaries: dict[str, Any], metric: str = "J") -> dict[str, Any]:
    """Headline numbers: the best baseline's AUC, the GNN's margin over it and its
    fraction of the superpixel oracle (keys present only where the methods ran)."""
    out: dict[str, Any] = {}
    baselines = {k: v["auc"] for k, v in summaries.items()
                 if k in ("nearest_seed", "random_walker")}  # fmt: skip
    if baselines:
        best = max(baselines, key=baselines.__getitem__)
        out["best_baseline"] = best
        out["best_baseline_auc"] = baselines[best]
        if "gnn" in summaries:
            out["gnn_auc_minus_best_baseline"] = summaries["gnn"]["auc"] - baselines[best]
    if "gnn" in summaries and "oracle" in summaries:
        final = summaries["gnn"]["curve"][metric][-1]
        oracle = summaries["oracle"]["curve"][metric][-1]
        out["gnn_final_over_oracle"] = final / oracle if oracle else 0.0
    return out
