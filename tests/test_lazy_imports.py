"""``gnnannot segment --method random_walker`` never imports torch (issue 16: ~4 s of
every start): the whole command runs in a fresh interpreter, which then reports the
modules it loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gnnannot.data.synthetic import make_video

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from gnnannot.cli import main
sys.argv = ["gnnannot", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    assert not exc.code, f"gnnannot exited with {exc.code}"
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torch_geometric"))
print(json.dumps({"heavy": heavy[:5], "gnn": "gnnannot.methods.gnn" in sys.modules}))
"""


def _probe(args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    res = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_random_walker_segment_never_imports_torch(tmp_path, write_png_frames) -> None:
    video = make_video(4, "lazy", n_frames=4, height=96, width=128, max_objects=2,
                       with_flow=False)
    frames = tmp_path / "frames"
    write_png_frames(video.frames, frames, "{t:05d}.png")
    scribble = tmp_path / "s1.json"
    scribble.write_text(json.dumps(video.scribble))
    out = tmp_path / "out"
    args = ["segment", str(frames), "-s", str(scribble), "--out", str(out), "--method",
            "random_walker",
            "--cache-dir", str(tmp_path / "cache"), "--no-overlay", "-q"]
    for run in ("fresh", "cached"):  # preprocessing, then the cached path
        got = _probe(args + (["--overwrite"] if run == "cached" else []))
        assert got == {"heavy": [], "gnn": False}, run
        assert len(list((out / "masks").glob("*.png"))) == 4
    # the probe itself sees torch when a torch method runs (it is not blind)
    got = _probe(["segment", str(frames), "-s", str(scribble), "--out", str(tmp_path / "o2"),
                  "--method", "gnn", "--cache-dir", str(tmp_path / "cache"), "--no-overlay",
                  "-q"])
    assert "torch" in got["heavy"] and got["gnn"]
