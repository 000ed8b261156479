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
        None, help="GNN checkpoint (default: the one shipped in the package, "
        "gnnannot/checkpoints/default.pt; refresh it with scripts/ship_model.py).")


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


def work_height_option(what: str) -> Any:
    """``--work-height``: the processing resolution; ``what`` says what stays at the
    original size."""
    return typer.Option(
        480, help=f"Process at most this many rows ({what} at the original size); "
        "0 = original size.")


def workers_option() -> Any:
    """``--workers``: processes that preprocess the video (its frames in chunks)."""
    return typer.Option(
        1, "--workers", min=1,
        help="Processes that preprocess the video, its frames split in chunks (1 = serial; "
        "the cached result is the same; try 2+ on an idle multi-core machine).")


def cache_dir_option(extra: str = "") -> Any:
    """``--cache-dir`` (env ``GNNANNOT_CACHE``): the preprocessing cache root."""
    return typer.Option(
        None, envvar="GNNANNOT_CACHE",
        help=f"Preprocessing cache root{extra} (default: ~/.cache/gnnannot).")


def fps_option(what: str) -> Any:
    """``--fps``: the overlay video's frame rate."""
    return typer.Option(
        None, help=f"{what} frame rate (default: the video's, 24 for frame folders).")
