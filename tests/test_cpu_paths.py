"""Stored bytes do not depend on which SIMD code paths the CPU offers.

NumPy picks AVX-512 or AVX2 kernels at run time; some of them (float32 ``arctan2``, for
one) differ in the last bit. Before ``features.orientation_bins`` replaced ``arctan2``,
the colour descriptors of the same video differed between an AVX-512 machine and an
AVX2-only one, so `dvc repro` on a new machine never matched the committed dvc.lock.
This test runs the preprocessing stages (data .. graphs) on a tiny synthetic dataset
twice, once with NumPy's AVX-512 kernels disabled, and compares every stored byte.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest
from stage_runner import run_stages, tiny_params


def _avx512_features() -> list[str]:
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # pragma: no cover - other NumPy layouts
        return []
    return [f for f in __cpu_dispatch__
            if (f.startswith("AVX512") or f == "X86_V4") and __cpu_features__.get(f)]


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.mark.skipif(not _avx512_features(),
                    reason="this CPU has no AVX-512 kernels in NumPy to switch off")
def test_preprocessing_bytes_identical_without_avx512(tmp_path):
    params = tiny_params()
    runs = {}
    for name, env in (("native", {}),
                      ("avx2", {"NPY_DISABLE_CPU_FEATURES": " ".join(_avx512_features())})):
        runs[name] = run_stages(tmp_path / name, params, env)
    a, b = runs["native"], runs["avx2"]
    files = _files(a)
    assert files == _files(b)
    assert any(f.startswith("features.zarr/") for f in files)
    differ = [f for f in files if not filecmp.cmp(a / f, b / f, shallow=False)]
    assert not differ, f"bytes differ between AVX-512 and AVX2 NumPy paths: {differ[:10]}"
