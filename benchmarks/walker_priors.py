"""Random-walker prior variants on one dataset: J per interaction, mean J, per session.

    python benchmarks/walker_priors.py ROOT GRAPHS N_INTERACTIONS SEQS|all \\
        NAME:key=value,key=value ...   [--out metrics/walker_priors_<tag>.json]

Each variant is ``benchmark.options.random_walker`` of params.yaml with the given
overrides; ``scribbles=1+2`` restricts to those first scribbles. Prints one line per
variant and writes (with ``--out``) the curves and the per-session mean J, plus the
paired difference of every variant against the first with its 95% bootstrap interval.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gnnannot.atomic import write_json  # noqa: E402
from gnnannot.data import davis  # noqa: E402
from gnnannot.ivos.benchmark import run_benchmark  # noqa: E402
from gnnannot.ivos.stats import bootstrap_mean_ci  # noqa: E402
from gnnannot.methods.registry import make_method  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root")
    ap.add_argument("graphs")
    ap.add_argument("interactions", type=int)
    ap.add_argument("sequences")
    ap.add_argument("variants", nargs="+")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    seqs = davis.read_split(a.root, "val") if a.sequences == "all" else a.sequences.split(",")
    base = yaml.safe_load((REPO / "params.yaml").read_text())["benchmark"]["options"][
        "random_walker"]
    out: dict = {"dataset": a.root, "interactions": a.interactions, "variants": {}}
    sessions = {}
    for spec in a.variants:
        name, _, kv = spec.partition(":")
        opts, sidx = dict(base), None
        for item in filter(None, kv.split(",")):
            k, _, v = item.partition("=")
            if k == "scribbles":
                sidx = [int(x) for x in v.split("+")]
            else:
                opts[k] = yaml.safe_load(v)
        m = make_method("random_walker", graph_store=a.graphs, dataset_root=a.root,
                        options=opts)
        t0 = time.perf_counter()
        rep, _ = run_benchmark(a.root, seqs, m, max_interactions=a.interactions, quiet=True,
                               scribble_indices=sidx)
        per = rep.groupby(["sequence", "scribble_idx", "interaction", "object_id"])[
            "jaccard"].mean()
        per = per.groupby(level=["sequence", "scribble_idx", "interaction"]).mean().unstack()
        sessions[name] = per.mean(axis=1)
        curve = [float(c) for c in per.mean(axis=0)]
        out["variants"][name] = {
            "options": opts, "J_per_interaction": curve,
            "mean_J": float(sessions[name].mean()),
            "per_session_mean_J": {f"{s}#{i}": float(v) for (s, i), v in
                                   sessions[name].items()},
            "seconds": time.perf_counter() - t0}
        print(f"{name:28s} J/int {' '.join(f'{c:.3f}' for c in curve)} "
              f"mean {sessions[name].mean():.4f}", flush=True)
    first = next(iter(sessions))
    for name in list(sessions)[1:]:
        d = (sessions[name] - sessions[first]).to_numpy()
        lo, hi = bootstrap_mean_ci(d)
        out["variants"][name][f"minus_{first}"] = {"mean": float(d.mean()), "ci95": [lo, hi]}
        print(f"{name} - {first}: {d.mean():+.4f} [{lo:+.4f}, {hi:+.4f}]")
    if a.out:
        write_json(a.out, out)


if __name__ == "__main__":
    main()
