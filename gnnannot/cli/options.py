"""Command-line options shared by ``gnnannot segment`` and ``gnnannot annotate``."""

from __future__ import annotations

from typing import Any

import typer


def method_option() -> Any:
    """``--method``: the interactive method."""
    return typer.Option(
        "auto", "--method", "-m",
        help="gnn, random_walker, nearest_seed, or auto (gnn with --checkpoint or the "
        "checkpoint shipped in the package; random_walker if the checkpoint is missing).",
    )


def checkpoint_option() -> Any:
    """``--checkpoint``: the GNN checkpoint."""
    return typer.Option(
        None, help="GNN checkpoint [default: the one shipped in the package, "
        "gnnannot/checkpoints/default.pt; refresh it with scripts/ship_model.py].")


def device_option() -> Any:
    """``--device``: the torch device of the GNN."""
    return typer.Option("cpu", help="torch device for the GNN (cpu, cuda).")


def refine_option() -> Any:
    """``--refine/--no-refine``: pixel-level refinement of the masks."""
    return typer.Option(
        True, "--refine/--no-refine",
        help="Refine the masks at pixel level near object boundaries (gnnannot.methods.refine); "
        "scribbled pixels always keep their label.",
    )
