"""Preprocessing throughput of the executors: serial vs process pool vs Dask LocalCluster.

Generates one small synthetic dataset (``gnnannot.data.synthetic``, the pipeline's
generator) and runs the four preprocessing stages (flow, superpixels, features, graphs,
with the stage configs' defaults, i.e. ``params.yaml``) on it once per executor, in the
same process and the same run: ``serial``, ``process`` with ``--workers`` processes, and
``dask`` on a :class:`distributed.LocalCluster` of ``--workers`` worker processes (one
thread each; started once, its start-up time reported apart). Every executor first runs
an untimed warm-up on a 2-video set (imports and first-call set-up in every worker), then
``--rounds`` timed runs, the executors taking turns stage by stage (in alternating order,
so that the drifting load of a shared machine falls on all of them alike). For each stage
and executor: the mean wall seconds, frames per second (frames of the dataset / wall), the
ratio against serial, and whether every stored array equals the serial run's byte for byte.
Prints a table and writes ``metrics/scaling.json`` (with the core count and the load).

The ratio cannot exceed the number of cores the machine has, nor the number of videos
(one task per video): on a 2-core machine 2x is the ceiling. On a bigger machine pass
``--workers 8`` (or more); against an existing Dask cluster (``dask scheduler`` +
``dask worker tcp://...`` on several hosts, see the README's "Scale out") pass
``--address tcp://host:8786`` and an ``--out-dir`` on storage every worker reaches.

Usage: ``nice -n 10 python benchmarks/scaling.py [--videos 8] [--frames 12]
[--height 240 --width 427] [--workers 2] [--address local] [--out metrics/scaling.json]``
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from rich.console import Console
from rich.table import Table

from gnnannot.atomic import write_json
from gnnannot.data import davis
from gnnannot.data.synthetic import generate_dataset
from gnnannot.pipeline.executor import Executor, make_executor
from gnnannot.pipeline.features import build_feature_store
from gnnannot.pipeline.flow import build_flow_store
from gnnannot.pipeline.graphs import build_graph_store
from gnnannot.pipeline.runner import dataset_sequences
from gnnannot.pipeline.superpixels import build_superpixel_store
from gnnannot.store import base as store_base

STAGES = ("flow", "superpixels", "features", "graphs")


def stage_calls(root: Path, out: Path, executor: Executor) -> dict[str, Callable[[], Any]]:
    """The four stages of ``root`` into ``out`` on ``executor``, to be called in order."""
    s = {k: str(out / f"{k}.zarr") for k in STAGES}
    seqs = dataset_sequences(str(root))
    return {
        "flow": lambda: build_flow_store(str(root), s["flow"], executor=executor, quiet=True),
        "superpixels": lambda: build_superpixel_store(str(root), s["superpixels"], s["flow"],
                                                      executor=executor, quiet=True),
        "features": lambda: build_feature_store(str(root), s["features"], s["superpixels"],
                                                s["flow"], executor=executor, quiet=True),
        "graphs": lambda: build_graph_store(s["graphs"], s["superpixels"], s["features"],
                                            s["flow"], seqs, executor=executor, quiet=True),
    }  # fmt: skip


def store_arrays(store: Path) -> dict[str, np.ndarray]:
    """Every array of every video group of ``store``, by ``seq/name``."""
    out = {}
    for seq in sorted(store_base.list_videos(str(store))):
        grp = zarr.open_group(str(store / seq), mode="r")
        for name, arr in sorted(grp.arrays()):
            out[f"{seq}/{name}"] = arr[...]
    return out


def same_arrays(a: Path, b: Path) -> bool:
    """Whether the stores ``a`` and ``b`` hold the same arrays, byte for byte."""
    x, y = store_arrays(a), store_arrays(b)
    return x.keys() == y.keys() and all(
        x[k].dtype == y[k].dtype and x[k].shape == y[k].shape
        and x[k].tobytes() == y[k].tobytes() for k in x)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--width", type=int, default=427)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3,
                    help="timed runs per executor, taking turns by stage (mean reported)")
    ap.add_argument("--address", default="local",
                    help="local (a LocalCluster started here) or a tcp:// scheduler")
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="where the datasets and stores go (default: a temporary folder; "
                    "with a remote scheduler: a path every worker reaches)")
    ap.add_argument("--out", type=Path, default=Path("metrics/scaling.json"))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="scaling-", dir=args.out_dir))
    try:
        root = work / "davis"
        generate_dataset(root, seed=0, n_train=args.videos // 2,
                         n_val=args.videos - args.videos // 2, n_frames=args.frames,
                         height=args.height, width=args.width, effects=True, quiet=True)
        generate_dataset(work / "warm", seed=1, n_train=1, n_val=1, n_frames=3,
                         height=args.height, width=args.width, effects=True, quiet=True)
        seqs = dataset_sequences(str(root))
        n_frames = sum(len(davis.frame_paths(root, s)) for s in seqs)
        cluster = None
        startup = 0.0
        address = args.address
        if address == "local":
            import dask
            from distributed import LocalCluster

            from gnnannot.pipeline.dask_executor import local_scheduler_config

            t0 = time.perf_counter()
            with dask.config.set(local_scheduler_config()):
                cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       silence_logs=50)  # fmt: skip
            startup = time.perf_counter() - t0
            address = cluster.scheduler_address
        runs = {
            "serial": make_executor("serial"),
            f"process({args.workers})": make_executor("process", args.workers),
            f"dask({args.workers} workers)": make_executor("dask", args.workers,
                                                          address=address, workdir=str(work)),
        }  # fmt: skip
        results: dict[str, Any] = {n: {"rounds": [], "dir": work / n.split("(")[0]}
                                   for n in runs}  # fmt: skip
        try:
            for name, ex in runs.items():  # warm-up (imports in every worker), not timed
                for call in stage_calls(work / "warm", work / "warm-stores" / name.split("(")[0],
                                        ex).values():
                    call()
            order = list(runs)
            loads: list[float] = []
            for r in range(args.rounds):
                calls = {n: stage_calls(root, work / f"round{r}" / n.split("(")[0], runs[n])
                         for n in runs}  # fmt: skip
                times: dict[str, dict[str, float]] = {n: {} for n in runs}
                for k, stage in enumerate(STAGES):
                    # the executors take turns stage by stage, in an order that alternates:
                    # the load of a shared machine drifts over minutes
                    for name in order if (r + k) % 2 == 0 else order[::-1]:
                        t0 = time.perf_counter()
                        calls[name][stage]()
                        times[name][stage] = time.perf_counter() - t0
                loads.append(os.getloadavg()[0])
                for n in runs:
                    results[n]["rounds"].append(times[n])
                    results[n]["dir"] = work / f"round{r}" / n.split("(")[0]
            for res in results.values():
                res["seconds"] = {s: sum(x[s] for x in res["rounds"]) / len(res["rounds"])
                                  for s in STAGES}  # fmt: skip
        finally:
            if cluster is not None:
                cluster.close()
        serial = results["serial"]
        rows = []
        for name, r in results.items():
            for stage in STAGES + ("total",):
                sec = (sum(r["seconds"].values()) if stage == "total"
                       else r["seconds"][stage])  # fmt: skip
                base = (sum(serial["seconds"].values()) if stage == "total"
                        else serial["seconds"][stage])  # fmt: skip
                same = (all(same_arrays(serial["dir"] / f"{s}.zarr", r["dir"] / f"{s}.zarr")
                            for s in STAGES) if stage == "total"
                        else same_arrays(serial["dir"] / f"{stage}.zarr",
                                         r["dir"] / f"{stage}.zarr"))  # fmt: skip
                rows.append({"executor": name, "stage": stage, "seconds": sec,
                             "seconds_per_round": [
                                 sum(x.values()) if stage == "total" else x[stage]
                                 for x in r["rounds"]],
                             "frames_per_s": n_frames / sec, "ratio_vs_serial": base / sec,
                             "arrays_equal_serial": same})  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cores = os.cpu_count()
    table = Table(title=f"preprocessing throughput: {len(seqs)} videos, {n_frames} frames "
                        f"{args.width}x{args.height}, mean of {args.rounds} round(s), "
                        f"{cores} cores (ratio <= cores)")
    for col in ("executor", "stage", "wall s", "frames/s", "vs serial", "same arrays"):
        table.add_column(col, justify="left" if col in ("executor", "stage") else "right")
    for r in rows:
        table.add_row(r["executor"], r["stage"], f"{r['seconds']:.1f}",
                      f"{r['frames_per_s']:.2f}", f"{r['ratio_vs_serial']:.2f}x",
                      str(r["arrays_equal_serial"]))
    Console(width=120).print(table)
    if cluster is not None:
        print(f"LocalCluster start-up ({args.workers} workers): {startup:.1f} s (not counted)")
    write_json(args.out, {
        "videos": len(seqs), "frames": n_frames, "height": args.height, "width": args.width,
        "workers": args.workers, "rounds": args.rounds, "address": args.address, "cpu_count": cores,
        "load_avg_1min_after_each_round": loads, "machine": platform.machine(),
        "niceness": os.nice(0), "local_cluster_startup_s": startup, "results": rows,
    })


if __name__ == "__main__":
    main()
