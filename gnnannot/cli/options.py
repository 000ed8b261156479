"""Command-line options shared by ``gnnannot segment`` and ``gnnannot annotate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def method_option() -> Any:
    """``--method``: the interactive method."""
    return typer.Option(
        "auto", "--method", "-m",
        help="gnn, random_walker, nearest_seed, or auto (gnn if the checkpoint exists, "
        "else random_walker).",
    )


def checkpoint_option() -> Any:
    """``--checkpoint``: the GNN checkpoint."""
    return typer.Option(Path("models/model.pt"), help="GNN checkpoint.")


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
