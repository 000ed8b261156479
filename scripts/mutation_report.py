"""Collect the counts of scripts/mutation.sh runs into metrics/mutation.json and print a
table: python scripts/mutation_report.py [--before LABEL] [--after LABEL].

Reads /tmp/gnnannot-mutation-<module>-<label>/counts.json for every module of
[tool.gnnannot.mutation] in pyproject.toml; modules without a run are reported as not
measured. Killed counts include timeouts; "no tests" mutants (code no selected test runs)
count as not killed."""

from __future__ import annotations

import argparse
import collections
import fnmatch
import json
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load(module: str, label: str, sample: str | None = None) -> dict | None:
    """counts.json of a run; with ``sample`` (an fnmatch pattern), the counts of a full
    run's results.txt restricted to the mutants the pattern names (to compare a full
    "before" run with a sampled "after" one on the same mutants)."""
    folder = Path(f"/tmp/gnnannot-mutation-{module}-{label}")
    if not (folder / "counts.json").is_file():
        return None
    counts = json.loads((folder / "counts.json").read_text())
    if not sample or counts.get("sample", "all") != "all":
        return counts
    statuses = collections.Counter()
    for line in (folder / "results.txt").read_text().splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name and status != "not checked" and fnmatch.fnmatch(name, sample):
            statuses[status] += 1
    return {**counts, "sample": f"{sample} (of a full run)", "counts": dict(statuses),
            "total": sum(statuses.values()),
            "killed": statuses["killed"] + statuses["timeout"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="before")
    ap.add_argument("--after", default="after")
    ap.add_argument("--out", default=str(ROOT / "metrics" / "mutation.json"))
    args = ap.parse_args()
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["gnnannot"]["mutation"]
    out: dict[str, dict] = {}
    print(f"{'module':<11} {'source':<32} {'before':>14} {'after':>14}  sample")
    for module, (src, *tests) in cfg.items():
        row: dict = {"source": src, "tests": tests}
        cells = []
        after = _load(module, args.after)
        after_sample = None if after is None or after.get("sample", "all") == "all" else \
            after["sample"]
        for key, label in (("before", args.before), ("after", args.after)):
            c = _load(module, label, after_sample if key == "before" else None)
            if key == "before" and after and "before_on_same_mutants" in after:
                # a partial "after" run: the before verdicts of the same mutants
                c = {**after["before_on_same_mutants"], "sample": after["sample"]}
            if c is None:
                row[key] = None
                cells.append("not measured")
                continue
            row[key] = {"killed": c["killed"], "total": c["total"],
                        "score": round(c["killed"] / c["total"], 4) if c["total"] else None,
                        "counts": c["counts"], "sample": c.get("sample", "all"),
                        "seconds": c.get("seconds")}  # fmt: skip
            pct = 100 * c["killed"] / max(c["total"], 1)
            cells.append(f"{c['killed']}/{c['total']} {pct:.0f}%")
        sample = {(row[k] or {}).get("sample") for k in ("before", "after")} - {None}
        out[module] = row
        print(f"{module:<11} {src:<32} {cells[0]:>14} {cells[1]:>14}  {','.join(sorted(sample))}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
