"""Interaction latency of the interactive methods: scribble in -> masks of every frame out,
the random-walker solver before and after (same run, same videos).

Builds synthetic DAVIS-layout videos (default 70 frames at 854x480, ~700 superpixels per
frame; dataset seeds 0 and 8: one and three objects) through the real pipeline stages
(flow, superpixels, features, graphs; not timed; ``--work DIR`` keeps them for reruns),
then runs the DAVIS interactive protocol's session driver with 8 interactions for each
method and solver. The protocol clock measures what counts in the benchmark: the method's
time between receiving a scribble and returning the (T, H, W) masks of all frames (for
the graph methods: seed update, dynamic features, random walker / model, and rasterising
node labels to pixels). Reported: median and p90 over interactions 2..n (the first
includes the per-video set-up done in ``start``, reported separately).

Solvers (:mod:`gnnannot.methods.baselines`): ``before`` is the conjugate-gradient solve as
it was (BLAS threads left as they are, ``SOLVER_BLAS_THREADS = None``); ``after`` holds
BLAS to one thread during the solve (the library default). Both run the same CG
iterations, so their node labels are compared interaction by interaction (``labels
differing``) along with the J of every interaction. Sessions of one video alternate
before/after so that drifting machine load hits both alike.

The GNN uses ``--checkpoint`` (default: the shipped one) when it exists, else an
untrained network of the same architecture (latency does not depend on the weights).
Prints a table and writes ``metrics/interaction_latency.json``.
Usage: ``python benchmarks/interaction_latency.py [--frames 70] [--quick] [--work DIR]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnnannot.atomic import write_json
from gnnannot.data import davis
from gnnannot.data import synthetic as syn
from gnnannot.ivos.session import VideoData, run_session
from gnnannot.methods import baselines
from gnnannot.methods.gnn import FEATURE_VIEW, model_params
from gnnannot.methods.registry import make_method
from gnnannot.model import GNNAnnot, save_checkpoint
from gnnannot.pipeline.features import build_feature_store
from gnnannot.pipeline.flow import build_flow_store
from gnnannot.pipeline.graphs import build_graph_store
from gnnannot.pipeline.superpixels import build_superpixel_store
from gnnannot.preprocess.superpixels import SuperpixelParams
from gnnannot.store.graphs import open_graph

METHODS = ("random_walker", "gnn")
SOLVERS = {"before": None, "after": 1}  # baselines.SOLVER_BLAS_THREADS
TORCH_ONE = "after+torch1"  # the GNN with the new solver and one torch thread


def _untrained_checkpoint(graph_store: str, seq: str, path: Path) -> None:
    g = open_graph(graph_store, seq)
    model = GNNAnnot.from_params(model_params(g, {
        "hidden": 16, "n_layers": 6, "batch_norm": False, "graph_norm": False,
        "prior_features": ["rw_prob", "rw_bg_prob"]}))
    save_checkpoint(path, model, extra={"rw_beta": 4.0, "decay": 0.9,
                                        "feature_view": FEATURE_VIEW})


def _prepare(d: Path, seed: int, args: argparse.Namespace) -> tuple[Path, str, dict[str, str],
                                                                   float]:
    """The synthetic video of dataset ``seed`` and its stores under ``d`` (kept when
    already complete); seconds of preprocessing (0 when reused)."""
    root = d / "davis"
    s = {k: str(d / f"{k}.zarr") for k in ("flow", "superpixels", "features", "graphs")}
    done = d / "prepared.ok"
    if done.exists():
        return root, davis.read_split(root, "val")[0], s, 0.0
    syn.generate_dataset(root, seed=seed, n_train=0, n_val=1, n_frames=args.frames,
                         height=args.height, width=args.width, max_objects=3,
                         quiet=args.quiet)
    seq = davis.read_split(root, "val")[0]
    t0 = time.perf_counter()
    build_flow_store(str(root), s["flow"], sequences=[seq], quiet=args.quiet)
    build_superpixel_store(str(root), s["superpixels"], s["flow"],
                           SuperpixelParams(n_segments=args.segments), sequences=[seq],
                           quiet=args.quiet)
    build_feature_store(str(root), s["features"], s["superpixels"], s["flow"],
                        sequences=[seq], quiet=args.quiet)
    build_graph_store(s["graphs"], s["superpixels"], s["features"], s["flow"], [seq],
                      quiet=args.quiet)
    done.write_text("ok\n")
    return root, seq, s, time.perf_counter() - t0


def _session(name: str, solver: str, video: VideoData, gt: np.ndarray, scribble: Any,
             stores: dict[str, str], root: Path, ckpt: Path,
             args: argparse.Namespace) -> dict[str, Any]:
    baselines.SOLVER_BLAS_THREADS = SOLVERS.get(solver, 1)
    threads = torch.get_num_threads()
    if solver == TORCH_ONE:
        torch.set_num_threads(1)
    method = make_method(name, graph_store=stores["graphs"], dataset_root=root,
                         checkpoint=ckpt if name == "gnn" else None,
                         device=args.device if name == "gnn" else "cpu")
    labels: list[np.ndarray] = []
    predict = method.predict_nodes

    def recording() -> np.ndarray:
        out = predict()
        labels.append(np.array(out, copy=True))
        return out

    method.predict_nodes = recording
    try:
        res = run_session(video, gt, scribble, method, max_interactions=args.interactions,
                          max_time=None, interaction_limit=None)
    finally:
        baselines.SOLVER_BLAS_THREADS = 1
        torch.set_num_threads(threads)
    per = res.report.groupby("interaction")
    times = per["timing"].first().to_numpy()
    later = times[1:] if times.size > 1 else times
    row: dict[str, Any] = {
        "method": name, "solver": solver, "objects": int(video.n_objects),
        "device": args.device if name == "gnn" else "cpu",
        "interactions": int(times.size), "first_s": float(times[0]),
        "median_s": float(np.median(later)), "p90_s": float(np.percentile(later, 90)),
        "all_s": [float(t) for t in times],
        "J_per_interaction": [float(j) for j in per["jaccard"].mean().to_numpy()],
    }
    report = getattr(method, "last_solve", None)
    if report is not None:
        row["last_solve"] = {"iterations": report.iterations, "residuals": report.residuals,
                             "converged": report.converged}
    return row | {"_labels": labels}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--frames", type=int, default=70)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=854)
    ap.add_argument("--segments", type=int, default=700)
    ap.add_argument("--interactions", type=int, default=8)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 8],
                    help="dataset seeds (0: one object, 8: three, 3: two)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--checkpoint", default="gnnannot/checkpoints/default.pt")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--work", default=None,
                    help="keep the synthetic videos and their stores here (reused)")
    ap.add_argument("--quick", action="store_true", help="12 frames at 240x427 (smoke test)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--out", default="metrics/interaction_latency.json")
    args = ap.parse_args()
    if args.quick:
        args.frames, args.height, args.width, args.segments = 12, 240, 427, 300

    rows: list[dict[str, Any]] = []
    videos: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        base = Path(args.work) if args.work else Path(tmp)
        for seed in args.seeds:
            size = f"{args.frames}x{args.height}x{args.width}x{args.segments}"
            root, seq, stores, prep_s = _prepare(base / f"seed{seed}-{size}", seed, args)
            graph = open_graph(stores["graphs"], seq)
            ckpt = Path(args.checkpoint)
            trained = ckpt.exists()
            if not trained:
                ckpt = base / "untrained.pt"
                _untrained_checkpoint(stores["graphs"], seq, ckpt)
            gt = davis.read_annotations(root, seq)
            k = davis.num_objects(gt)
            scribble = davis.read_scribble(davis.scribble_paths(root, seq)[0], gt.shape[0], k)
            video = VideoData(seq, davis.read_frames(root, seq), k)
            videos.append({"seed": seed, "objects": k, "nodes": int(graph.n_nodes),
                           "edges": int(graph.edge_index.shape[1]),
                           "superpixels_per_frame": graph.n_nodes / graph.n_frames,
                           "preprocessing_s": prep_s,
                           "gnn_checkpoint": str(args.checkpoint) if trained
                           else "untrained (same shape)"})
            for name in args.methods:
                kinds = [*SOLVERS, *([TORCH_ONE] if name == "gnn" else [])]
                pair = {s: _session(name, s, video, gt, scribble, stores, root, ckpt, args)
                        for s in kinds}
                before = pair["before"].pop("_labels")
                for s in kinds[1:]:
                    r = pair[s]
                    after = r.pop("_labels")
                    r["labels_differing"] = [int((a != b).sum())
                                             for a, b in zip(before, after, strict=True)]
                    r["max_abs_J_change"] = float(np.abs(np.subtract(
                        r["J_per_interaction"], pair["before"]["J_per_interaction"])).max())
                    r["speedup_median"] = pair["before"]["median_s"] / r["median_s"]
                rows += [pair[s] for s in kinds]
                if not args.quiet:
                    print(f"seed {seed} ({k} obj) {name}: " + ", ".join(
                        f"{s} {pair[s]['median_s']:.3f} s" for s in kinds), flush=True)

    result = {
        "setup": {
            "frames": args.frames, "height": args.height, "width": args.width,
            "segments": args.segments, "videos": videos,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "loadavg_end": list(os.getloadavg()),
            "timing": "protocol clock: scribble handed to the method -> masks of all frames "
                      "returned; median/p90 over interactions 2..n",
            "solvers": {"before": "Jacobi-PCG per label, BLAS threads as they are",
                        "after": "same CG, BLAS held to 1 thread during the solve",
                        TORCH_ONE: "after, and torch.set_num_threads(1) for the GNN"},
        },
        "rows": rows,
    }
    write_json(args.out, result)
    print(f"\n{args.frames} frames {args.width}x{args.height}, load "
          f"{os.getloadavg()[0]:.1f} (end), {os.cpu_count()} cpus")
    print(f"{'method':<14} {'obj':>3} {'solver':<12} {'first s':>8} {'median s':>9} "
          f"{'p90 s':>7} {'final J':>8} {'x faster':>8} {'labels diff':>11} {'max dJ':>8}")
    for r in rows:
        extra = (f"{r['speedup_median']:>8.1f} {max(r['labels_differing']):>11d} "
                 f"{r['max_abs_J_change']:>8.1e}" if r["solver"] != "before" else "")
        print(f"{r['method']:<14} {r['objects']:>3} {r['solver']:<12} {r['first_s']:>8.3f} "
              f"{r['median_s']:>9.3f} {r['p90_s']:>7.3f} {r['J_per_interaction'][-1]:>8.3f} "
              f"{extra}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
