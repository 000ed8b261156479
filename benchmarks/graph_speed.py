"""Benchmark of the superpixels + features + graphs stages on synthetic 854x480 videos.

Builds a temporary DAVIS-layout dataset of synthetic val videos (gnnannot.data.synthetic),
their DIS flow store (not timed: that is the flow stage), then runs the three stage
drivers as the pipeline does (``workers`` processes, I/O included) and reports:

* frames/s of superpixels, features, graphs and all three together, and the CPU time per
  frame (this process and its worker processes: less sensitive to other load on a shared
  machine than the wall time);
* bytes on disk per frame of each store (flow, superpixels, features, graphs) and the
  number of files;
* the superpixel oracle J (every superpixel labelled with its majority ground-truth
  object; the upper bound of any superpixel method) with the pipeline's DIS flow, and in
  memory with the generator's exact flow.

Usage: ``python benchmarks/graph_speed.py [--videos 4] [--frames 24] [--workers 2]``.
Writes ``metrics/graph_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

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
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    from gnnannot.data import davis
    from gnnannot.data.synthetic import make_video, video_names
    from gnnannot.features import build_feature_store
    from gnnannot.flow import occlusions
    from gnnannot.graph import build_graph_store, build_video_graph, oracle_j
    from gnnannot.io import graph_store as gs
    from gnnannot.io.flow_store import FlowWriter
    from gnnannot.progress import log, track
    from gnnannot.superpixels import SuperpixelParams, build_superpixel_store, slic_backend

    params = SuperpixelParams(n_segments=args.n_segments)
    _, names = video_names(0, args.videos)
    with tempfile.TemporaryDirectory(prefix="graph_speed_") as tmp:
        d = Path(tmp)
        root = d / "davis"
        exact: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        from gnnannot.flow import compute_video_flow

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
        stages = {
            "superpixels": lambda: build_superpixel_store(
                str(root), sp, fl, params, names, args.workers, args.quiet),
            "features": lambda: build_feature_store(
                str(root), ft, sp, fl, sequences=names, workers=args.workers, quiet=args.quiet),
            "graphs": lambda: build_graph_store(
                gr, sp, ft, fl, names, workers=args.workers, quiet=args.quiet),
        }  # fmt: skip
        for key, run in stages.items():
            c0, t0 = _cpu_s(), time.perf_counter()
            run()
            times[key] = time.perf_counter() - t0
            cpu[key] = _cpu_s() - c0
        cpu["total"] = sum(cpu.values())
        times["total"] = sum(times.values())

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
            g = gs.open_graph(gr, name)
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
        "superpixel_params": params.to_dict(),
        "superpixels_per_frame": float(np.mean(nodes)),
        "edges_per_frame": float(np.mean(edges)),
        "seconds": times,
        "frames_per_s": {k: n_frames / v for k, v in times.items()},
        "cpu_ms_per_frame": {k: 1000 * v / n_frames for k, v in cpu.items()},
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
    print(f"{'stage':<12} {'frames/s':>9} {'CPU ms/f':>9} {'KB/frame':>9} {'files':>6}")
    for key in ("superpixels", "features", "graphs", "total"):
        print(f"{key:<12} {result['frames_per_s'][key]:>9.1f} "
              f"{result['cpu_ms_per_frame'][key]:>9.1f} "
              f"{sizes[key]['bytes_per_frame'] / 1024:>9.1f} {sizes[key]['files']:>6}")  # fmt: skip
    print(f"{'flow':<12} {'-':>9} {'-':>9} {sizes['flow']['bytes_per_frame'] / 1024:>9.1f} "
          f"{sizes['flow']['files']:>6}")  # fmt: skip
    print(f"oracle J: {result['oracle_j']['dis_flow']:.4f} (DIS flow), "
          f"{result['oracle_j']['exact_flow']:.4f} (exact flow)")
    log(f"wrote {out}", args.quiet)


if __name__ == "__main__":
    main()
