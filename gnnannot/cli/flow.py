"""``gnnannot flow``: compute optical flow into the store, import the seed's ``.h5`` files,
export a video's flow back to that format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gnnannot.progress import log

app = typer.Typer(help="Optical flow: compute, import and export.", no_args_is_help=True)

Store = Annotated[Path, typer.Option("--store", help="Flow store (zarr).")]
Root = Annotated[Path, typer.Option("--root", help="Dataset root (DAVIS layout).")]
Seqs = Annotated[list[str] | None, typer.Option("--seq", "-s", help="Only this video (repeat).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
Dtype = Annotated[str, typer.Option(help="Storage: quantized (1/128 px), float16 or float32.")]


@app.command("compute")
def compute(
    root: Root = Path("data/davis"),
    store: Store = Path("data/flow.zarr"),
    preset: Annotated[str, typer.Option(help="DIS preset: ultrafast, fast, medium.")] = "medium",
    scale: Annotated[float, typer.Option(help="Compute at this fraction of the size.")] = 1.0,
    method: Annotated[str, typer.Option(help="dis or farneback.")] = "dis",
    dtype: Dtype = "quantized",
    seq: Seqs = None,
    quiet: Quiet = False,
) -> None:
    """Compute forward/backward flow and occlusions for the videos under ROOT."""
    from gnnannot.pipeline.flow import build_flow_store

    build_flow_store(
        str(root), str(store), method=method, preset=preset, scale=scale, dtype=dtype,
        sequences=seq or None, prune=False, quiet=quiet,
    )


@app.command("import")
def import_(
    h5_dir: Annotated[Path, typer.Argument(help="Folder of <seq>.h5 / flownet2_<seq>.h5.")],
    root: Root = Path("data/davis"),
    store: Store = Path("data/flow.zarr"),
    dtype: Dtype = "quantized",
    seq: Seqs = None,
    quiet: Quiet = False,
) -> None:
    """Import the seed's FlowNet2 .h5 files (validated against the videos under ROOT)."""
    from gnnannot.pipeline.flow import build_flow_store

    build_flow_store(
        str(root), str(store), method="h5", h5_dir=str(h5_dir), dtype=dtype,
        sequences=seq or None, prune=False, quiet=quiet,
    )


@app.command("export")
def export(
    seq: Annotated[list[str], typer.Argument(help="Video name(s) in the store.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "data/flow_h5"
    ),
    store: Store = Path("data/flow.zarr"),
    prefix: Annotated[str, typer.Option(help="File name prefix (seed: flownet2_).")] = "flownet2_",
    quiet: Quiet = False,
) -> None:
    """Export videos' flow from the store to the seed's .h5 format (OUT/<prefix><seq>.h5)."""
    from gnnannot.store.flow import open_flow
    from gnnannot.store.flow_h5 import export_h5

    for name in seq:
        path = export_h5(open_flow(store, name), out / f"{prefix}{name}.h5")
        log(f"wrote {path}", quiet)
