"""``gnnannot benchmark``: the DAVIS interactive protocol for one or more methods."""

from __future__ import annotations

from pathlib import Path

import typer

from gnnannot.cli.options import refine_option
from gnnannot.methods.registry import METHODS, method_help, method_roles

app = typer.Typer(help="Interactive benchmark (DAVIS-2017 protocol).")
_METHOD_HELP = f"Method(s) to evaluate ({method_help()})."


@app.command("benchmark")
def benchmark(
    method: list[str] = typer.Option(
        ["random_walker"], "--method", "-m", help=_METHOD_HELP
    ),
    root: Path = typer.Option(Path("data/davis"), help="Dataset folder (DAVIS layout)."),
    split: str = typer.Option("val", help="Split listed in ImageSets/2017/<split>.txt."),
    sequence: list[str] = typer.Option([], "--sequence", "-s", help="Only these sequences."),
    graphs: Path = typer.Option(Path("data/graphs.zarr"), help="Graphs store."),
    checkpoint: Path = typer.Option(Path("models/model.pt"), help="GNN checkpoint."),
    out: Path = typer.Option(Path("metrics/cli"), help="Output folder."),
    metric: str = typer.Option("J", help="Metric the robot optimises: J or J_AND_F."),
    max_interactions: int = typer.Option(8, help="Interactions per sample."),
    device: str = typer.Option("cpu", help="torch device for the GNN (cpu, cuda)."),
    refine: bool = refine_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Run the interactive benchmark and write summary.json, reports and plot data."""
    from gnnannot.data import davis
    from gnnannot.errors import ConfigError
    from gnnannot.ivos.compare import compare_methods
    from gnnannot.methods.refine import with_refinement
    from gnnannot.methods.registry import make_method

    for m in method:
        if m not in METHODS:
            raise ConfigError(f"--method {m!r}: expected one of {METHODS}")
    seqs = list(sequence) or davis.read_split(root, split)
    factories = {
        m: (lambda m=m: with_refinement(make_method(m, graph_store=graphs, dataset_root=root,
                                                    checkpoint=checkpoint, device=device),
                                        refine))
        for m in method
    }
    compare_methods(root, seqs, factories, out, quiet=quiet, metric=metric,
                    max_interactions=max_interactions, roles=method_roles(method))
