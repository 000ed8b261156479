#!/usr/bin/env bash
# Mutation testing of one core module (issue 19, item 3): bash scripts/mutation.sh MODULE
# MODULE is a key of [tool.gnnannot.mutation] in pyproject.toml (metrics, seeds, atomic, ...).
# Runs in a scratch copy so the per-module config never touches the worktree; prints
# mutmut's result counts. Needs the venv (mutmut 3.8.1). Slow: run under nice, one at a time.
set -euo pipefail
mod=${1:?usage: scripts/mutation.sh MODULE}
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python}
work=$(mktemp -d "/tmp/gnnannot-mutation-$mod.XXXX")
cp -r "$root/gnnannot" "$root/tests" "$root/pyproject.toml" "$work/"
cd "$work"
"$py" - "$mod" <<'PY'
import sys, tomllib, pathlib
p = pathlib.Path("pyproject.toml")
cfg = tomllib.loads(p.read_text())
src, *tests = cfg["tool"]["gnnannot"]["mutation"][sys.argv[1]]
text = p.read_text().replace(
    "[tool.mutmut]\n",
    f"[tool.mutmut]\nonly_mutate = [{src!r}]\npytest_add_cli_args_test_selection = {tests!r}\n", 1)
p.write_text(text.replace("'", '"'))
PY
env -u PYTHONPATH nice -n 10 "$(dirname "$py")/mutmut" run --max-children 1 || true
nice -n 10 "$(dirname "$py")/mutmut" results --all true > "$work/results.txt" 2>&1 || true
echo "mutants: $(grep -c ': ' "$work/results.txt") in $work/results.txt"
grep -o ': [a-z ]*$' "$work/results.txt" | sort | uniq -c
