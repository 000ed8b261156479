"""Scaling benchmark: preprocessing executors, DDP training, and a cluster estimate.

Three parts, selected with ``--only`` (default: all three, in this order), each written
to its own key of ``metrics/scaling.json`` with the load average it ran under (a part not
run keeps its entry from the existing file):

``prep``: preprocessing throughput of the executors. Generates one small synthetic dataset
(``gnnannot.data.synthetic``, the pipeline's generator) and runs the four preprocessing
stages (flow, superpixels, features, graphs, with the stage configs' defaults, i.e.
``params.yaml``) on it once per executor, in the same process and the same run:
``serial``, ``process`` with ``--workers`` processes, and ``dask`` on a
:class:`distributed.LocalCluster` of each of ``--dask-workers`` worker processes (default
1 and 2; one thread each; started once, their start-up time reported apart). Every
executor first runs an untimed warm-up on a 2-video set (imports and first-call set-up in
every worker), then ``--rounds`` timed runs, the executors taking turns stage by stage
(in alternating order, so that the drifting load of a shared machine falls on all of them
alike). For each stage and executor: the mean wall seconds, frames per second (frames of
the dataset / wall), the ratio against serial, and whether every stored array equals the
serial run's byte for byte.

``ddp``: training steps/s of 1 vs ``--ddp-procs`` (default 2) DistributedDataParallel
processes (gloo, CPU), on the same tiny synthetic dataset (preprocessed once, serially),
in the same run: each world size runs ``python -m torch.distributed.run --standalone
--nproc_per_node N benchmarks/scaling.py --ddp-worker SPEC`` (1 process: the plain
single-process path of ``train_model``), ``--ddp-rounds`` times, alternating (medians
reported). Every rank calls the library's ``train_model`` with the ``train`` section of
``params.yaml`` (rounds 1, 1 validation video, 2 validation interactions); the benchmark wraps its
data-parallel hooks to time the optimizer-step loops (``epoch_order``) and rank 0's
validation (``on_main``) without changing the library. Reported: samples/s of the step
loops (forward + backward + step of one cached interaction; all ranks together), the
optimizer steps/s of one rank, the end-to-end samples/s of ``train_model`` (sessions,
steps and validation), and their ratios against 1 process.

``estimate``: a paper estimate of DAVIS-2017 and YouTube-VOS preprocessing time and cache
size on a ``--nodes`` x ``--cores-per-node`` cluster, from per-frame serial costs and
cache bytes per frame measured here at 854x480 (a serial run of the four stages on
``--est-videos`` x ``--est-frames`` synthetic frames; the frame counts assumed are in the
output, with their sources).

The ratios cannot exceed the number of cores the machine has, nor the number of videos
(one task per video): on a 2-core machine 2x is the ceiling. On a bigger machine pass
``--workers 8 --dask-workers 1,8`` (or more); against an existing Dask cluster
(``dask scheduler`` + ``dask worker tcp://...`` on several hosts, see the README's "Scale
out") pass ``--address tcp://host:8786`` and an ``--out-dir`` on storage every worker
reaches (then one dask run with ``--workers`` workers).

Usage: ``nice -n 10 python benchmarks/scaling.py [--only prep,ddp,estimate] [--videos 8]
[--frames 16] [--height 240 --width 427] [--workers 2] [--dask-workers 1,2]
[--address local] [--ddp-procs 2] [--nodes 16 --cores-per-node 32]
[--out metrics/scaling.json]``
"""

from __future__ import annotations

import os

# numpy/scipy's OpenBLAS single-threaded, before numpy's first import (as stages/train.py
# does: the random walker's conjugate gradients only synchronise with more threads);
# inherited by the DDP ranks and the Dask workers.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
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

REPO = Path(__file__).resolve().parents[1]
PARTS = ("prep", "ddp", "estimate")

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



def store_bytes(store: Path) -> int:
    """Bytes of every file under ``store`` (what the cache holds on disk)."""
    return sum(f.stat().st_size for f in store.rglob("*") if f.is_file())


