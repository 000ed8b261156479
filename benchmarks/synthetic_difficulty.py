"""How hard is a synthetic val split? J after the first scribble, per video, from benchmark
reports (``metrics/benchmark/<method>/report.csv`` of ``gnnannot benchmark`` or the
``benchmark`` stage run with ``--max-interactions 1`` or more).

For each ``NAME=REPORT`` it prints a per-video table (mean J over the video's scribbles,
objects and frames at interaction 1), the mean over videos with a 95% bootstrap interval
over videos, and, when ``--meta`` names the dataset's ``synthetic.json``, the mean J of
videos with and without each effect (blur, shake, lighting, non-rigid, fast, thin parts,
camouflage, colour-matched). Writes ``metrics/synthetic_difficulty.json``.

    python benchmarks/synthetic_difficulty.py \\
        old=/tmp/old/benchmark/random_walker/report.csv \\
        new=metrics/benchmark/random_walker/report.csv --meta new=data/davis/synthetic.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from gnnannot.ivos.stats import bootstrap_mean_ci


def per_video_j(report: Path, interaction: int = 1) -> pd.Series:
    """Mean J per sequence at ``interaction`` (over scribbles, objects and frames)."""
    df = pd.read_csv(report)
    df = df[df["interaction"] == interaction]
    if df.empty:
        raise SystemExit(f"{report}: no rows for interaction {interaction}")
    per_session = df.groupby(["sequence", "scribble_idx"])["jaccard"].mean()
    return per_session.groupby(level=0).mean()


def effect_groups(meta: Path) -> dict[str, set[str]]:
    """Val sequences having each effect, from a ``synthetic.json``."""
    videos = json.loads(meta.read_text()).get("videos", {})
    groups: dict[str, set[str]] = {}
    for name, v in videos.items():
        objs = v.get("objects", [])
        flags = {
            "blur": v.get("exposure", 0) > 0, "shake": v.get("shake_px", 0) > 0,
            "lighting": bool(v.get("lighting")),
            "nonrigid": any(o["nonrigid"] for o in objs), "fast": any(o["fast"] for o in objs),
            "thin": any(o["thin_px"] > 0 for o in objs),
            "camouflaged": any(o["camouflaged"] for o in objs),
            "colour_matched": any(o["colour_matched"] for o in objs),
            "long (>= 48 frames)": v.get("n_frames", 0) >= 48,
            "multi-object": v.get("n_objects", 1) > 1,
        }
        for key, on in flags.items():
            if on:
                groups.setdefault(key, set()).add(name)
    return groups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("reports", nargs="+", help="NAME=path/to/report.csv")
    ap.add_argument("--meta", action="append", default=[], help="NAME=path/to/synthetic.json")
    ap.add_argument("--interaction", type=int, default=1)
    ap.add_argument("--out", default="metrics/synthetic_difficulty.json")
    args = ap.parse_args()
    metas = dict(m.split("=", 1) for m in args.meta)
    result: dict[str, dict] = {}
    for item in args.reports:
        name, path = item.split("=", 1)
        j = per_video_j(Path(path), args.interaction)
        lo, hi = bootstrap_mean_ci(j.to_numpy())
        entry = {"report": path, "n_videos": int(len(j)), "mean_J": float(j.mean()),
                 "ci95": [lo, hi], "per_video": {k: round(float(v), 4) for k, v in j.items()}}
        print(f"\n{name}: {path}\n{'sequence':<20} J@{args.interaction}")
        for seq, v in j.items():
            print(f"{seq:<20} {v:.3f}")
        print(f"{'mean':<20} {j.mean():.3f}  95% CI [{lo:.3f}, {hi:.3f}] over {len(j)} videos")
        if name in metas:
            groups = effect_groups(Path(metas[name]))
            entry["by_effect"] = {}
            print(f"{'effect':<22} {'with':>6} {'n':>3} {'without':>8} {'n':>3}")
            for key, seqs in sorted(groups.items()):
                on = j[j.index.isin(seqs)]
                off = j[~j.index.isin(seqs)]
                entry["by_effect"][key] = {"with": float(on.mean()) if len(on) else None,
                                           "n_with": int(len(on)),
                                           "without": float(off.mean()) if len(off) else None,
                                           "n_without": int(len(off))}
                print(f"{key:<22} {on.mean():>6.3f} {len(on):>3} "
                      f"{(off.mean() if len(off) else float('nan')):>8.3f} {len(off):>3}")
        result[name] = entry
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"interaction": args.interaction, "results": result}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
