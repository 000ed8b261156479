#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the test suite and the linter.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k flow`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
ruff check gnnannot stages tests benchmarks
python -m pytest -q "$@"
