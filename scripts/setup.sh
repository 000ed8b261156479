#!/usr/bin/env bash
# Create .venv (if needed) and install gnnannot with its test tools.
# torch: by default the CPU build pinned below (on the project's machines it installs from
# local disk; an unpinned torch pulls a multi-GB CUDA build). For CUDA, install the torch
# you want into .venv first, or set GNNANNOT_TORCH (e.g. GNNANNOT_TORCH="torch" for the
# registry's default CUDA build, GNNANNOT_TORCH=skip to keep whatever torch is there).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
pip_q() { python -m pip install --disable-pip-version-check -q "$@"; }
TORCH_SPEC=${GNNANNOT_TORCH:-torch==2.13.0}
if [ "$TORCH_SPEC" != "skip" ] && ! python -c "import torch" 2>/dev/null; then
  pip_q "$TORCH_SPEC"
fi
# Every other dependency comes from scripts/requirements.lock (exact versions and sha256
# hashes, refreshed with `bash scripts/lock.sh`), installed without resolving anything
# (--no-deps), then gnnannot itself (editable, no build isolation: the build backend is
# locked too). GNNANNOT_UNLOCKED=1 installs the open ranges of pyproject.toml instead.
if ! python -c "import gnnannot, pytest, dvc" 2>/dev/null || [ "${GNNANNOT_REINSTALL:-0}" = 1 ] \
   || [ pyproject.toml -nt .venv/.gnnannot-installed ] \
   || [ scripts/requirements.lock -nt .venv/.gnnannot-installed ]; then
  if [ "${GNNANNOT_UNLOCKED:-0}" = 1 ]; then
    pip_q -e ".[test]"
  else
    pip_q --require-hashes --no-deps -r scripts/requirements.lock
    pip_q --no-deps --no-build-isolation -e .
    python -m pip check --disable-pip-version-check >/dev/null \
      || { python -m pip check; echo "setup.sh: dependency conflict (above)" >&2; exit 1; }
  fi
  touch .venv/.gnnannot-installed
fi
# fast_slic (MIT) segments a 854x480 frame in ~18 ms vs ~71 ms for scikit-image's slic at
# half size, with better boundaries (superpixel oracle J 0.960 vs 0.919 on the synthetic
# val set, benchmarks/graph_speed.py). It ships only as an sdist that needs Cython and
# numpy at build time, hence --no-build-isolation. Optional: without it the superpixels
# stage falls back to scikit-image.
if ! python -c "import fast_slic" 2>/dev/null; then
  if ! pip_q --no-build-isolation "fast-slic==0.4.0"; then  # Cython: from the lock
    echo "setup.sh: WARNING: fast_slic did not build; superpixels use scikit-image's slic" >&2
  fi
fi
