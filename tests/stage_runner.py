"""Run the preprocessing stages (data .. graphs) the way dvc.yaml does, in a folder of
their own with a tiny synthetic dataset: shared by the tests that compare stored bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("data", "flow", "superpixels", "features", "graphs")


def tiny_params(**synthetic: Any) -> dict[str, Any]:
    """params.yaml with a 1+1-video, 5-frame 200x320 synthetic dataset and 1 worker per
    stage (``synthetic`` overrides the dataset's options)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["source"] = "synthetic"
    params["data"]["synthetic"].update(n_train=1, n_val=1, n_frames=5, height=200, width=320)
    params["data"]["synthetic"].update(synthetic)
    for stage in ("superpixels", "features", "graphs"):
        params[stage]["executor"]["workers"] = 1
    return params


def run_stages(cwd: Path, params: dict[str, Any], extra_env: dict[str, str] | None = None
               ) -> Path:
    """Write ``params`` to ``cwd/params.yaml``, run every stage of :data:`STAGES` with
    dvc.yaml's command (``--quiet``) and return ``cwd/data``."""
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(extra_env or {})}
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    root = params["data"]["root"]
    for stage in STAGES:
        cmd = stages[stage]["cmd"].replace("${data.root}", root).split()  # python -m stages.x
        res = subprocess.run([sys.executable, *cmd[1:], "--quiet"], cwd=cwd,
                             env=env, capture_output=True, text=True)
        assert res.returncode == 0, f"stage {stage} failed:\n{res.stdout}\n{res.stderr}"
    return cwd / "data"
