"""A stage whose output bytes change must bump its code version.

Every store keeps a video's group when its fingerprint (params, upstream fingerprints,
the stage's code version) is unchanged, so a code change that alters the output without
bumping the version leaves stale groups that look valid: `dvc repro` reruns the stage
(its code is a dep) and the stage then skips every video. It happened: the features
stage changed its descriptors and kept STAGE_VERSION 1, and `dvc repro` reported
"64 up to date".

``tests/golden/stage_outputs.json`` holds, per stage, the version constants and DVC's
directory hash of the store built from a tiny synthetic dataset. The first stage whose
bytes differ from the golden while everything upstream matches must have a new version.
After bumping (or when only upstream changed), refresh the golden with
``GNNANNOT_UPDATE_GOLDEN=1 pytest tests/test_stage_versions.py``.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from stage_runner import STAGES, run_stages, tiny_params

from gnnannot.dirhash import dir_md5

GOLDEN = Path(__file__).parent / "golden" / "stage_outputs.json"
OUTPUTS = {"data": "davis", "flow": "flow.zarr", "superpixels": "superpixels.zarr",
           "features": "features.zarr", "graphs": "graphs.zarr"}  # fmt: skip
#: the constants that make a store's groups recompute, per stage (the data stage has none:
#: its bytes are checked against dvc.lock by tests/test_data_reproducible.py)
VERSIONS = {
    "data": (),
    "flow": ("gnnannot.store.flow:CODE_VERSION", "gnnannot.store.flow:FORMAT_VERSION"),
    "superpixels": ("gnnannot.pipeline.superpixels:STAGE_VERSION",
                    "gnnannot.store.base:FORMAT_VERSION"),
    "features": ("gnnannot.pipeline.features:STAGE_VERSION",
                 "gnnannot.store.base:FORMAT_VERSION"),
    "graphs": ("gnnannot.pipeline.graphs:STAGE_VERSION", "gnnannot.store.base:FORMAT_VERSION"),
}


def _versions(stage: str) -> dict[str, int]:
    out = {}
    for ref in VERSIONS[stage]:
        mod, name = ref.split(":")
        out[ref] = getattr(importlib.import_module(mod), name)
    return out


def test_changed_stage_output_bumps_its_version(tmp_path):
    data = run_stages(tmp_path / "run", tiny_params())
    now = {s: {"versions": _versions(s), "md5": dir_md5(data / OUTPUTS[s]).md5}
           for s in STAGES}  # fmt: skip
    if os.environ.get("GNNANNOT_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(now, indent=2, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert list(golden) == sorted(STAGES), f"{GOLDEN}: stages {list(golden)}"
    stale = []
    upstream_same = True
    for stage in STAGES:
        was, cur = golden[stage], now[stage]
        if cur["md5"] != was["md5"] and upstream_same and cur["versions"] == was["versions"]:
            raise AssertionError(
                f"the {stage} stage's output changed (its inputs did not) but its version "
                f"constants {cur['versions']} did not: bump one, or the stores keep groups "
                f"built by the old code; then refresh {GOLDEN.name} with "
                "GNNANNOT_UPDATE_GOLDEN=1 pytest tests/test_stage_versions.py")
        if cur != was:
            stale.append(stage)
        upstream_same = upstream_same and cur["md5"] == was["md5"]
    assert not stale, (f"{GOLDEN} is stale for {stale} (versions bumped or upstream changed): "
                       "refresh it with GNNANNOT_UPDATE_GOLDEN=1 pytest "
                       "tests/test_stage_versions.py")
