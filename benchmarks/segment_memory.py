"""Peak memory and latency of ``gnnannot segment`` (the :class:`Annotator`) on long videos.

For each length (default 250 and 1000 frames) a synthetic 854x480 mp4 is written, frame
by frame (a panning textured background and two moving shapes; the ground truth is
recomputed per frame, never stored), and a fresh Python process then runs what the CLI
runs, with the ``random_walker`` method (no checkpoint needed): open the video, prepare
(working-size frames, DIS flow, superpixels, features, graph into an empty cache), the
first interaction (a scribble PNG on frame 0), the second (the DAVIS robot's correction
on the worst frame), and the export (palette PNGs, RLE JSON, overlay mp4) into a folder.

Memory: a sampling thread reads the resident set size of the worker and of all its live
descendant processes from ``/proc`` every 20 ms; the per-phase peaks and the overall peak
are reported, with the kernel's high-water marks (``VmHWM`` of the worker,
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` in the parent = the largest finished child).
Each length runs in its own process so one length's peak cannot hide in another's.
J (mean over frames and objects) after each interaction is given for information only:
the robot corrects thin boundary slivers, and the random walker seeds whole superpixels,
so a correction on superpixels that straddle the boundary can also lower J.
For scale, the table also gives the size of all frames decoded (``T*H*W*3`` bytes) and of
the superpixel graph (nodes, edges), which the graph methods hold whole.

Usage: ``python benchmarks/segment_memory.py [--frames 250 1000] [--no-export]``.
Writes ``metrics/segment_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

MIB = 1 << 20
N_OBJECTS = 2


# --------------------------------------------------------------------------- synthetic video
class MovingShapes:
    """Deterministic synthetic video: ``frame(t)`` -> ``(H, W, 3) uint8`` RGB and
    ``(H, W) uint8`` ground truth (0 bg, 1 ellipse, 2 rectangle), computed on demand."""

    def __init__(self, height: int, width: int, seed: int = 0) -> None:
        self.h, self.w = height, width
        rng = np.random.default_rng(seed)
        # low-frequency colour texture, twice the frame size so it can pan
        small = rng.integers(40, 200, (height // 24 + 2, width // 12 + 2, 3)).astype(np.uint8)
        self.bg = cv2.resize(small, (2 * width, height), interpolation=cv2.INTER_CUBIC)
        self.bg = cv2.GaussianBlur(self.bg, (0, 0), 3)
        grain = rng.integers(-6, 7, self.bg.shape).astype(np.int16)  # pans with the texture
        self.bg = np.clip(self.bg.astype(np.int16) + grain, 0, 255).astype(np.uint8)

    def frame(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.h, self.w
        x0 = int(t * 0.7) % w  # background pans left, wraps after W frames
        img = self.bg[:, x0 : x0 + w].copy()
        gt = np.zeros((h, w), np.uint8)
        # object 1: an orange ellipse on a Lissajous path
        cx = int(w * (0.35 + 0.2 * np.sin(t / 40)))
        cy = int(h * (0.5 + 0.2 * np.sin(t / 27)))
        ax = (int(w * 0.09), int(h * 0.14))
        cv2.ellipse(gt, (cx, cy), ax, (t * 0.5) % 180, 0, 360, 1, -1)
        # object 2: a blue rectangle moving the other way
        rx = int(w * (0.65 - 0.15 * np.sin(t / 33)))
        ry = int(h * (0.4 + 0.25 * np.cos(t / 45)))
        rw, rh = int(w * 0.08), int(h * 0.22)
        cv2.rectangle(gt, (rx - rw, ry - rh), (rx + rw, ry + rh), 2, -1)
        img[gt == 1] = (235, 150, 30)
        img[gt == 2] = (30, 60, 220)
        return img, gt

    def write_mp4(self, path: Path, n_frames: int, fps: float = 24.0) -> None:
        wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (self.w, self.h))
        if not wr.isOpened():
            raise RuntimeError(f"{path}: cannot write mp4v")
        for t in range(n_frames):
            wr.write(cv2.cvtColor(self.frame(t)[0], cv2.COLOR_RGB2BGR))
        wr.release()

    def first_scribble(self) -> np.ndarray:
        """Scribble PNG values of frame 0: a line inside each object, two background lines."""
        gt = self.frame(0)[1]
        out = np.zeros_like(gt)
        for k in range(1, N_OBJECTS + 1):
            ys, xs = np.nonzero(cv2.erode((gt == k).astype(np.uint8), np.ones((15, 15))))
            row = ys == int(np.median(ys))
            out[ys[row], xs[row]] = k
        far = cv2.erode((gt == 0).astype(np.uint8), np.ones((41, 41), np.uint8)) > 0
        for y in (self.h // 10, self.h * 9 // 10):  # two background lines, clear of objects
            out[y, far[y]] = 255
        return out


# --------------------------------------------------------------------------- memory sampler
def _rss_kib(pid: int | str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    kids = [int(c) for c in fh.read().split()]
                out += kids
                todo += kids
        except OSError:
            continue
    return out


def _hwm_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class MemorySampler(threading.Thread):
    """RSS of this process + live descendants every ``period`` s; ``phase(name)`` starts
    a new phase, ``peaks`` = MiB peak per phase."""

    def __init__(self, period: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.peaks: dict[str, float] = {}
        self.current = "start"
        self._stop_evt = threading.Event()
        self._lock = threading.Lock()

    def sample(self) -> None:
        pid = os.getpid()
        kib = _rss_kib(pid) + sum(_rss_kib(c) for c in _descendants(pid))
        with self._lock:
            self.peaks[self.current] = max(self.peaks.get(self.current, 0.0), kib / 1024)

    def phase(self, name: str) -> None:
        self.sample()
        with self._lock:
            self.current = name
        self.sample()

    def run(self) -> None:
        while not self._stop_evt.wait(self.period):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self._stop_evt.set()
        self.join()


# --------------------------------------------------------------------------- worker
def _mean_j(masks: Any, video: MovingShapes) -> tuple[float, int]:
    """Mean J over frames and objects (streamed) and the frame of lowest mean J."""
    from gnnannot.ivos.metrics import batched_jaccard

    per_frame = []
    for t in range(len(masks)):
        gt = video.frame(t)[1]
        per_frame.append(batched_jaccard(gt[None], masks[t][None], N_OBJECTS).mean())
    j = np.asarray(per_frame)
    return float(j.mean()), int(j.argmin())


def worker(args: argparse.Namespace) -> None:
    """Run one length in this process; print one JSON line."""
    from gnnannot.annotate import Annotator
    from gnnannot.ivos.robot import ScribbleRobot

    sampler = MemorySampler()
    sampler.start()
    work = Path(args.workdir)
    synth = MovingShapes(args.height, args.width)
    res: dict[str, Any] = {"frames": args.worker, "seconds": {}}

    def timed(name: str, fn: Any) -> Any:
        sampler.phase(name)
        t0 = time.perf_counter()
        out = fn()
        res["seconds"][name] = time.perf_counter() - t0
        return out

    ann = timed("open", lambda: Annotator(work / "video.mp4", method="random_walker",
                                          cache_dir=work / "cache", checkpoint=None))  # fmt: skip
    prep = timed("prepare", ann.prepare)
    assert not prep.cached, "the benchmark needs an empty cache"
    png = work / "00000.png"
    cv2.imwrite(str(png), synth.first_scribble())
    masks = timed("interaction_1", lambda: ann.interact(png))
    j1, worst = timed("eval_1", lambda: _mean_j(masks, synth))
    # the robot's correction on the worst frame (one frame of prediction and GT only)
    pred_t, gt_t = masks[worst], synth.frame(worst)[1]
    one = ScribbleRobot().interact("bench", pred_t[None], gt_t[None], N_OBJECTS)
    scr = {"sequence": "bench", "scribbles": [[] for _ in range(len(masks))]}
    scr["scribbles"][worst] = one["scribbles"][0]
    masks = timed("interaction_2", lambda: ann.interact(scr))
    j2, _ = timed("eval_2", lambda: _mean_j(masks, synth))
    if args.export:
        timed("export", lambda: ann.export(work / "out"))
    sampler.stop()
    g = ann.method.graph
    res.update(
        j=[j1, j2], robot_frame=worst, peak_mib=sampler.peaks, vm_hwm_mib=_hwm_kib() / 1024,
        interaction_seconds=list(ann.timings), n_nodes=int(g.n_nodes), n_edges=int(g.n_edges),
        frame_size=[args.height, args.width], work_size=list(ann.work_size),
        decoded_video_mib=args.worker * args.height * args.width * 3 / MIB,
        cache_mib=sum(p.stat().st_size for p in (work / "cache").rglob("*") if p.is_file())
        / MIB,
    )  # fmt: skip
    print("RESULT " + json.dumps(res))


# --------------------------------------------------------------------------- driver
def run_length(n: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    work = root / f"T{n}"
    work.mkdir()
    t0 = time.perf_counter()
    MovingShapes(args.height, args.width).write_mp4(work / "video.mp4", n)
    gen_s = time.perf_counter() - t0
    cmd = [sys.executable, __file__, "--worker", str(n), "--workdir", str(work),
           "--height", str(args.height), "--width", str(args.width),
           *([] if args.export else ["--no-export"])]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(cmd, capture_output=True, text=True)
    child_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"worker for {n} frames failed ({proc.returncode})")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    res = json.loads(line[len("RESULT "):])
    res["generate_seconds"] = gen_s
    res["video_file_mib"] = (work / "video.mp4").stat().st_size / MIB
    # ru_maxrss (KiB) of the largest finished child so far; exact for this run when larger
    res["rusage_children_maxrss_mib"] = child_max / 1024 if child_max > before else None
    res["peak_total_mib"] = max(res["peak_mib"].values())
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return res


def print_table(results: list[dict[str, Any]], header: bool = True) -> None:
    phases = ["open", "prepare", "interaction_1", "interaction_2", "export"]
    if header:
        print(f"{'frames':>6} {'phase':<14} {'seconds':>9} {'peak RSS MiB':>13}")
    for r in results:
        for ph in phases:
            if ph in r["seconds"]:
                print(f"{r['frames']:>6} {ph:<14} {r['seconds'][ph]:>9.2f} "
                      f"{r['peak_mib'].get(ph, float('nan')):>13.0f}", flush=True)  # fmt: skip
        print(f"{r['frames']:>6} {'ALL (peak)':<14} {'':>9} {r['peak_total_mib']:>13.0f}   "
              f"decoded video would be {r['decoded_video_mib']:.0f} MiB; graph "
              f"{r['n_nodes']} nodes, {r['n_edges']} edges; J {r['j'][0]:.3f} -> "
              f"{r['j'][1]:.3f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[250, 1000])
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=854)
    ap.add_argument("--export", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    ap.add_argument("--tmp", default=None, help="parent folder of the temporary files")
    ap.add_argument("--out", default="metrics/segment_memory.json")
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        worker(args)
        return

    from gnnannot.atomic import write_json

    setup = {"height": args.height, "width": args.width, "method": "random_walker",
             "export": args.export, "cpus": os.cpu_count(),
             "python": platform.python_version(), "opencv": cv2.__version__,
             "sampling": "RSS of the worker process + live descendants, every 20 ms"}  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="segment_memory-", dir=args.tmp))
    results: list[dict[str, Any]] = []
    try:
        for n in args.frames:
            results.append(run_length(n, args, root))
            print_table(results[-1:], header=len(results) == 1)
            write_json(args.out, {"setup": setup, "results": results})  # partial results
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if len(results) > 1:
        a, b = results[0], results[-1]
        growth = (b["peak_total_mib"] - a["peak_total_mib"]) / (b["frames"] - a["frames"])
        print(f"peak growth: {growth:.2f} MiB per extra frame "
              f"(a decoded {args.width}x{args.height} frame is "
              f"{args.height * args.width * 3 / MIB:.2f} MiB)")  # fmt: skip
    write_json(args.out, {"setup": setup, "results": results})


if __name__ == "__main__":
    main()
