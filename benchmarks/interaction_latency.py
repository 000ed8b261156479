"""Interaction latency of the interactive methods: scribble in -> masks of every frame out.

Builds one synthetic DAVIS-layout video (default 70 frames at 854x480, ~700 superpixels
per frame) through the real pipeline stages (flow, superpixels, features, graphs; not
timed), then runs the DAVIS interactive protocol's session driver with 8 interactions for
each method. The protocol clock measures what counts in the benchmark: the method's time
between receiving a scribble and returning the (T, H, W) masks of all frames (for the
graph methods: seed update, dynamic features, random walker / model, and rasterising node
labels to pixels). Reported: median and p90 over interactions (the first interaction
includes the per-video set-up done in ``start``, reported separately).

The GNN uses ``--checkpoint`` when it exists, else an untrained network of the same
architecture (latency does not depend on the weights). ``--device cuda`` times the GNN on
a GPU. Prints a table and writes ``metrics/interaction_latency.json``.
Usage: ``python benchmarks/interaction_latency.py [--frames 70] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gnnannot.atomic import write_json
from gnnannot.data import davis
from gnnannot.data import synthetic as syn
from gnnannot.ivos.session import VideoData, run_session
from gnnannot.methods.gnn import FEATURE_VIEW, model_params
from gnnannot.methods.registry import make_method
from gnnannot.model import GNNAnnot, save_checkpoint
from gnnannot.pipeline.features import build_feature_store
from gnnannot.pipeline.flow import build_flow_store
from gnnannot.pipeline.graphs import build_graph_store
from gnnannot.pipeline.superpixels import build_superpixel_store
from gnnannot.preprocess.superpixels import SuperpixelParams
from gnnannot.store.graphs import open_graph

METHODS = ("nearest_seed", "random_walker", "gnn")


def _untrained_checkpoint(graph_store: str, seq: str, path: Path) -> None:
    g = open_graph(graph_store, seq)
    model = GNNAnnot.from_params(model_params(g, {
        "hidden": 16, "n_layers": 6, "batch_norm": False, "graph_norm": False,
        "prior_features": ["rw_prob", "rw_bg_prob"]}))
    save_checkpoint(path, model, extra={"rw_beta": 4.0, "decay": 0.9,
                                        "feature_view": FEATURE_VIEW})


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--frames", type=int, default=70)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=854)
    ap.add_argument("--segments", type=int, default=700)
    ap.add_argument("--interactions", type=int, default=8)
    ap.add_argument("--checkpoint", default="models/model.pt")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=3, help="dataset seed (3: two objects)")
    ap.add_argument("--quick", action="store_true", help="12 frames at 240x427 (smoke test)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--out", default="metrics/interaction_latency.json")
    args = ap.parse_args()
    if args.quick:
        args.frames, args.height, args.width, args.segments = 12, 240, 427, 300

    with tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        d = Path(tmp)
        root = d / "davis"
        syn.generate_dataset(root, seed=args.seed, n_train=0, n_val=1, n_frames=args.frames,
                             height=args.height, width=args.width, max_objects=3,
                             quiet=args.quiet)
        seq = davis.read_split(root, "val")[0]
        s = {k: str(d / f"{k}.zarr") for k in ("flow", "superpixels", "features", "graphs")}
        t0 = time.perf_counter()
        build_flow_store(str(root), s["flow"], sequences=[seq], quiet=args.quiet)
        build_superpixel_store(str(root), s["superpixels"], s["flow"],
                               SuperpixelParams(n_segments=args.segments), sequences=[seq],
                               quiet=args.quiet)
        build_feature_store(str(root), s["features"], s["superpixels"], s["flow"],
                            sequences=[seq], quiet=args.quiet)
        build_graph_store(s["graphs"], s["superpixels"], s["features"], s["flow"], [seq],
                          quiet=args.quiet)
        prep_s = time.perf_counter() - t0
        graph = open_graph(s["graphs"], seq)
        ckpt = Path(args.checkpoint)
        trained = ckpt.exists()
        if not trained:
            ckpt = d / "untrained.pt"
            _untrained_checkpoint(s["graphs"], seq, ckpt)
        gt = davis.read_annotations(root, seq)
        k = davis.num_objects(gt)
        scribble = davis.read_scribble(davis.scribble_paths(root, seq)[0], gt.shape[0], k)
        video = VideoData(seq, davis.read_frames(root, seq), k)
        rows = []
        for name in METHODS:
            method = make_method(name, graph_store=s["graphs"], dataset_root=root,
                                 checkpoint=ckpt if name == "gnn" else None,
                                 device=args.device if name == "gnn" else "cpu")
            res = run_session(video, gt, scribble, method,
                              max_interactions=args.interactions, max_time=None,
                              interaction_limit=None)
            per = res.report.groupby("interaction")
            times = per["timing"].first().to_numpy()
            js = per["jaccard"].mean().to_numpy()
            later = times[1:] if times.size > 1 else times
            rows.append({
                "method": name,
                "device": args.device if name == "gnn" else "cpu",
                "interactions": int(times.size),
                "first_s": float(times[0]),
                "median_s": float(np.median(later)),
                "p90_s": float(np.percentile(later, 90)),
                "all_s": [float(t) for t in times],
                "J_per_interaction": [float(j) for j in js],
            })

    result = {
        "setup": {
            "frames": args.frames, "height": args.height, "width": args.width,
            "superpixels_per_frame": graph.n_nodes / graph.n_frames,
            "nodes": int(graph.n_nodes), "edges": int(graph.edge_index.shape[1]),
            "objects": k, "preprocessing_s": prep_s,
            "gnn_checkpoint": str(args.checkpoint) if trained else "untrained (same shape)",
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "loadavg": list(os.getloadavg()),
            "timing": "protocol clock: scribble handed to the method -> masks of all frames "
                      "returned; median/p90 over interactions 2..n",
        },
        "rows": rows,
    }
    write_json(args.out, result)
    print(f"\n{args.frames} frames {args.width}x{args.height}, {graph.n_nodes} nodes "
          f"({graph.n_nodes / graph.n_frames:.0f}/frame), {k} object(s), "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'method':<14} {'device':<6} {'first s':>8} {'median s':>9} {'p90 s':>7} "
          f"{'final J':>8}")
    for r in rows:
        print(f"{r['method']:<14} {r['device']:<6} {r['first_s']:>8.3f} {r['median_s']:>9.3f} "
              f"{r['p90_s']:>7.3f} {r['J_per_interaction'][-1]:>8.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
