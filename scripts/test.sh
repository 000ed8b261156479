#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the test suite and the linter.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k flow`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The browser test (tests/test_web_browser.py) drives Debian's chromium (never a downloaded
# browser): install it when missing, if apt-get and root are available. A failure is
# reported and tolerated: that test then skips.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "test.sh: installing chromium for the browser test (apt-get)..."
  chromium_log=$(mktemp)
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
       >"$chromium_log" 2>&1; then
    rm -f "$chromium_log"
  else
    echo "test.sh: WARNING: could not install chromium (log: $chromium_log);" \
         "tests/test_web_browser.py will be skipped"
  fi
fi
. .venv/bin/activate
# Conformance tests against the official davisinteractive 1.0.4 (tests/test_ivos_official.py).
# It pins long-gone versions (scikit-learn 0.20.3), so it is installed without its
# dependency pins, test-only; the test module shims the few NumPy/networkx aliases it uses.
if ! python -c "import davisinteractive" 2>/dev/null; then
  echo "test.sh: installing davisinteractive 1.0.4 (test-only, official conformance tests)"
  # its imports (absl-py, scikit-learn, six, Cython) are pinned in scripts/requirements.lock
  python -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation \
    davisinteractive==1.0.4
fi
ruff check gnnannot stages tests benchmarks
python -m pytest -q -rs "$@"  # -rs: every skip is listed with its reason
