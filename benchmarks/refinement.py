"""Pixel refinement (gnnannot.methods.refine): J and F with and without it, and its latency.

(a) The superpixel oracle (majority ground truth of every superpixel: the ceiling of any
    method that labels whole superpixels) on every frame of every sequence, raw and
    refined (no scribbles), on real footage (davis16-dev) and on the synthetic val split.
(b) Graph methods in the DAVIS interactive protocol (8 interactions, the robot sees each
    variant's own masks), raw and refined: J and F after interactions 1 and 8.
(c) Latency: the refinement's share of every interaction in the refined runs of (b)
    (ms per frame, ratio to the method's own time in the same interaction), and on a
    70-frame 854x480 synthetic video built through the pipeline stages (the
    interaction-latency benchmark's video).

J/F: per (sequence, object) mean over frames ((a)) or per session and interaction mean
over objects and frames ((b)), then the mean; 95% intervals of the paired refined - raw
difference by a seeded bootstrap over those units. Prints tables, writes
``metrics/refinement.json``.
Usage: ``python benchmarks/refinement.py [--quick] [--methods random_walker gnn]
[--protocol-sequences N]`` (paths of the real and synthetic data: see ``--help``)
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from gnnannot.atomic import write_json
from gnnannot.data import davis
from gnnannot.ivos.benchmark import run_benchmark
from gnnannot.ivos.metrics import batched_f_measure, batched_jaccard
from gnnannot.ivos.session import VideoData, run_session
from gnnannot.ivos.stats import bootstrap_mean_ci
from gnnannot.methods.refine import REFINE_DEFAULTS, RefinedMethod, refine_frame
from gnnannot.methods.registry import make_method
from gnnannot.preprocess.graph import oracle_labels
from gnnannot.store.graphs import open_graph


def paired(raw: np.ndarray, ref: np.ndarray, seed: int = 0, n_boot: int = 10000) -> dict:
    """Means of ``raw`` and ``ref`` (paired units) and the 95% bootstrap interval of the
    mean difference ``ref - raw``."""
    raw, ref = np.asarray(raw, float), np.asarray(ref, float)
    d = ref - raw
    lo, hi = bootstrap_mean_ci(d, n_boot=n_boot, seed=seed)
    return {"raw": float(raw.mean()), "refined": float(ref.mean()), "diff": float(d.mean()),
            "ci95": [float(lo), float(hi)], "n": int(d.size)}  # fmt: skip


def oracle_part(root: Path, graphs: Path, seqs: list[str], quiet: bool) -> dict:
    """(a): raw vs refined superpixel oracle on every frame of ``seqs``."""
    units: dict[str, list[float]] = {"J_raw": [], "J_ref": [], "F_raw": [], "F_ref": []}
    n_frames, refine_s = 0, 0.0
    for seq in seqs:
        g = open_graph(graphs, seq)
        gt = davis.read_annotations(root, seq)
        frames = davis.read_frames(root, seq)
        k = davis.num_objects(gt)
        lab = oracle_labels(g, gt).astype(np.uint8)
        raw = np.stack([lab[g.labels(t)] for t in range(g.n_frames)])
        t0 = time.perf_counter()
        ref = np.stack([refine_frame(frames[t], raw[t]) for t in range(g.n_frames)])
        refine_s += time.perf_counter() - t0
        n_frames += g.n_frames
        for name, pred in (("raw", raw), ("ref", ref)):
            units[f"J_{name}"] += batched_jaccard(gt, pred, k).mean(axis=1).tolist()
            units[f"F_{name}"] += batched_f_measure(gt, pred, k).mean(axis=1).tolist()
        if not quiet:
            print(f"  oracle {seq}: J {np.mean(units['J_raw'][-k:]):.3f} -> "
                  f"{np.mean(units['J_ref'][-k:]):.3f}", flush=True)
    return {"J": paired(units["J_raw"], units["J_ref"]),  # units: (sequence, object)
            "F": paired(units["F_raw"], units["F_ref"]),
            "sequences": len(seqs), "frames": n_frames,
            "refine_ms_per_frame": 1000 * refine_s / max(n_frames, 1)}  # fmt: skip


def session_table(report: Any) -> Any:
    """Per (session, interaction): mean J and F over objects (each a mean over frames)."""
    per_obj = report.groupby(["sequence", "scribble_idx", "interaction", "object_id"])[
        ["jaccard", "contour"]].mean()  # fmt: skip
    return per_obj.groupby(level=["sequence", "scribble_idx", "interaction"]).mean()


def protocol_part(
    root: Path, graphs: Path, seqs: list[str], method: str, interactions: int,
    checkpoint: Path, quiet: bool,
) -> dict:
    """(b) and (c) for one method: raw and refined protocol runs."""
    def new() -> Any:
        return make_method(method, graph_store=graphs, dataset_root=root,
                           checkpoint=checkpoint if method == "gnn" else None)  # fmt: skip

    t0 = time.perf_counter()
    raw_rep, _ = run_benchmark(root, seqs, new(), max_interactions=interactions,
                               max_time=None, interaction_limit=None, quiet=quiet)  # fmt: skip
    t_raw = time.perf_counter() - t0
    refined = RefinedMethod(new())
    t0 = time.perf_counter()
    ref_rep, _ = run_benchmark(root, seqs, refined, max_interactions=interactions,
                               max_time=None, interaction_limit=None, quiet=quiet)  # fmt: skip
    t_ref = time.perf_counter() - t0
    a, b = session_table(raw_rep), session_table(ref_rep)
    out: dict[str, Any] = {"wall_s": {"raw_run": t_raw, "refined_run": t_ref}}
    for it in sorted({1, interactions}):
        ra = a.xs(it, level="interaction")
        rb = b.xs(it, level="interaction").reindex(ra.index)
        out[f"interaction_{it}"] = {"J": paired(ra["jaccard"], rb["jaccard"]),
                                    "F": paired(ra["contour"], rb["contour"])}  # fmt: skip
    times = np.array(refined.timings)
    n_frames = ref_rep.groupby(["sequence", "scribble_idx", "interaction"], sort=False)[
        "frame"].nunique()  # in call order
    frames_per_call = n_frames.to_numpy()[: len(times)]
    out["latency"] = latency_row(times, frames_per_call)
    return out


def latency_row(times: np.ndarray, frames: np.ndarray) -> dict:
    """Median refinement ms per frame and refinement / method time over interactions."""
    method_s, refine_s = times[:, 0], times[:, 1]
    return {"interactions": int(len(times)),
            "method_s_median": float(np.median(method_s)),
            "refine_s_median": float(np.median(refine_s)),
            "refine_ms_per_frame_median": float(np.median(1000 * refine_s / frames)),
            "ratio_median": float(np.median(refine_s / method_s)),
            "ratio_total": float(refine_s.sum() / method_s.sum())}  # fmt: skip


def latency_video(frames: int, methods: list[str], checkpoint: Path, quiet: bool) -> dict:
    """(c) on the interaction-latency benchmark's synthetic video (seed 3, two objects,
    ``frames`` frames at 854x480) built through the pipeline stages."""
    from gnnannot.data import synthetic as syn
    from gnnannot.pipeline.features import build_feature_store
    from gnnannot.pipeline.flow import build_flow_store
    from gnnannot.pipeline.graphs import build_graph_store
    from gnnannot.pipeline.superpixels import build_superpixel_store
    from gnnannot.preprocess.superpixels import SuperpixelParams

    with tempfile.TemporaryDirectory(prefix="refine-latency-") as tmp:
        d = Path(tmp)
        root = d / "davis"
        syn.generate_dataset(root, seed=3, n_train=0, n_val=1, n_frames=frames, height=480,
                             width=854, max_objects=3, quiet=quiet)  # fmt: skip
        seq = davis.read_split(root, "val")[0]
        s = {k: str(d / f"{k}.zarr") for k in ("flow", "superpixels", "features", "graphs")}
        build_flow_store(str(root), s["flow"], sequences=[seq], quiet=quiet)
        build_superpixel_store(str(root), s["superpixels"], s["flow"],
                               SuperpixelParams(n_segments=700), sequences=[seq],
                               quiet=quiet)  # fmt: skip
        build_feature_store(str(root), s["features"], s["superpixels"], s["flow"],
                            sequences=[seq], quiet=quiet)  # fmt: skip
        build_graph_store(s["graphs"], s["superpixels"], s["features"], s["flow"], [seq],
                          quiet=quiet)  # fmt: skip
        gt = davis.read_annotations(root, seq)
        k = davis.num_objects(gt)
        scribble = davis.read_scribble(davis.scribble_paths(root, seq)[0], gt.shape[0], k)
        video = VideoData(seq, davis.read_frames(root, seq), k)
        rows = {}
        for name in methods:
            m = RefinedMethod(make_method(name, graph_store=s["graphs"], dataset_root=root,
                                          checkpoint=checkpoint if name == "gnn" else None))
            run_session(video, gt, scribble, m, max_interactions=8, max_time=None,
                        interaction_limit=None)  # fmt: skip
            t = np.array(m.timings)
            rows[name] = {**latency_row(t[1:], np.full(len(t) - 1, frames)),
                          "first_interaction": {"method_s": float(t[0, 0]),
                                                "refine_s": float(t[0, 1])}}  # fmt: skip
        return {"frames": frames, "size": [480, 854], "objects": k, "rows": rows,
                "note": "median over interactions 2..8 (the first includes set-up)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--real-root", type=Path, default=Path("../d16cache/data/davis"))
    ap.add_argument("--real-graphs", type=Path, default=Path("../d16cache/data/graphs.zarr"))
    ap.add_argument("--synth-root", type=Path, default=Path("data/davis"))
    ap.add_argument("--synth-graphs", type=Path, default=Path("data/graphs.zarr"))
    ap.add_argument("--synth-split", default="val")
    ap.add_argument("--methods", nargs="*", default=["random_walker"])
    ap.add_argument("--checkpoint", type=Path, default=Path("models/model.pt"))
    ap.add_argument("--interactions", type=int, default=8)
    ap.add_argument("--protocol-sequences", type=int, default=0,
                    help="protocol runs on the first N sequences of each dataset (0: all)")
    ap.add_argument("--latency-frames", type=int, default=70, help="0: skip")
    ap.add_argument("--latency-methods", nargs="*", default=["random_walker", "gnn"])
    ap.add_argument("--quick", action="store_true", help="2 sequences per dataset")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("metrics/refinement.json"))
    args = ap.parse_args()

    datasets = {}
    for name, root, graphs, split in (
        ("davis16_dev", args.real_root, args.real_graphs, None),
        ("synthetic_val", args.synth_root, args.synth_graphs, args.synth_split),
    ):
        if not graphs.exists():
            print(f"skipping {name}: no {graphs}")
            continue
        seqs = davis.read_split(root, split) if split else davis.list_sequences(root)
        datasets[name] = (root, graphs, seqs[:2] if args.quick else seqs)

    result: dict[str, Any] = {
        "params": asdict(REFINE_DEFAULTS),
        "setup": {"cpu_count": os.cpu_count(), "machine": platform.machine(),
                  "loadavg_start": list(os.getloadavg())},  # fmt: skip
        "oracle": {}, "protocol": {},
    }
    for name, (root, graphs, seqs) in datasets.items():
        print(f"[{name}] oracle on {len(seqs)} sequences", flush=True)
        result["oracle"][name] = oracle_part(root, graphs, seqs, args.quiet)
        for m in args.methods:
            print(f"[{name}] {m}: raw and refined protocol runs", flush=True)
            pseqs = seqs[: args.protocol_sequences] if args.protocol_sequences else seqs
            result["protocol"].setdefault(name, {})[m] = protocol_part(
                root, graphs, pseqs, m, args.interactions, args.checkpoint, args.quiet)
    if args.latency_frames:
        print(f"[latency] {args.latency_frames}-frame 854x480 synthetic video", flush=True)
        methods = [m for m in args.latency_methods if m != "gnn" or args.checkpoint.exists()]
        result["latency_video"] = latency_video(args.latency_frames, methods,
                                                args.checkpoint, args.quiet)  # fmt: skip
    result["setup"]["loadavg_end"] = list(os.getloadavg())
    write_json(args.out, result)

    def cell(p: dict) -> str:
        return (f"{p['raw']:.3f} -> {p['refined']:.3f} ({p['diff']:+.3f} "
                f"[{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}])")

    print(f"\n{'dataset':<14} {'what':<26} {'J raw -> refined (diff [95% CI])':<40} "
          f"{'F raw -> refined (diff [95% CI])'}")
    for name, o in result["oracle"].items():
        print(f"{name:<14} {'superpixel oracle':<26} {cell(o['J']):<40} {cell(o['F'])}")
        for m, r in result["protocol"].get(name, {}).items():
            for key in (k for k in r if k.startswith("interaction_")):
                what = f"{m} @{key.split('_')[1]}"
                print(f"{name:<14} {what:<26} {cell(r[key]['J']):<40} {cell(r[key]['F'])}")
    print(f"\n{'latency':<32} {'method s':>9} {'refine s':>9} {'ms/frame':>9} {'ratio':>6}")
    rows = [(f"{n}/{m}", r["latency"]) for n, pr in result["protocol"].items()
            for m, r in pr.items()]  # fmt: skip
    rows += [(f"{args.latency_frames}-frame video/{m}", r)
             for m, r in result.get("latency_video", {}).get("rows", {}).items()]
    for label, r in rows:
        print(f"{label:<32} {r['method_s_median']:>9.3f} {r['refine_s_median']:>9.3f} "
              f"{r['refine_ms_per_frame_median']:>9.1f} {r['ratio_median']:>6.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
