"""End-to-end time of a cached ``gnnannot segment --method random_walker`` run, before and
after (issue 16: <= 3 s on a cached 4-frame video; torch imported only by torch methods).

Writes a synthetic 4-frame 854x480 clip (frames folder + DAVIS scribble), runs the command
once to fill the preprocessing cache (not timed), then times the whole command in fresh
interpreters, alternating the checkouts given (``--before /path/to/old/checkout``: its
``gnnannot`` package; ``after``: this one) so that drifting load hits both alike. Each run
also reports whether torch was imported and the seconds of ``import gnnannot.cli``.
Prints a table and writes ``metrics/segment_startup.json``.
Usage: ``python benchmarks/segment_startup.py [--before DIR] [--repeats 5]``, e.g. with
``git archive BASE | tar -x -C DIR`` for the commit before the change.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gnnannot.atomic import write_json
from gnnannot.data.synthetic import make_video

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys, time
t0 = time.perf_counter()
from gnnannot.cli import main
t_import = time.perf_counter() - t0
sys.argv = ["gnnannot", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
import gnnannot
print(json.dumps({"torch": "torch" in sys.modules, "import_s": t_import,
                  "package": gnnannot.__file__}))
"""


def _run(root: Path, args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=root, env=env,
                         capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"segment failed under {root}: {res.stdout}{res.stderr}")
    return {"wall_s": wall, **json.loads(res.stdout.strip().splitlines()[-1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--before", default=None, help="checkout timed as 'before'")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=854)
    ap.add_argument("--out", default="metrics/segment_startup.json")
    args = ap.parse_args()
    import cv2

    roots = {"after": REPO}
    if args.before:
        roots = {"before": Path(args.before).resolve(), **roots}
    video = make_video(5, "startup", n_frames=args.frames, height=args.height,
                       width=args.width, max_objects=2, with_flow=False)
    runs: dict[str, list[dict]] = {k: [] for k in roots}
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        d = Path(tmp)
        frames = d / "frames"
        frames.mkdir()
        for t, img in enumerate(video.frames):
            cv2.imwrite(str(frames / f"{t:05d}.png"), img[..., ::-1])
        scribble = d / "s1.json"
        scribble.write_text(json.dumps(video.scribble))
        for name, root in roots.items():  # fill each checkout's cache (not timed)
            base = ["segment", str(frames), "-s", str(scribble), "--out", str(d / f"out-{name}"),
                    "--method", "random_walker", "--cache-dir", str(d / f"cache-{name}"), "-q",
                    "--overwrite"]
            _run(root, base)
        for _ in range(args.repeats):
            for name, root in roots.items():
                base = ["segment", str(frames), "-s", str(scribble), "--out",
                        str(d / f"out-{name}"), "--method", "random_walker", "--cache-dir",
                        str(d / f"cache-{name}"), "-q", "--overwrite"]
                runs[name].append(_run(root, base))
    rows = []
    for name, rs in runs.items():
        walls = [r["wall_s"] for r in rs]
        rows.append({"checkout": name, "root": str(roots[name]),
                     "median_s": float(np.median(walls)), "min_s": float(min(walls)),
                     "all_s": walls,
                     "import_cli_s": float(np.median([r["import_s"] for r in rs])),
                     "torch_imported": any(r["torch"] for r in rs),
                     "package": rs[0]["package"]})
    write_json(args.out, {
        "setup": {"frames": args.frames, "height": args.height, "width": args.width,
                  "command": "gnnannot segment FRAMES -s s1.json --out OUT --method "
                             "random_walker -q --overwrite (cached; overlay and RLE on)",
                  "repeats": args.repeats, "cpu_count": os.cpu_count(),
                  "loadavg_end": list(os.getloadavg())},
        "rows": rows})
    print(f"cached {args.frames}-frame {args.width}x{args.height} segment, random walker, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'checkout':<8} {'median s':>9} {'min s':>7} {'import cli s':>12} {'torch':>6}")
    for r in rows:
        print(f"{r['checkout']:<8} {r['median_s']:>9.2f} {r['min_s']:>7.2f} "
              f"{r['import_cli_s']:>12.2f} {str(r['torch_imported']):>6}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
