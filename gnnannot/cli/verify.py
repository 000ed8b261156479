"""``gnnannot verify``: check a store's groups for damage."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Verify stores.")


@app.command("verify")
def verify(
    stores: list[Path] = typer.Argument(..., help="Store(s): flow, superpixels, features or "
                                        "graphs .zarr folders."),  # fmt: skip
    remove_damaged: bool = typer.Option(
        False, "--remove-damaged", help="Delete damaged groups (the next stage run "
        "recomputes them)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only damaged groups."),
) -> None:
    """Decode every chunk of every video group of each STORE (CRC32C checked), and name
    incomplete, damaged or unreadable groups. Exit status 1 when any group is damaged."""
    from gnnannot.progress import console
    from gnnannot.store.verify import verify_store

    bad = 0
    for store in stores:
        rep = verify_store(store, remove_damaged=remove_damaged)
        for name, problems in rep.groups.items():
            if problems:
                console.print(f"[bold red]damaged[/] {store}/{name}: {'; '.join(problems)}",
                              highlight=False, soft_wrap=True)  # fmt: skip
            elif not quiet:
                console.print(f"ok      {store}/{name}", highlight=False)
        for name in rep.temporaries:
            console.print(f"[yellow]leftover[/] {store}/{name} (temporary of a killed run; "
                          "the next stage run removes it)", highlight=False)  # fmt: skip
        for name in rep.removed:
            console.print(f"removed {store}/{name}", highlight=False)
        bad += len(rep.damaged)
        if not quiet:
            console.print(f"{store} ({rep.kind}): {len(rep.groups) - len(rep.damaged)} ok, "
                          f"{len(rep.damaged)} damaged", highlight=False)  # fmt: skip
    if bad:
        raise typer.Exit(1)
