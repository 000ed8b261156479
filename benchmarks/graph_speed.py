"""Benchmark of the superpixels + features + graphs stages on synthetic 854x480 videos.

Builds a temporary DAVIS-layout dataset of synthetic val videos (gnnannot.data.synthetic),
their DIS flow store (not timed: that is the flow stage), then runs the three stage
drivers as the pipeline does (a process executor of ``workers``, I/O included) and reports:

* frames/s of superpixels, features, graphs and all three together, and the CPU time per
  frame;
* bytes on disk per frame of each store (flow, superpixels, features, graphs) and the
  number of files;
* the superpixel oracle J (every superpixel labelled with its majority ground-truth
  object; the upper bound of any superpixel method) with the pipeline's DIS flow, and in
  memory with the generator's exact flow;
* the base SLIC time per frame of each installed backend (fast_slic, scikit-image), one
  thread, on the first frames of the first video (the superpixel library decision).

How it measures:

* Wall time: ``time.perf_counter`` around each stage driver (``build_*_store``: pool
  start-up, fingerprints, reads, compute and writes). The modules the stages import lazily
  (scikit-image, scipy.sparse, zarr codecs) are imported before timing: a pipeline stage
  pays that once per run, not per frame.
* CPU time: ``getrusage`` user + system time of this process and of its finished child
  processes (the pool workers are joined when each stage returns), as a difference around
  each stage; reported per frame (``cpu_ms_per_frame``). On a shared machine this is much
  less sensitive to other load than the wall time (though cache and memory-bandwidth
  contention still inflate it a little).
* ``parallel_efficiency``: CPU time / (wall time x workers): 1.0 when every worker is busy
  all the time; low values mean idle workers (load imbalance, serial parts) or CPU taken by
  other processes.
* ``occupancy``: every stage job (one video) is timed inside its worker:
  ``workers_busy`` = summed job wall time / (stage wall time x workers), the share of the
  stage during which the workers had a video to work on (the rest is pool start-up,
  fingerprints and other serial work in the parent, and load imbalance at the end);
  ``job_cpu_share`` = job CPU time / job wall time, below 1 when the workers wait for a
  core (other processes) or for I/O.
* ``load_average``: ``os.getloadavg()`` (1, 5, 15 min) before the run and after each stage;
  compare it with ``cpus`` to judge how noisy the wall times are.

Usage: ``python benchmarks/graph_speed.py [--videos 4] [--frames 24] [--workers 2]
[--slic-backend auto|fast_slic|skimage]``. Writes ``metrics/graph_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _cpu_s() -> float:
    """CPU seconds of this process and its finished child processes (user + system)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _du(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def _timed_job(fn: Any, *args: Any) -> tuple[Any, tuple[float, float, float]]:
    """Run one stage job; also return (start, end) wall clock and its CPU seconds."""
    t0, c0 = time.time(), time.process_time()
    out = fn(*args)
    return out, (t0, time.time(), time.process_time() - c0)


class _TimedExecutor:
    """The stage's process executor with every job wrapped in :func:`_timed_job`; the
    spans of each run are appended to ``spans``."""

    name = "timed-process"

    def __init__(self, workers: int, spans: list[tuple[float, float, float]]) -> None:
        from gnnannot.pipeline.executor import ProcessExecutor

        self.inner = ProcessExecutor(workers)
        self.workers = self.inner.workers
        self.spans = spans

    def run(self, fn: Any, jobs: Any, **kw: Any) -> list[Any]:
        res = self.inner.run(_timed_job, [(fn, *job) for job in jobs], **kw)
        self.spans.extend(r[1] for r in res)
        return [r[0] for r in res]


def _slic_timings(
    frames: np.ndarray, params: Any, base_slic: Any, backends: list[str]
) -> dict[str, float]:
    """Base SLIC milliseconds per frame of each backend (CPU time of this process, one
    OpenCV thread, best of two passes over ``frames``), at ``base_ratio * n_segments``
    segments (about the calibrated count)."""
    import cv2

    n_base = max(2, round(params.base_ratio * params.n_segments))
    prev = cv2.getNumThreads()
    cv2.setNumThreads(1)
    out = {}
    try:
        for backend in backends:
            best = float("inf")
            for _ in range(2):
                c0 = time.process_time()
                for image in frames:
                    base_slic(image, n_base, params.compactness, params.slic_min_size_factor,
                              backend=backend)  # fmt: skip
                best = min(best, time.process_time() - c0)
            out[backend] = 1000 * best / len(frames)
    finally:
        cv2.setNumThreads(prev)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=854)
    ap.add_argument("--n-segments", type=int, default=700)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="metrics/graph_speed.json")
    ap.add_argument("--slic-backend", default="auto", choices=("auto", "fast_slic", "skimage"),
                    help="SLIC backend of the pipeline run (auto: fast_slic when installed)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    import os

    load_before = os.getloadavg()

    from gnnannot.data import davis
    from gnnannot.data.synthetic import make_video, video_names
    from gnnannot.pipeline.features import build_feature_store
    from gnnannot.pipeline.graphs import build_graph_store
    from gnnannot.pipeline.superpixels import build_superpixel_store
    from gnnannot.preprocess.flow.estimate import occlusions
    from gnnannot.preprocess.graph import build_video_graph, oracle_j
    from gnnannot.preprocess.superpixels import (
        SLIC_BACKENDS,
        SuperpixelParams,
        _fast_slic_class,
        base_slic,
        slic_backend,
        use_slic_backend,
    )
    from gnnannot.progress import log, track
    from gnnannot.store.flow import FlowWriter
    from gnnannot.store.graphs import open_graph

    use_slic_backend(None if args.slic_backend == "auto" else args.slic_backend)
    import scipy.sparse  # noqa: F401 - lazily imported by the stages: not part of the timing
    import skimage.measure  # noqa: F401
    import skimage.segmentation  # noqa: F401

    params = SuperpixelParams(n_segments=args.n_segments)
    _, names = video_names(0, args.videos)
    with tempfile.TemporaryDirectory(prefix="graph_speed_") as tmp:
        d = Path(tmp)
        root = d / "davis"
        exact: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        from gnnannot.preprocess.flow.estimate import compute_video_flow

        for name in track(names, "generate + flow", quiet=args.quiet):
            v = make_video(args.seed, name, args.frames, args.height, args.width)
            davis.write_sequence(root, name, v.frames, v.masks)
            exact[name] = (v.masks, v.flow_forward, v.flow_backward)
            frames = davis.read_frames(root, name)
            with FlowWriter(d / "flow.zarr", name, len(frames), args.height, args.width,
                            "dis", {"preset": "medium"}) as wr:  # fmt: skip
                for pair in compute_video_flow(iter(frames), preset="medium"):
                    wr.write(pair.forward, pair.backward, pair.occ_forward, pair.occ_backward)
        davis.write_split(root, "train", [])
        davis.write_split(root, "val", names)
        n_frames = args.videos * args.frames
        sp, ft, gr, fl = (str(d / f"{k}.zarr") for k in ("superpixels", "features", "graphs",
                                                          "flow"))  # fmt: skip
        times: dict[str, float] = {}
        cpu: dict[str, float] = {}
        loads: dict[str, list[float]] = {"before": [round(x, 2) for x in load_before]}
        stages = {
            "superpixels": lambda ex: build_superpixel_store(
                str(root), sp, fl, params, names, executor=ex, quiet=args.quiet),
            "features": lambda ex: build_feature_store(
                str(root), ft, sp, fl, sequences=names, executor=ex, quiet=args.quiet),
            "graphs": lambda ex: build_graph_store(
                gr, sp, ft, fl, names, executor=ex, quiet=args.quiet),
        }  # fmt: skip
        occupancy: dict[str, dict[str, float]] = {}
        for key, run in stages.items():
            spans: list[tuple[float, float, float]] = []
            c0, t0 = _cpu_s(), time.perf_counter()
            run(_TimedExecutor(args.workers, spans))
            times[key] = time.perf_counter() - t0
            cpu[key] = _cpu_s() - c0
            loads[f"after_{key}"] = [round(x, 2) for x in os.getloadavg()]
            job_wall = sum(e - s for s, e, _ in spans)
            occupancy[key] = {
                "workers_busy": job_wall / (times[key] * min(args.workers, len(spans))),
                "job_cpu_share": sum(c for _, _, c in spans) / job_wall,
            }
        cpu["total"] = sum(cpu.values())
        times["total"] = sum(times.values())
        have = [b for b in SLIC_BACKENDS if b != "fast_slic" or _fast_slic_class() is not None]
        slic_ms = _slic_timings(davis.read_frames(root, names[0])[:4], params, base_slic, have)

        sizes = {}
        for key in ("flow", "superpixels", "features", "graphs"):
            nbytes, nfiles = _du(d / f"{key}.zarr")
            sizes[key] = {"bytes_per_frame": nbytes / n_frames, "files": nfiles}
        sizes["total"] = {
            "bytes_per_frame": sum(v["bytes_per_frame"] for v in sizes.values()),
            "files": sum(v["files"] for v in sizes.values()),
        }

        j_dis, j_exact, nodes, edges = [], [], [], []
        for name in track(names, "oracle J", quiet=args.quiet):
            g = open_graph(gr, name)
            masks, fw, bw = exact[name]
            j_dis.append(oracle_j(g, masks))
            nodes.append(g.n_nodes / g.n_frames)
            edges.append(g.n_edges / g.n_frames)
            occ = [occlusions(f, b) for f, b in zip(fw, bw, strict=True)]
            flows = {"forward": fw, "backward": bw,
                     "occ_forward": np.stack([o[0] for o in occ]),
                     "occ_backward": np.stack([o[1] for o in occ])}  # fmt: skip
            frames = davis.read_frames(root, name)
            j_exact.append(oracle_j(build_video_graph(frames, flows, params), masks))

    result = {
        "frame_size": [args.height, args.width],
        "videos": args.videos,
        "frames": n_frames,
        "workers": args.workers,
        "slic_backend": slic_backend(),
        "cpus": len(os.sched_getaffinity(0)),
        "load_average": loads,
        "superpixel_params": params.to_dict(),
        "superpixels_per_frame": float(np.mean(nodes)),
        "edges_per_frame": float(np.mean(edges)),
        "seconds": times,
        "frames_per_s": {k: n_frames / v for k, v in times.items()},
        "cpu_ms_per_frame": {k: 1000 * v / n_frames for k, v in cpu.items()},
        "parallel_efficiency": {k: cpu[k] / (times[k] * args.workers) for k in times},
        "occupancy": occupancy,
        "slic_ms_per_frame_1_thread": slic_ms,
        "disk": sizes,
        "oracle_j": {"dis_flow": float(np.mean(j_dis)), "exact_flow": float(np.mean(j_exact)),
                     "per_video_dis": dict(zip(names, map(float, j_dis), strict=True)),
                     "per_video_exact": dict(zip(names, map(float, j_exact), strict=True))},
    }  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{n_frames} frames {args.height}x{args.width}, {args.workers} workers, "
          f"{result['superpixels_per_frame']:.0f} superpixels/frame, "
          f"{result['edges_per_frame']:.0f} edges/frame ({result['slic_backend']})")  # fmt: skip
    print(f"{'stage':<12} {'frames/s':>9} {'CPU ms/f':>9} {'par.eff':>8} {'KB/frame':>9} "
          f"{'files':>6}")  # fmt: skip
    for key in ("superpixels", "features", "graphs", "total"):
        print(f"{key:<12} {result['frames_per_s'][key]:>9.1f} "
              f"{result['cpu_ms_per_frame'][key]:>9.1f} "
              f"{result['parallel_efficiency'][key]:>8.2f} "
              f"{sizes[key]['bytes_per_frame'] / 1024:>9.1f} {sizes[key]['files']:>6}")  # fmt: skip
    fl_kb = sizes["flow"]["bytes_per_frame"] / 1024
    print(f"{'flow':<12} {'-':>9} {'-':>9} {'-':>8} {fl_kb:>9.1f} {sizes['flow']['files']:>6}")
    print("workers busy: " + ", ".join(f"{k} {v['workers_busy']:.2f}" for k, v in
                                         occupancy.items()) + "; job CPU share: " +
          ", ".join(f"{k} {v['job_cpu_share']:.2f}" for k, v in occupancy.items()))  # fmt: skip
    print("base SLIC, 1 thread: " + ", ".join(f"{k} {v:.1f} ms/frame" for k, v in slic_ms.items()))
    print(f"load average (1/5/15 min) before: {loads['before']}, after: "
          f"{loads['after_graphs']} on {result['cpus']} CPUs")  # fmt: skip
    print(f"oracle J: {result['oracle_j']['dis_flow']:.4f} (DIS flow), "
          f"{result['oracle_j']['exact_flow']:.4f} (exact flow)")
    log(f"wrote {out}", args.quiet)


if __name__ == "__main__":
    main()
