"""The ``gnnannot`` command line (typer)."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from gnnannot import __version__
from gnnannot.cli import annotate as annotate_cli
from gnnannot.cli import benchmark as benchmark_cli
from gnnannot.cli import compare as compare_cli
from gnnannot.cli import data as data_cli
from gnnannot.cli import flow as flow_cli
from gnnannot.cli import segment as segment_cli
from gnnannot.cli import verify as verify_cli
from gnnannot.errors import GnnAnnotError
from gnnannot.progress import console

app = typer.Typer(
    name="gnnannot",
    help="Fast interactive video object segmentation with graph neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_cli.app, name="data")
app.add_typer(flow_cli.app, name="flow")
app.registered_commands += benchmark_cli.app.registered_commands
app.registered_commands += compare_cli.app.registered_commands
app.registered_commands += segment_cli.app.registered_commands
app.registered_commands += annotate_cli.app.registered_commands
app.registered_commands += verify_cli.app.registered_commands


def _version(value: bool) -> None:
    if value:
        console.print(f"gnnannot {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Fast interactive video object segmentation with graph neural networks."""


def _click_exceptions() -> tuple[type[Exception], ...]:
    """Usage-error classes: typer >= 0.2x raises its vendored click's (``typer._click``),
    older typer the ``click`` package's; both are recognised."""
    classes: list[type[Exception]] = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            module = __import__(name, fromlist=["ClickException"])
        except ImportError:
            continue
        classes.append(module.ClickException)
    return tuple(classes)


def main() -> None:
    """Console-script entry point: run the app, print gnnannot errors as one line."""
    try:
        rc = app(standalone_mode=False)  # click returns (not raises) Exit codes here
    except GnnAnnotError as exc:
        # one line whatever the terminal width (soft_wrap: no hard breaks inside a path),
        # and the message verbatim (escape: a "[name]" in a path is not rich markup)
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.print("aborted")
        sys.exit(1)
    except Exception as exc:  # click usage errors
        if isinstance(exc, _click_exceptions()):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    if isinstance(rc, int) and rc:
        sys.exit(rc)
