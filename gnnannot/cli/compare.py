"""``gnnannot compare``: the statistics table of existing benchmark report CSVs."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Compare methods from their benchmark reports.")


@app.command("compare")
def compare(
    reports: list[Path] = typer.Argument(
        None, help="report.csv files or folders holding <method>/report.csv "
        "(default: metrics/benchmark). The method name is the report's folder name; "
        "pairs are shown as later - earlier in this order."),
    max_interactions: int = typer.Option(
        0, help="Interactions per session (0: the largest in the reports)."),
    n_boot: int = typer.Option(10000, help="Bootstrap resamples."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
    level: float = typer.Option(0.95, help="Confidence level of the intervals."),
    max_time: float = typer.Option(240.0, help="Protocol timeout, seconds per object (AUC)."),
    time_threshold: float = typer.Option(60.0, help="Report J at this time (s)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the statistics here."),
) -> None:
    """Per method: mean J after each interaction and over interactions, J&F, with 95%
    bootstrap intervals over sessions; for every pair: the paired difference per session;
    the headline comparison of the registered methods among them (by their registry roles)."""
    import pandas as pd

    from gnnannot.atomic import write_json
    from gnnannot.errors import DataError
    from gnnannot.ivos.compare import comparison, print_tables, statistics
    from gnnannot.ivos.session import REPORT_COLUMNS
    from gnnannot.ivos.summary import summarize_report
    from gnnannot.methods.registry import METHODS, method_roles

    paths: list[Path] = []
    for p in reports or [Path("metrics/benchmark")]:
        if p.is_dir():
            found = sorted(p.glob("*/report.csv"))
            if not found:
                raise DataError(f"{p}: no <method>/report.csv below it")
            paths += found
        elif p.is_file():
            paths.append(p)
        else:
            raise DataError(f"{p}: no such report file or folder")
    frames: dict[str, pd.DataFrame] = {}
    for p in paths:
        name = p.parent.name
        if name in frames:
            raise DataError(f"{p}: a second report for method {name!r}")
        df = pd.read_csv(p)
        missing = set(REPORT_COLUMNS) - set(df.columns)
        if missing:
            raise DataError(f"{p}: missing columns {sorted(missing)}")
        frames[name] = df
    max_i = max_interactions or int(max(int(df["interaction"].max()) for df in frames.values()))
    stats = statistics(frames, max_i, n_boot=n_boot, seed=seed, level=level)
    combined: dict = {
        name: {**summarize_report(df, max_time=max_time, max_interactions=max_i,
                                  time_threshold=time_threshold), **stats["methods"][name]}
        for name, df in frames.items()
    }
    combined["paired"] = stats["paired"]
    combined["comparison"] = comparison(combined, method_roles(n for n in frames if n in METHODS))
    print_tables(combined)
    if json_out is not None:
        write_json(json_out, combined)
