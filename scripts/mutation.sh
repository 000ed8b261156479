#!/usr/bin/env bash
# Mutation testing of one core module (issue 19, item 3):
#   PYTHON=/work/main/.venv/bin/python bash scripts/mutation.sh MODULE [LABEL]
# MODULE is a key of [tool.gnnannot.mutation] in pyproject.toml: the source file to mutate,
# then the fast test files that exercise it (files that do not exist yet are left out, so
# a "before" run can use the same list). Runs in a scratch copy
# /tmp/gnnannot-mutation-MODULE-LABEL (LABEL default "run") so the per-module config never
# touches the worktree; writes there results.txt (every mutant's status), survivors.txt
# (the diff of every survivor) and counts.json, and prints the counts. Needs mutmut 3.x
# (tested with 3.8.1). Slow: runs under nice, one mutant at a time.
# Hypothesis tests run with the derandomised "mutation" profile (tests/conftest.py).
# SAMPLE=PATTERN runs only the mutants whose names match the fnmatch PATTERN, a
# deterministic sample for slow modules: SAMPLE='*[05]' = every mutant whose number ends
# in 0 or 5 (one in five); the counts then cover the sample only ("not checked" is left
# out).
# RERUN=1 reuses the scratch copy of an earlier run of the same MODULE and LABEL: copies
# the current tests/ into it and reruns only the mutants that survived or had no tests
# there (mutmut first collects the coverage of the new tests); the counts are those of
# the whole run, earlier kills kept (valid because tests are only ever added).
set -euo pipefail
mod=${1:?usage: scripts/mutation.sh MODULE [LABEL]}
label=${2:-run}
root=${MUTATION_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}  # the checkout to copy
py=${PYTHON:-python}
bin=$(dirname "$py")
work=/tmp/gnnannot-mutation-$mod-$label
configure() {  # this module's [tool.mutmut] in the scratch copy's pyproject.toml
  cp "$root/pyproject.toml" .
  "$py" - "$mod" <<'PY'
import json
import pathlib
import sys
import tomllib

p = pathlib.Path("pyproject.toml")
cfg = tomllib.loads(p.read_text())
entry = cfg["tool"]["gnnannot"]["mutation"].get(sys.argv[1])
if entry is None:
    sys.exit(f"mutation.sh: no module {sys.argv[1]!r} in [tool.gnnannot.mutation] "
             f"(known: {sorted(cfg['tool']['gnnannot']['mutation'])})")
src, *tests = entry
# test files not written yet are left out (a "before" run); options ("-k", ...) are kept
tests = [t for t in tests if not t.startswith("tests/") or pathlib.Path(t).exists()]
if not any(t.startswith("tests/") for t in tests):
    sys.exit(f"mutation.sh: none of the test files of {sys.argv[1]!r} exists")
print(f"mutating {src} with {tests}")
# json.dumps: TOML basic strings (only these lines: the rest of the file keeps its quotes)
text = p.read_text().replace(
    "[tool.mutmut]\n",
    f"[tool.mutmut]\nonly_mutate = {json.dumps([src])}\n"
    f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n", 1)
p.write_text(text)
PY
}
names=()
if [ -n "${RERUN:-}" ]; then
  [ -f "$work/results.txt" ] || { echo "mutation.sh: RERUN needs an earlier run in $work" >&2; exit 2; }
  rm -rf "$work/tests"
  cp -r "$root/tests" "$work/"
  cd "$work"
  configure  # the module's current test list (new test files included)
  mapfile -t names < <(grep -E ': (survived|no tests)$' results.txt | sed 's/^ *//; s/: [a-z ]*$//')
  cp results.txt results.before-rerun.txt  # merged below: a changed config resets mutmut's
  echo "rerunning ${#names[@]} mutants with the current tests"
else
  rm -rf "$work"
  mkdir -p "$work"
  cp -r "$root/gnnannot" "$root/tests" "$work/"
  cd "$work"
  configure
  if [ -n "${SAMPLE:-}" ]; then names=("$SAMPLE"); fi
fi
export HYPOTHESIS_PROFILE=mutation
start=$(date +%s)
if [ -z "${RERUN:-}" ] || [ ${#names[@]} -gt 0 ]; then
  env -u PYTHONPATH nice -n 15 "$bin/mutmut" run --max-children 1 "${names[@]}" \
    > "run${RERUN:+-rerun}.log" 2>&1 || true
fi
env -u PYTHONPATH "$bin/mutmut" results --all true > results.txt 2>&1 || true
if [ -n "${RERUN:-}" ]; then  # earlier verdicts, overlaid with the rerun mutants' new ones
  "$py" - <<'PY'
def read(path):
    out = {}
    for line in open(path):
        if ": " in line:
            name, status = line.strip().rsplit(": ", 1)
            out[name] = status
    return out

merged = read("results.before-rerun.txt")
for name, status in read("results.txt").items():
    if status != "not checked":
        merged[name] = status
with open("results.txt", "w") as fh:
    fh.writelines(f"    {n}: {s}\n" for n, s in merged.items())
PY
fi
: > survivors.txt
for m in $(grep ': survived$' results.txt | sed 's/^ *//; s/: survived$//'); do
  { echo "## $m"; env -u PYTHONPATH "$bin/mutmut" show "$m" 2>/dev/null | grep -E '^[-+][^-+]' || true; } >> survivors.txt
done
"$py" - "$mod" "$label" "$(( $(date +%s) - start ))" <<'PY'
import collections
import json
import os
import sys

counts = collections.Counter(
    line.rsplit(": ", 1)[1].strip() for line in open("results.txt") if ": " in line)
counts.pop("not checked", None)
total = sum(counts.values())
killed = counts["killed"] + counts["timeout"]
old = json.load(open("counts.json")) if os.environ.get("RERUN") else {}
out = {"module": sys.argv[1], "label": sys.argv[2],
       "sample": old.get("sample") or os.environ.get("SAMPLE") or "all",
       "total": total, "killed": killed, "counts": dict(counts),
       "seconds": int(sys.argv[3]) + int(old.get("seconds", 0)),
       "reruns": int(old.get("reruns", 0)) + bool(os.environ.get("RERUN"))}
json.dump(out, open("counts.json", "w"), indent=1)
print(json.dumps(out))
PY
echo "details: $work/results.txt, $work/survivors.txt"
