"""Preprocessing of ONE video (the ``gnnannot segment`` / ``annotate`` case): frame chunks
over the workers (:mod:`gnnannot.pipeline.chunks`) off vs on, in the same run.

Builds one synthetic DAVIS-layout video (default 70 frames at 854x480, the interaction
benchmark's video: :mod:`gnnannot.data.synthetic`, seed 3) and runs the four stage
drivers (flow, superpixels, features, graphs) at their defaults as
:func:`gnnannot.pipeline.video_cache.prepare` does, on a process executor of ``workers``:

* ``off``: ``chunks=False``: one job per video, so one video runs in one process (what
  every stage did before chunks);
* ``on``: ``chunks=True`` (the default): the video's frames (flow: frame pairs) in
  chunks over the workers, assembled in frame order and written by the parent.

Each round builds every stage with both variants (the order alternates between rounds,
so that a change of the machine's load hits both), into fresh stores; the stores of the
two variants are compared by DVC's directory hash (:func:`gnnannot.dirhash.dir_md5`,
byte identity). Reported per stage and variant: the median wall time over rounds,
frames/s (flow: pairs/s), the median CPU time (``getrusage``, this process and its
finished children) and the on/off speed-up ratio of the medians; superpixels + features
+ graphs together as frames/s. ``load_average`` before and after: on a shared machine
the wall times are noisy, the ratio of the interleaved medians much less so.

Usage: ``nice -n 5 python benchmarks/one_video_prep.py [--frames 70] [--rounds 3]
[--workers 2] [--quick]``; writes ``metrics/one_video_prep.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from gnnannot.data import davis
from gnnannot.data import synthetic as syn
from gnnannot.dirhash import dir_md5
from gnnannot.pipeline.chunks import MAX_CHUNK_FRAMES
from gnnannot.pipeline.executor import make_executor
from gnnannot.pipeline.features import build_feature_store
from gnnannot.pipeline.flow import build_flow_store
from gnnannot.pipeline.graphs import build_graph_store
from gnnannot.pipeline.superpixels import build_superpixel_store
from gnnannot.preprocess.superpixels import SuperpixelParams

STAGES = ("flow", "superpixels", "features", "graphs")
VARIANTS = ("off", "on")


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process and of its finished children (the pool workers)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime


def _build(stage: str, root: str, seq: str, d: Path, sp: SuperpixelParams, workers: int,
           chunks: bool) -> None:  # fmt: skip
    s = {k: str(d / f"{k}.zarr") for k in STAGES}
    ex = make_executor("process", workers)
    kw: dict[str, Any] = {"executor": ex, "quiet": True, "chunks": chunks}
    if stage == "flow":
        build_flow_store(root, s["flow"], sequences=[seq], **kw)
    elif stage == "superpixels":
        build_superpixel_store(root, s["superpixels"], s["flow"], sp, sequences=[seq], **kw)
    elif stage == "features":
        build_feature_store(root, s["features"], s["superpixels"], s["flow"], sequences=[seq],
                            **kw)  # fmt: skip
    else:
        build_graph_store(s["graphs"], s["superpixels"], s["features"], s["flow"], [seq], **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--frames", type=int, default=70)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=854)
    ap.add_argument("--segments", type=int, default=SuperpixelParams().n_segments)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="12 frames at 240x427, 1 round")
    ap.add_argument("--out", default="metrics/one_video_prep.json")
    args = ap.parse_args()
    if args.quick:
        args.frames, args.height, args.width, args.segments, args.rounds = 12, 240, 427, 300, 1
    sp = SuperpixelParams(n_segments=args.segments)
    load_before = os.getloadavg()
    wall: dict[str, dict[str, list[float]]] = {v: {s: [] for s in STAGES} for v in VARIANTS}
    cpu: dict[str, dict[str, list[float]]] = {v: {s: [] for s in STAGES} for v in VARIANTS}
    cpu_parent: dict[str, dict[str, list[float]]] = {v: {s: [] for s in STAGES}
                                                     for v in VARIANTS}  # fmt: skip
    identical: dict[str, list[bool]] = {s: [] for s in STAGES}
    with tempfile.TemporaryDirectory(prefix="one-video-prep-") as tmp:
        root = Path(tmp) / "davis"
        syn.generate_dataset(root, seed=args.seed, n_train=0, n_val=1, n_frames=args.frames,
                             height=args.height, width=args.width, max_objects=3, quiet=True)
        seq = davis.read_split(root, "val")[0]
        import skimage.measure  # noqa: F401 - the stages' lazy import, not timed
        for r in range(args.rounds):
            order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
            dirs = {v: Path(tmp) / f"r{r}-{v}" for v in VARIANTS}
            for stage in STAGES:
                for v in order:
                    t0, c0 = time.perf_counter(), _cpu()
                    _build(stage, str(root), seq, dirs[v], sp, args.workers, v == "on")
                    wall[v][stage].append(time.perf_counter() - t0)
                    c1 = _cpu()
                    cpu[v][stage].append(c1[0] + c1[1] - c0[0] - c0[1])
                    cpu_parent[v][stage].append(c1[0] - c0[0])
                same = (dir_md5(dirs["off"] / f"{stage}.zarr").md5
                        == dir_md5(dirs["on"] / f"{stage}.zarr").md5)  # fmt: skip
                identical[stage].append(same)
                print(f"round {r + 1} {stage:12s} off {wall['off'][stage][-1]:6.2f} s  "
                      f"on {wall['on'][stage][-1]:6.2f} s  identical={same}", flush=True)
            for v in VARIANTS:
                shutil.rmtree(dirs[v], ignore_errors=True)

    n = args.frames
    rows: dict[str, Any] = {}
    for stage in (*STAGES, "sp+ft+gr"):
        parts = ("superpixels", "features", "graphs") if stage == "sp+ft+gr" else (stage,)
        units = n - 1 if stage == "flow" else n
        row: dict[str, Any] = {"unit": "pairs" if stage == "flow" else "frames", "n": units}
        for v in VARIANTS:
            per_round = [sum(wall[v][p][i] for p in parts) for i in range(args.rounds)]
            cpu_round = [sum(cpu[v][p][i] for p in parts) for i in range(args.rounds)]
            par_round = [sum(cpu_parent[v][p][i] for p in parts) for i in range(args.rounds)]
            med = statistics.median(per_round)
            cpu_med, par_med = statistics.median(cpu_round), statistics.median(par_round)
            # on an idle machine: the parent's serial share plus the workers' share spread
            # over the workers (off: one process, whose CPU time is its time)
            idle = cpu_med if v == "off" else par_med + (cpu_med - par_med) / args.workers
            row[v] = {"wall_s": per_round, "median_s": med, "per_s": units / med,
                      "cpu_s": cpu_round, "cpu_s_median": cpu_med,
                      "cpu_parent_s_median": par_med, "idle_estimate_s": idle,
                      "idle_estimate_per_s": units / idle}  # fmt: skip
        row["speedup"] = row["off"]["median_s"] / row["on"]["median_s"]
        row["idle_estimate_speedup"] = (row["off"]["idle_estimate_s"]
                                        / row["on"]["idle_estimate_s"])  # fmt: skip
        if stage != "sp+ft+gr":
            row["identical"] = all(identical[stage])
        rows[stage] = row

    print(f"\none {n}-frame {args.width}x{args.height} video, {args.workers} workers, "
          f"{args.rounds} rounds (medians); load {load_before[0]:.1f} -> "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'stage':12s} {'off s':>7s} {'on s':>7s} {'off /s':>8s} {'on /s':>8s} "
          f"{'ratio':>6s} {'cpu off':>8s} {'cpu on':>7s} {'(parent)':>8s} {'idle off/s':>10s} "
          f"{'idle on/s':>9s}  identical")
    for stage, row in rows.items():
        print(f"{stage:12s} {row['off']['median_s']:7.2f} {row['on']['median_s']:7.2f} "
              f"{row['off']['per_s']:8.1f} {row['on']['per_s']:8.1f} {row['speedup']:6.2f} "
              f"{row['off']['cpu_s_median']:8.1f} {row['on']['cpu_s_median']:7.1f} "
              f"{row['on']['cpu_parent_s_median']:8.1f} "
              f"{row['off']['idle_estimate_per_s']:10.1f} {row['on']['idle_estimate_per_s']:9.1f}"
              f"  {row.get('identical', '')}")
    out = {
        "video": {"frames": n, "height": args.height, "width": args.width,
                  "segments": args.segments, "seed": args.seed},
        "workers": args.workers, "rounds": args.rounds, "max_chunk_frames": MAX_CHUNK_FRAMES,
        "cpus": os.cpu_count(), "load_average_before": load_before,
        "load_average_after": os.getloadavg(), "stages": rows,
        "byte_identical": all(all(v) for v in identical.values()),
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
