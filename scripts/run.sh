#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job: `dvc repro` of the whole pipeline on the
# dataset chosen in params.yaml (default: the embedded synthetic dataset, offline).
# Extra arguments go to dvc repro (e.g. `bash scripts/run.sh --quiet`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
dvc repro "$@"
