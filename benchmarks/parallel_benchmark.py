"""Speed-up of the interactive benchmark with sessions in parallel processes.

Runs :func:`gnnannot.ivos.benchmark.run_benchmark` on the same sessions with 1, 2, ...
worker processes (one torch/BLAS thread each) and reports the wall time, sessions per
second, the speed-up over one worker, and whether every score (J, F per frame, object,
interaction) equals the serial run's. Needs a built pipeline cache (``dvc repro graphs``).
Prints a table and writes ``metrics/parallel_benchmark.json``.

Usage: ``python benchmarks/parallel_benchmark.py [--root data/davis] [--graphs
data/graphs.zarr] [--method random_walker] [--workers 1 2 1 2] [--sessions 8]``. The
speed-up is over the mean wall time of the 1-worker runs; alternate the orders to average
out the load of a shared machine.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gnnannot.atomic import write_json
from gnnannot.data import davis
from gnnannot.ivos.benchmark import run_benchmark
from gnnannot.methods.registry import make_method

SCORES = ["sequence", "scribble_idx", "interaction", "object_id", "frame", "jaccard",
          "contour"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="data/davis")
    ap.add_argument("--graphs", default="data/graphs.zarr")
    ap.add_argument("--checkpoint", default="models/model.pt")
    ap.add_argument("--split", default="val")
    ap.add_argument("--method", default="random_walker")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--sessions", type=int, default=0, help="first N sessions (0: all)")
    ap.add_argument("--interactions", type=int, default=8)
    ap.add_argument("--out", default="metrics/parallel_benchmark.json")
    args = ap.parse_args()

    seqs = davis.read_split(args.root, args.split)
    plan = [(s, int(p.stem)) for s in seqs for p in davis.scribble_paths(args.root, s)]
    if args.sessions:
        plan = plan[: args.sessions]
    seqs = sorted({s for s, _ in plan}, key=seqs.index)
    indices = sorted({i for _, i in plan})
    factory = functools.partial(
        make_method, args.method, graph_store=args.graphs, dataset_root=args.root,
        checkpoint=args.checkpoint if args.method == "gnn" else None)
    rows, reference = [], None
    for w in args.workers:
        t0 = time.perf_counter()
        report, _ = run_benchmark(args.root, seqs, factory, max_interactions=args.interactions,
                                  scribble_indices=indices, workers=w, session_id="bench",
                                  quiet=True)
        wall = time.perf_counter() - t0
        report = report[report.apply(lambda r: (r["sequence"], r["scribble_idx"]) in plan,
                                     axis=1)] if args.sessions else report
        scores = report[SCORES].reset_index(drop=True)
        if reference is None:
            reference = scores
        same = bool(scores.equals(reference))
        n = len(report[["sequence", "scribble_idx"]].drop_duplicates())
        rows.append({"workers": w, "sessions": n, "wall_s": wall, "sessions_per_s": n / wall,
                     "method_time_s": float(report.groupby(
                         ["sequence", "scribble_idx", "interaction"])["timing"].first().sum()),
                     "scores_equal_serial": same})
    serial = [r["wall_s"] for r in rows if r["workers"] == 1] or [rows[0]["wall_s"]]
    base = sum(serial) / len(serial)  # mean serial wall time (repeat --workers 1 2 1 2)
    for r in rows:
        r["speedup"] = base / r["wall_s"]
    table = Table(title=f"parallel benchmark: {args.method}, {rows[0]['sessions']} sessions, "
                        f"{args.interactions} interactions")
    for col in ("workers", "wall s", "sessions/s", "speed-up", "method time s", "same scores"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["workers"]), f"{r['wall_s']:.1f}", f"{r['sessions_per_s']:.3f}",
                      f"{r['speedup']:.2f}x", f"{r['method_time_s']:.1f}",
                      str(r["scores_equal_serial"]))
    Console(width=120).print(table)
    write_json(Path(args.out), {
        "method": args.method, "interactions": args.interactions, "root": args.root,
        "cpu_count": os.cpu_count(), "load_avg_1min_at_end": os.getloadavg()[0],
        "machine": platform.machine(), "results": rows,
    })


if __name__ == "__main__":
    main()
