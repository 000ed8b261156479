"""``gnnannot segment`` as a user runs it after installing the package: a separate process
(the ``gnnannot`` console script), the working directory a folder outside the repository
that holds only the user's video and scribble, the package imported from where it is
installed. ``--method auto`` must run the GNN with the checkpoint shipped inside the
package, and say so and why (issue 17: it used to fall back to the random walker outside
the repository, silently, because the default checkpoint was the relative
``models/model.pt``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from gnnannot.data.synthetic import make_video
from gnnannot.store.palette import read_palette_png

REPO = Path(__file__).resolve().parents[1]
T, H, W = 6, 120, 214


def gnnannot_command() -> list[str]:
    """The installed console script next to this interpreter, else the same entry point
    through the interpreter (an install without scripts on this path)."""
    script = Path(sys.executable).parent / "gnnannot"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "import sys; from gnnannot.cli import main; sys.exit(main())"]


def test_segment_from_a_folder_outside_the_repository_uses_the_shipped_gnn(
    tmp_path, write_png_frames
):
    user = tmp_path / "user"  # the user's folder: no gnnannot/, no models/
    synth = make_video(4, "cli", n_frames=T, height=H, width=W, max_objects=1,
                       with_flow=False)  # fmt: skip
    write_png_frames(synth.frames, user / "clip")
    (user / "scribble.json").write_text(json.dumps(synth.scribble))
    assert REPO not in user.resolve().parents and REPO != user.resolve()
    env = {**os.environ, "GNNANNOT_CACHE": str(tmp_path / "cache")}
    # where this process's interpreter imports gnnannot from, run in the user's folder
    where = subprocess.run(
        [sys.executable, "-c", "import gnnannot, gnnannot.checkpoints as c; "
         "print(gnnannot.__file__); print(c.SHIPPED_CHECKPOINT)"],
        cwd=user, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    package = Path(where[0]).parent
    assert user not in package.parents and Path(where[1]) == package / "checkpoints/default.pt"
    assert Path(where[1]).is_file()

    res = subprocess.run(
        [*gnnannot_command(), "segment", "clip", "-s", "scribble.json", "--out", "out",
         "--no-overlay"],
        cwd=user, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    log = res.stdout + res.stderr
    assert res.returncode == 0, log
    # the method line names the GNN and why: the shipped checkpoint
    line = next(x for x in log.splitlines() if x.startswith("method:"))
    assert line.startswith("method: gnn (shipped checkpoint gnnannot/checkpoints/default.pt)"), line
    summary = json.loads((user / "out" / "segment.json").read_text())
    assert summary["method"] == "gnn"
    assert "shipped checkpoint" in summary["method_reason"]
    # the masks are the shipped GNN's: those of the library's Annotator run here with that
    # checkpoint on the same scribble (and not the random walker's)
    from gnnannot.annotate import Annotator
    from gnnannot.checkpoints import SHIPPED_CHECKPOINT

    masks = np.stack([read_palette_png(p) for p in sorted((user / "out" / "masks").glob("*.png"))])
    assert masks.shape == (T, H, W)

    def segment(method: str) -> np.ndarray:
        ann = Annotator(user / "clip", method=method, checkpoint=SHIPPED_CHECKPOINT,
                        cache_dir=tmp_path / "cache")  # fmt: skip
        return ann.interact(user / "scribble.json").to_array()

    gnn = segment("gnn")
    np.testing.assert_array_equal(masks, gnn)
    assert not np.array_equal(masks, segment("random_walker"))
    assert (masks == 1).any() and (masks == 0).any()
    assert sorted(p.name for p in user.iterdir()) == ["clip", "out", "scribble.json"]
