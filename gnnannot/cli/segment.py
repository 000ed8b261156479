"""``gnnannot segment``: segment your own video from scribbles, export masks."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from gnnannot.annotate.exports import format_help
from gnnannot.cli import options as opt

app = typer.Typer(help="Segment your own video from scribbles.")
_FORMAT_HELP = (f"Export format, repeat for several (default: every default format). "
                f"Registered: {format_help()}.")


@app.command("segment")
def segment(
    video: Path = typer.Argument(..., help="Video file (OpenCV) or folder of frame images."),
    scribbles: list[Path] = typer.Option(
        ..., "--scribbles", "-s",
        help="Scribble file: DAVIS scribble .json or scribble PNG (palette/greyscale: "
        "object ids, 255 = background stroke, 0 = nothing). Repeat for successive "
        "interactions, in order.",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o",
        help="Output folder (written on success; an existing one only if it is a previous "
        "export, or with --overwrite)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing --out folder that is not an export."),
    frame: list[int] = typer.Option(
        [], "--frame", "-f",
        help="0-based frame index of each scribble PNG, in the order the PNGs are given "
        "(default: from the PNG's name: a frame file's name or a number like 00012.png).",
    ),
    method: str = opt.method_option(),
    checkpoint: Path | None = opt.checkpoint_option(),
    work_height: int = opt.work_height_option("masks are returned"),
    workers: int = opt.workers_option(),
    cache_dir: Path | None = opt.cache_dir_option(),
    fps: float | None = opt.fps_option("Overlay"),
    formats: list[str] = typer.Option(
        [], "--format", "-F",
        help=_FORMAT_HELP),
    overlay: bool = typer.Option(True, "--overlay/--no-overlay", help="Write overlay.mp4."),
    rle_json: bool = typer.Option(True, "--rle/--no-rle", help="Write COCO RLE JSON."),
    device: str = opt.device_option(),
    refine: bool = opt.refine_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Segment your own video from scribbles; write masks, COCO RLE and an overlay.

    VIDEO is a video file or a folder of frames; each --scribbles file is one interaction,
    in order. --out gets each --format (by default masks/<frame>.png: DAVIS palette PNG,
    value = object id; rle/<frame>.json: COCO RLE per object; overlay.mp4) and
    segment.json; it is written
    only when the whole run succeeded (kept as it was on error). An existing --out is
    replaced only if it is a previous export or with --overwrite; a file, the video
    itself or a folder holding it are refused.
    Preprocessing is cached per video content, so a rerun with more scribbles is fast.
    """
    from gnnannot.annotate.annotator import Annotator
    from gnnannot.annotate.exports import check_out, resolve_formats
    from gnnannot.annotate.scribble_input import SCRIBBLE_IMAGE_EXTENSIONS, check_object_ids
    from gnnannot.errors import ConfigError
    from gnnannot.pipeline.video_cache import PrepParams
    from gnnannot.progress import log

    check_out(out, overwrite=overwrite, inputs=[video])  # before any work
    without = [n for n, keep in (("overlay", overlay), ("rle", rle_json)) if not keep]
    chosen = resolve_formats(formats or None, without=without)
    n_png = sum(p.suffix.lower() in SCRIBBLE_IMAGE_EXTENSIONS for p in scribbles)
    if frame and len(frame) != n_png:
        raise ConfigError(
            f"--frame given {len(frame)} times but there are {n_png} scribble images"
        )
    ann = Annotator(video, method=method, checkpoint=checkpoint, cache_dir=cache_dir,
                    params=PrepParams(work_height=work_height or None, workers=workers), fps=fps,
                    device=device, quiet=quiet, refine=refine)  # fmt: skip
    # validate every scribble before any work
    frames_iter = iter(frame)
    plan: list[tuple[Path, int | None]] = []
    named = []
    for p in scribbles:
        f = next(frames_iter) if frame and p.suffix.lower() in SCRIBBLE_IMAGE_EXTENSIONS else None
        plan.append((p, f))
        scr, name = ann.load_scribble(p, f)
        named.append((name, scr))
    ann.n_objects = check_object_ids(named)
    del named
    log(f"method: {ann.method_reason}; {ann.n_objects} object(s); {ann.n_frames} frames "
        f"{ann.frame_size[1]}x{ann.frame_size[0]}, processed at "
        f"{ann.work_size[1]}x{ann.work_size[0]}", quiet)  # fmt: skip
    ann.prepare()
    masks = None
    for i, (p, f) in enumerate(plan, start=1):
        masks = ann.interact(p, f)
        log(f"interaction {i} ({p}): {ann.timings[-1]:.2f} s", quiet)
    assert masks is not None
    t0 = time.perf_counter()
    ann.export(out, formats=chosen, overwrite=overwrite)
    log(f"wrote {out} ({time.perf_counter() - t0:.1f} s)", quiet)
