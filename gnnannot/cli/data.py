"""``gnnannot data``: prepare and validate datasets in DAVIS layout."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from gnnannot.progress import console

app = typer.Typer(help="Prepare and validate datasets in DAVIS layout.", no_args_is_help=True)


@app.command("synthetic")
def synthetic(
    out: Path = typer.Argument(..., help="Output folder (DAVIS layout)."),
    seed: int = typer.Option(0, help="Random seed."),
    n_train: int = typer.Option(8, help="Training videos."),
    n_val: int = typer.Option(4, help="Validation videos."),
    n_frames: int = typer.Option(24, help="Frames per video."),
    val_frames: int = typer.Option(0, help="Frames per val video (0: same as --n-frames)."),
    height: int = typer.Option(480, help="Frame height."),
    width: int = typer.Option(854, help="Frame width."),
    max_objects: int = typer.Option(3, help="At most this many objects per video."),
    val_scribbles: int = typer.Option(3, help="First scribbles per val video."),
    effects: bool = typer.Option(True, help="Motion blur, shake, lighting, thin parts..."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Generate the deterministic synthetic dataset into OUT."""
    from gnnannot.data.prepare import prepare_dataset
    from gnnannot.errors import ConfigError

    for name, value in (("--n-train", n_train), ("--n-val", n_val)):
        if value < 1:  # checked before any work: the DAVIS layout needs both splits
            raise ConfigError(f"{name}: expected at least 1 video (the DAVIS layout needs "
                              f"non-empty train and val splits), found {value}")  # fmt: skip

    prepare_dataset(
        "synthetic",
        out,
        seed=seed,
        synthetic=dict(
            n_train=n_train, n_val=n_val, n_frames=n_frames, val_frames=val_frames or None,
            height=height, width=width, max_objects=max_objects, val_scribbles=val_scribbles,
            effects=effects,
        ),
        quiet=quiet,
    )


@app.command("download")
def download(
    out: Path = typer.Argument(..., help="Output folder (DAVIS layout)."),
    cache_dir: Path = typer.Option(Path("data/downloads"), help="Where the zips are kept."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Download DAVIS-2017 trainval 480p + scribbles (SHA-256 checked, resumable)."""
    from gnnannot.data.prepare import prepare_dataset

    prepare_dataset("davis2017", out, davis2017={"cache_dir": str(cache_dir)}, quiet=quiet)


@app.command("validate")
def validate(
    root: Path = typer.Argument(..., help="A dataset folder in DAVIS layout."),
) -> None:
    """Check a DAVIS-layout folder and list its sequences."""
    from gnnannot.data.validate import validate_dataset

    infos = validate_dataset(root)
    table = Table("split", "sequence", "frames", "size", "objects", "scribbles")
    for split, seqs in infos.items():
        for i in seqs:
            table.add_row(split, i.name, str(i.n_frames), f"{i.width}x{i.height}",
                          str(i.n_objects), str(i.n_scribbles))
    console.print(table)
    console.print(f"[green]ok:[/] {root} is a valid DAVIS-layout dataset")
