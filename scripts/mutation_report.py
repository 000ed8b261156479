"""Collect the counts of scripts/mutation.sh runs into metrics/mutation.json and print a
table: python scripts/mutation_report.py [--before LABEL] [--after LABEL].

Reads /tmp/gnnannot-mutation-<module>-<label>/counts.json for every module of
[tool.gnnannot.mutation] in pyproject.toml; modules without a run are reported as not
measured. Killed counts include timeouts; "no tests" mutants (code no selected test runs)
count as not killed."""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load(module: str, label: str) -> dict | None:
    path = Path(f"/tmp/gnnannot-mutation-{module}-{label}/counts.json")
    return json.loads(path.read_text()) if path.is_file() else None


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
        for key, label in (("before", args.before), ("after", args.after)):
            c = _load(module, label)
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