def load_now() -> dict[str, Any]:
    """When and under which load (1-, 5-, 15-min averages) a part ran."""
    return {"finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_avg_at_end": list(os.getloadavg())}  # fmt: skip


def start_local_cluster(workers: int) -> tuple[Any, float]:
    """A LocalCluster of ``workers`` one-thread worker processes and its start-up seconds."""
    import dask
    from distributed import LocalCluster

    from gnnannot.pipeline.dask_executor import local_scheduler_config

    t0 = time.perf_counter()
    with dask.config.set(local_scheduler_config()):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=50)  # fmt: skip
    return cluster, time.perf_counter() - t0


# ------------------------------------------------------------------------------ prep
def run_prep(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The executors' frames/s on the same videos (see the module docstring)."""
    root = work / "davis"
    generate_dataset(root, seed=0, n_train=args.videos // 2,
                     n_val=args.videos - args.videos // 2, n_frames=args.frames,
                     height=args.height, width=args.width, effects=True, quiet=True)
    generate_dataset(work / "warm", seed=1, n_train=1, n_val=1, n_frames=3,
                     height=args.height, width=args.width, effects=True, quiet=True)
    seqs = dataset_sequences(str(root))
    n_frames = sum(len(davis.frame_paths(root, s)) for s in seqs)
    clusters: list[Any] = []
    startup: dict[str, float] = {}
    runs: dict[str, Executor] = {
        "serial": make_executor("serial"),
        f"process({args.workers})": make_executor("process", args.workers),
    }
    results: dict[str, Any] = {}
    try:
        if args.address == "local":
            for n in args.dask_workers:
                cluster, startup[f"dask({n} workers)"] = start_local_cluster(n)
                clusters.append(cluster)
                runs[f"dask({n} workers)"] = make_executor(
                    "dask", n, address=cluster.scheduler_address, workdir=str(work))
        else:
            runs[f"dask({args.workers} workers)"] = make_executor(
                "dask", args.workers, address=args.address, workdir=str(work))

        def tag(name: str) -> str:
            return name.replace("(", "-").replace(" workers)", "").replace(")", "")

        results = {n: {"rounds": [], "dir": work / tag(n)} for n in runs}
        for name, ex in runs.items():  # warm-up (imports in every worker), not timed
            for call in stage_calls(work / "warm", work / "warm-stores" / tag(name),
                                    ex).values():  # fmt: skip
                call()
        order = list(runs)
        loads: list[float] = []
        for r in range(args.rounds):
            calls = {n: stage_calls(root, work / f"round{r}" / tag(n), runs[n]) for n in runs}
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
                results[n]["dir"] = work / f"round{r}" / tag(n)
        for res in results.values():
            res["seconds"] = {s: sum(x[s] for x in res["rounds"]) / len(res["rounds"])
                              for s in STAGES}  # fmt: skip
    finally:
        for cluster in clusters:
            cluster.close()
    serial = results["serial"]
    rows = []
    for name, r in results.items():
        for stage in STAGES + ("total",):
            sec = sum(r["seconds"].values()) if stage == "total" else r["seconds"][stage]
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
    table = Table(title=f"preprocessing throughput: {len(seqs)} videos, {n_frames} frames "
                        f"{args.width}x{args.height}, mean of {args.rounds} round(s), "
                        f"{os.cpu_count()} cores (ratio <= cores)")
    for col in ("executor", "stage", "wall s", "frames/s", "vs serial", "same arrays"):
        table.add_column(col, justify="left" if col in ("executor", "stage") else "right")
    for r in rows:
        table.add_row(r["executor"], r["stage"], f"{r['seconds']:.1f}",
                      f"{r['frames_per_s']:.2f}", f"{r['ratio_vs_serial']:.2f}x",
                      str(r["arrays_equal_serial"]))
    Console(width=120).print(table)
    for name, sec in startup.items():
        print(f"LocalCluster start-up, {name}: {sec:.1f} s (not counted)")
    return {
        "videos": len(seqs), "frames": n_frames, "height": args.height, "width": args.width,
        "workers": args.workers, "dask_workers": args.dask_workers, "rounds": args.rounds,
        "address": args.address, "load_avg_1min_after_each_round": loads,
        "local_cluster_startup_s": startup, "results": rows, **load_now(),
    }  # fmt: skip


# ------------------------------------------------------------------------------- ddp
class TimedHooks:
    """A data-parallel hooks object (:mod:`gnnannot.training.distributed`) that passes
    every call through and adds up the wall time of the optimizer-step loops
    (``epoch_order``'s iteration) and of ``on_main`` (rank 0's validation)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.step_seconds = 0.0
        self.steps = 0
        self.main_seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def epoch_order(self, order: np.ndarray) -> Iterator[int]:
        order = self.inner.epoch_order(order)

        def timed() -> Iterator[int]:
            t0 = time.perf_counter()  # at the first step: the loop body runs between yields
            yield from order
            self.step_seconds += time.perf_counter() - t0
            self.steps += len(order)

        return timed()

    def on_main(self, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = self.inner.on_main(fn)
        self.main_seconds += time.perf_counter() - t0
        return out


def ddp_worker(spec_path: Path) -> None:
    """One rank of a DDP timing run (started by torchrun): train, rank 0 writes timings."""
    import torch

    from gnnannot.config import from_section
    from gnnannot.store.graphs import open_graph
    from gnnannot.training.distributed import init_from_env
    from gnnannot.training.train import TrainConfig, load_item, train_model

    spec = json.loads(spec_path.read_text())
    cfg = from_section(TrainConfig, spec["train"], "scaling: train")
    seqs = davis.read_split(spec["root"], "train")
    train_seqs, val_seqs = seqs[: len(seqs) - cfg.val_videos], seqs[len(seqs) - cfg.val_videos:]
    dist, device = init_from_env("cpu")
    try:
        items = [load_item(open_graph(spec["graphs"], s), spec["root"], cfg, device)
                 for s in train_seqs]  # fmt: skip
        val_items = [load_item(open_graph(spec["graphs"], s), spec["root"], cfg, device)
                     for s in val_seqs]  # fmt: skip
        hooks = TimedHooks(dist)
        t0 = time.perf_counter()
        res = train_model(items, val_items, cfg, spec["model"] + f".rank{dist.rank}",
                          device=device, quiet=True, dist=hooks)  # type: ignore[arg-type]
        total = time.perf_counter() - t0
        if dist.is_main:
            write_json(spec["out"], {
                "world_size": dist.world_size, "torch_threads": torch.get_num_threads(),
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                "steps_per_rank": hooks.steps, "steps_reported": res["steps"],
                "step_seconds": hooks.step_seconds, "validate_seconds": hooks.main_seconds,
                "train_model_seconds": total, "best_val_J": res["best_val_J"],
                "train_videos": len(items), "train_videos_this_rank": len(dist.shard(items)),
            })  # fmt: skip
    finally:
        dist.close()


def ddp_config(args: argparse.Namespace) -> dict[str, Any]:
    """The ``train`` section of params.yaml, for a short timing run."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    train = dict(params["train"])
    train.pop("distributed", None)
    train.update({"device": "cpu", "rounds": 1, "val_videos": 1, "val_interactions": 2,
                  "epochs": args.ddp_epochs, "interactions": args.ddp_interactions})
    return train


def run_ddp(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Training steps/s of 1 vs ``--ddp-procs`` processes (see the module docstring)."""
    root = work / "ddp" / "davis"
    # ddp_videos training videos (+1 validating, the last of the train split) and a val
    # split the training does not read
    generate_dataset(root, seed=4, n_train=args.ddp_videos + 1, n_val=1,
                     n_frames=args.ddp_frames, height=args.height, width=args.width,
                     effects=True, quiet=True)  # fmt: skip
    seqs = davis.read_split(root, "train") + davis.read_split(root, "val")
    s = {k: str(work / "ddp" / f"{k}.zarr") for k in STAGES}
    ex = make_executor("process", args.workers)
    build_flow_store(str(root), s["flow"], executor=ex, quiet=True)
    build_superpixel_store(str(root), s["superpixels"], s["flow"], executor=ex, quiet=True)
    build_feature_store(str(root), s["features"], s["superpixels"], s["flow"], executor=ex,
                        quiet=True)  # fmt: skip
    build_graph_store(s["graphs"], s["superpixels"], s["features"], s["flow"], seqs,
                      executor=ex, quiet=True)  # fmt: skip
    graph_nodes = []
    from gnnannot.store.graphs import open_graph

    for seq in davis.read_split(root, "train")[: args.ddp_videos]:
        graph_nodes.append(int(open_graph(s["graphs"], seq).frame_offsets[-1]))
    train = ddp_config(args)
    procs = [1, args.ddp_procs]
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in procs}
    # one thread per process for every world size (torchrun sets OMP_NUM_THREADS=1 only
    # for more than one process): the ratio is then data parallelism alone, not 2 threads
    # of one process against 2 processes of one thread
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    for r in range(args.ddp_rounds):
        for n in procs if r % 2 == 0 else procs[::-1]:
            spec = work / "ddp" / f"spec-{n}-{r}.json"
            out = work / "ddp" / f"out-{n}-{r}.json"
            spec.write_text(json.dumps({"root": str(root), "graphs": s["graphs"], "train": train,
                                        "model": str(work / "ddp" / f"model-{n}-{r}.pt"),
                                        "out": str(out)}))  # fmt: skip
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={n}", str(Path(__file__).resolve()),
                   "--ddp-worker", str(spec)]  # fmt: skip
            t0 = time.perf_counter()
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if done.returncode != 0:
                raise SystemExit(f"DDP run ({n} processes) failed:\n{done.stderr[-4000:]}")
            res = json.loads(out.read_text())
            res["launch_wall_seconds"] = wall
            res["load_avg_1min_after"] = os.getloadavg()[0]
            runs[n].append(res)
            print(f"ddp {n} process(es), round {r + 1}: {res['steps_per_rank']} steps/rank "
                  f"in {res['step_seconds']:.1f} s of step loops, train_model "
                  f"{res['train_model_seconds']:.1f} s, load {res['load_avg_1min_after']:.1f}")
    rows = []
    for n in procs:
        rr = runs[n]
        # medians: one run caught in a burst of the shared machine's load would skew a mean
        step_s = float(np.median([x["step_seconds"] for x in rr]))
        total_s = float(np.median([x["train_model_seconds"] for x in rr]))
        steps = rr[0]["steps_per_rank"]
        rows.append({"processes": n, "steps_per_rank": steps, "samples": steps * n,
                     "step_seconds": step_s, "train_model_seconds": total_s,
                     "validate_seconds": float(np.median([x["validate_seconds"] for x in rr])),
                     "optimizer_steps_per_s": steps / step_s,
                     "samples_per_s": steps * n / step_s,
                     "end_to_end_samples_per_s": steps * n / total_s,
                     "torch_threads_per_process": rr[0]["torch_threads"],
                     "runs": rr})  # fmt: skip
    for row in rows:
        row["samples_per_s_ratio_vs_1"] = row["samples_per_s"] / rows[0]["samples_per_s"]
        row["end_to_end_ratio_vs_1"] = (row["end_to_end_samples_per_s"]
                                        / rows[0]["end_to_end_samples_per_s"])  # fmt: skip
    table = Table(title=f"DDP training (gloo, CPU): {args.ddp_videos} training videos x "
                        f"{args.ddp_frames} frames {args.width}x{args.height} "
                        f"(~{int(np.mean(graph_nodes))} graph nodes each), median of "
                        f"{args.ddp_rounds} run(s), {os.cpu_count()} cores")
    for col in ("processes", "steps/rank", "step loops s", "opt steps/s", "samples/s",
                "vs 1", "train_model s", "end-to-end vs 1"):
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(str(row["processes"]), str(row["steps_per_rank"]),
                      f"{row['step_seconds']:.1f}", f"{row['optimizer_steps_per_s']:.2f}",
                      f"{row['samples_per_s']:.2f}", f"{row['samples_per_s_ratio_vs_1']:.2f}x",
                      f"{row['train_model_seconds']:.1f}",
                      f"{row['end_to_end_ratio_vs_1']:.2f}x")  # fmt: skip
    Console(width=120).print(table)
    return {"train_videos": args.ddp_videos, "frames_per_video": args.ddp_frames,
            "height": args.height, "width": args.width, "graph_nodes_per_video": graph_nodes,
            "train_config": train, "rounds": args.ddp_rounds, "results": rows,
            **load_now()}  # fmt: skip


# -------------------------------------------------------------------------- estimate
#: The datasets of the paper estimate: videos, frames, the longest video (frames) and
#: where the numbers come from (the YouTube-VOS frame counts are assumptions).
DATASETS = {
    "DAVIS-2017 trainval": {
        "videos": 90, "frames": 6208, "longest_video_frames": 104,
        "source": "DAVIS-2017 release: train 60 videos / 4,209 frames + val 30 / 1,999, "
                  "854x480 (480p); longest video: 104 frames (the val maximum, as in "
                  "params.yaml's note; assumed the maximum of train too)"},
    "YouTube-VOS 2019 train (6 fps)": {
        "videos": 3471, "frames": 3471 * 27, "longest_video_frames": 36,
        "source": "3,471 training videos (YouTube-VOS 2019 train split). Frame count ASSUMED: "
                  "27 frames per video, the middle of the 18-36 that 3-6 s clips give at "
                  "the released annotation rate (every 5th frame of 30 fps, YouTube-VOS "
                  "paper: durations around 3 to 6 s); not counted from the data. Frames "
                  "assumed processed at 854x480 (the originals are mostly 1280x720: at "
                  "native size flow and superpixels would cost ~2.25x, an assumption "
                  "linear in pixels)"},
    "YouTube-VOS 2019 train (all frames, 30 fps)": {
        "videos": 3471, "frames": 3471 * 27 * 5, "longest_video_frames": 180,
        "source": "the same clips at 30 fps (train_all_frames): 5x the 6 fps frames, "
                  "ASSUMED as above (27 x 5 frames per video, at most 36 x 5)"},
}  # fmt: skip


def stage_wall_bound(per_frame: float, videos: int, frames: int, longest: int,
                     workers: int) -> tuple[float, str]:
    """A lower bound on one stage's wall seconds on ``workers`` one-thread workers, with
    this library's scheduling: one task per video when the videos are at least the
    workers (then the work spread evenly, or the longest video alone); else every video
    split into frame chunks, one wave of chunks per video, the videos one after another
    (``gnnannot.pipeline.chunks``): a video costs at least its longest chunk."""
    from gnnannot.pipeline.chunks import frame_chunks, use_chunks

    spread = frames * per_frame / workers
    if not use_chunks(make_executor("serial", workers), videos, frames):
        return max(spread, longest * per_frame), "per-video tasks"
    mean_len = max(1, round(frames / videos))
    chunk = max(b - a for a, b in frame_chunks(mean_len, workers))
    return max(spread, videos * chunk * per_frame), f"frame chunks ({chunk} frame(s) each)"


def run_estimate(args: argparse.Namespace, work: Path, prep: dict[str, Any] | None
                 ) -> dict[str, Any]:
    """Per-frame serial costs and cache bytes at 854x480, and the cluster estimate."""
    root, warm = work / "est" / "davis", work / "est" / "warm"
    h, w = 480, 854
    generate_dataset(root, seed=5, n_train=1, n_val=args.est_videos - 1,
                     n_frames=args.est_frames, height=h, width=w, effects=True,
                     quiet=True)  # fmt: skip
    generate_dataset(warm, seed=6, n_train=1, n_val=1, n_frames=2, height=h, width=w,
                     effects=True, quiet=True)  # fmt: skip
    n_frames = sum(len(davis.frame_paths(root, s)) for s in dataset_sequences(str(root)))
    serial = make_executor("serial")
    for call in stage_calls(warm, work / "est" / "warm-stores", serial).values():
        call()  # warm-up: imports, first-call set-up
    calls = stage_calls(root, work / "est" / "stores", serial)
    measured: dict[str, dict[str, float]] = {}
    for stage in STAGES:
        t0 = time.perf_counter()
        calls[stage]()
        sec = time.perf_counter() - t0
        size = store_bytes(work / "est" / "stores" / f"{stage}.zarr")
        measured[stage] = {"seconds": sec, "seconds_per_frame": sec / n_frames,
                           "bytes": size, "bytes_per_frame": size / n_frames}  # fmt: skip
    load = os.getloadavg()[0]
    overhead = None
    if prep:
        fps = {r["executor"]: r["frames_per_s"] for r in prep["results"]
               if r["stage"] == "total"}  # fmt: skip
        if "serial" in fps and "dask(1 workers)" in fps:
            overhead = fps["serial"] / fps["dask(1 workers)"]
    workers = args.nodes * args.cores_per_node
    per_frame = sum(m["seconds_per_frame"] for m in measured.values())
    bytes_frame = sum(m["bytes_per_frame"] for m in measured.values())
    rows = []
    for name, d in DATASETS.items():
        stages = {}
        for stage in STAGES:
            sec, mode = stage_wall_bound(measured[stage]["seconds_per_frame"], d["videos"],
                                         d["frames"], d["longest_video_frames"], workers)
            stages[stage] = {"wall_s_lower_bound": sec, "scheduling": mode}
        wall = sum(x["wall_s_lower_bound"] for x in stages.values())
        rows.append({
            "dataset": name, **{k: d[k] for k in ("videos", "frames", "longest_video_frames")},
            "source": d["source"], "serial_cpu_hours": d["frames"] * per_frame / 3600,
            "cluster_wall_s_lower_bound": wall,
            "cluster_wall_s_with_dask_overhead": None if overhead is None else wall * overhead,
            "stages": stages,
            "cache_bytes": d["frames"] * bytes_frame,
            "cache_bytes_by_store": {k: d["frames"] * m["bytes_per_frame"]
                                     for k, m in measured.items()},
        })  # fmt: skip
    table = Table(title=f"paper estimate: {args.nodes} nodes x {args.cores_per_node} cores "
                        f"(one one-thread Dask worker per core), per-frame costs measured "
                        f"here at {w}x{h} ({n_frames} frames, serial, 1-min load {load:.1f})")
    for col in ("dataset", "videos", "frames", "serial CPU-h", "cluster wall (bound)",
                "x Dask overhead", "cache"):
        table.add_column(col, justify="left" if col == "dataset" else "right")
    for r in rows:
        ov = r["cluster_wall_s_with_dask_overhead"]
        table.add_row(r["dataset"], str(r["videos"]), f"{r['frames']:,}",
                      f"{r['serial_cpu_hours']:.1f}",
                      f"{r['cluster_wall_s_lower_bound'] / 60:.1f} min",
                      "-" if ov is None else f"{ov / 60:.1f} min",
                      f"{r['cache_bytes'] / 1e9:.1f} GB")  # fmt: skip
    Console(width=140).print(table)
    for stage, m in measured.items():
        print(f"  {stage}: {m['seconds_per_frame'] * 1000:.0f} ms/frame, "
              f"{m['bytes_per_frame'] / 1e6:.2f} MB/frame")
    return {
        "nodes": args.nodes, "cores_per_node": args.cores_per_node, "workers": workers,
        "assumptions": [
            f"{args.nodes} nodes x {args.cores_per_node} cores, one one-thread Dask worker "
            "per core, each core as fast as one of this machine's (niced, at the load "
            "recorded here)",
            "per-frame costs and bytes are this run's serial measurements on synthetic "
            f"frames at {w}x{h} with params.yaml's stage settings (features: "
            f"{yaml.safe_load((REPO / 'params.yaml').read_text())['features']['descriptor']}"
            " descriptor); real video may cost and compress differently",
            "the wall time is a lower bound: stages one after another, each at least its "
            "work spread over all workers and at least its critical path under this "
            "library's scheduling (stage_wall_bound); not counted: the stage process's "
            "writes of chunked videos, shared-storage bandwidth, cluster start-up, "
            "scheduler latency",
            "x Dask overhead: multiplied by serial / Dask LocalCluster(1 worker) "
            "throughput measured in the prep part on this machine (None without it)",
        ],
        "measured_frames": n_frames, "measured_height": h, "measured_width": w,
        "measured": measured, "measured_load_avg_1min": load,
        "dask_overhead_factor": overhead, "datasets": rows, **load_now(),
    }  # fmt: skip


# ------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(PARTS),
                    help=f"comma-separated parts to run, of {', '.join(PARTS)} (the others "
                    "keep their entries of --out)")
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--width", type=int, default=427)
    ap.add_argument("--workers", type=int, default=2, help="process-pool workers")
    ap.add_argument("--dask-workers", default="1,2",
                    help="worker counts of the LocalClusters (comma-separated)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="timed runs per executor, taking turns by stage (mean reported)")
    ap.add_argument("--address", default="local",
                    help="local (LocalClusters started here) or a tcp:// scheduler")
    ap.add_argument("--ddp-procs", type=int, default=2)
    ap.add_argument("--ddp-videos", type=int, default=4,
                    help="training videos (DDP part; at least --ddp-procs)")
    ap.add_argument("--ddp-frames", type=int, default=8)
    ap.add_argument("--ddp-epochs", type=int, default=3)
    ap.add_argument("--ddp-interactions", type=int, default=2)
    ap.add_argument("--ddp-rounds", type=int, default=3,
                    help="runs per world size, alternating (median reported)")
    ap.add_argument("--est-videos", type=int, default=2)
    ap.add_argument("--est-frames", type=int, default=8)
    ap.add_argument("--nodes", type=int, default=16)
    ap.add_argument("--cores-per-node", type=int, default=32)
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="where the datasets and stores go (default: a temporary folder; "
                    "with a remote scheduler: a path every worker reaches)")
    ap.add_argument("--out", type=Path, default=Path("metrics/scaling.json"))
    ap.add_argument("--ddp-worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ddp_worker is not None:
        ddp_worker(args.ddp_worker)
        return
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if not parts or set(parts) - set(PARTS):
        ap.error(f"--only: parts of {', '.join(PARTS)}, found {args.only!r}")
    args.dask_workers = [int(x) for x in args.dask_workers.split(",") if x.strip()]
    old: dict[str, Any] = {}
    if args.out.is_file():
        old = {k: v for k, v in json.loads(args.out.read_text()).items() if k in PARTS}
    out: dict[str, Any] = {"cpu_count": os.cpu_count(), "machine": platform.machine(),
                           "niceness": os.nice(0), **old}  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="scaling-", dir=args.out_dir))
    try:
        if "prep" in parts:
            out["prep"] = run_prep(args, work)
        if "ddp" in parts:
            out["ddp"] = run_ddp(args, work)
        if "estimate" in parts:
            out["estimate"] = run_estimate(args, work, out.get("prep"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["parts_of_last_run"] = parts
    write_json(args.out, {k: out[k] for k in ("cpu_count", "machine", "niceness",
                                              "parts_of_last_run", *PARTS) if k in out})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
