"""The data stage reproduces dvc.lock, and the generator gives the same bytes whatever SIMD
code paths OpenCV and NumPy pick on this CPU (emulating older/other x86-64 CPUs)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from gnnannot.data.prepare import prepare_dataset
from gnnannot.dirhash import dir_md5, lock_entry

REPO = Path(__file__).resolve().parents[1]

_GEN = r"""
import hashlib, json, sys
import numpy as np
from gnnannot.data.synthetic import make_video
out = {}
for name in ["synth-train-000", "synth-val-000", "synth-val-001", "synth-val-003"]:
    v = make_video(0, name, n_frames=5, height=240, width=427, with_flow=False)
    out[name] = [hashlib.md5(a.tobytes()).hexdigest() for a in (v.frames, v.masks)]
    out[name].append(json.dumps(v.scribble, sort_keys=True))
print(json.dumps(out))
"""


def _numpy_dispatch_to_disable() -> str:
    """NumPy's dispatched SIMD levels this CPU has (disabling them emulates an older CPU)."""
    code = ("import numpy._core._multiarray_umath as m; print(' '.join(f for f in "
            "m.__cpu_dispatch__ if m.__cpu_features__.get(f)))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def _generate(env_extra: dict[str, str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), **env_extra}
    res = subprocess.run([sys.executable, "-c", _GEN], capture_output=True, text=True,
                         env=env, cwd=REPO, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_generator_independent_of_simd_dispatch() -> None:
    reference = _generate({})
    variants = [
        {"OPENCV_CPU_DISABLE": "AVX512_SKX,AVX2,FMA3,AVX,FP16,POPCNT,SSE4_2,SSE4_1"},
        {"NPY_DISABLE_CPU_FEATURES": _numpy_dispatch_to_disable()},
        {"OPENBLAS_CORETYPE": "Prescott", "JSIMD_FORCENONE": "1"},
    ]
    for env in variants:
        env = {k: v for k, v in env.items() if v}
        assert _generate(env) == reference, f"generator output changed with {env}"


def test_data_stage_reproduces_dvc_lock(tmp_path: Path) -> None:
    lock = lock_entry(REPO / "dvc.lock", "data")
    params = yaml.safe_load((REPO / "params.yaml").read_text())["data"]
    locked = lock["params"]["params.yaml"]["data"]
    assert params == locked, (
        "dvc.lock is stale: params.yaml's data section differs from the one dvc.lock was "
        f"made with ({locked} in dvc.lock, {params} in params.yaml); run `dvc repro`"
    )
    out = next(o for o in lock["outs"] if o["path"] == params["root"])
    assert params["source"] == "synthetic", "this check regenerates the synthetic dataset"
    prepare_dataset("synthetic", tmp_path / "davis", seed=params["seed"],
                    synthetic=params["synthetic"], quiet=True)
    got = dir_md5(tmp_path / "davis")
    assert (got.md5, got.size, got.nfiles) == (out["md5"], out["size"], out["nfiles"]), (
        f"regenerated {params['root']}: {got}; dvc.lock has md5 {out['md5']}, size "
        f"{out['size']}, {out['nfiles']} files (stale dvc.lock after a generator change, "
        "or a library version other than scripts/requirements.lock)"
    )
