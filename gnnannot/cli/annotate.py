"""``gnnannot annotate``: annotate a video interactively in the browser."""

from __future__ import annotations

from pathlib import Path

import typer

from gnnannot.cli import options as opt

app = typer.Typer(help="Annotate a video interactively in the browser.")


@app.command("annotate")
def annotate(
    video: Path = typer.Argument(..., help="Video file (OpenCV) or folder of frame images."),
    port: int = typer.Option(8765, "--port", "-p", help="Local port (0 = any free port)."),
    out: Path | None = typer.Option(
        None, "--out", "-o",
        help="Export folder (replaced at each export; an existing folder must be a previous "
        "export, or pass --overwrite) (default: ./<video name>_gnnannot).",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing --out folder that is not an export."),
    method: str = opt.method_option(),
    checkpoint: Path | None = opt.checkpoint_option(),
    work_height: int = opt.work_height_option("shown too; exports are"),
    workers: int = opt.workers_option(),
    cache_dir: Path | None = opt.cache_dir_option(", which also keeps the session"),
    fps: float | None = opt.fps_option("Overlay video"),
    device: str = opt.device_option(),
    refine: bool = opt.refine_option(),
    open_browser: bool = typer.Option(
        False, "--open/--no-open", help="Open the page in the default web browser."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Start a local web app on 127.0.0.1 to annotate VIDEO: scribble objects and
    background, see the masks of every frame, correct, undo, export. The scribbles are
    saved in the video's cache: running this again on the same video resumes them."""
    from gnnannot.pipeline.video_cache import PrepParams
    from gnnannot.progress import console, log
    from gnnannot.web.app import create_app
    from gnnannot.web.server import bind, serve, url_of
    from gnnannot.web.session import WebSession

    sock = bind(port)  # fail fast on a taken port, before preprocessing
    try:
        session = WebSession(video, method=method, checkpoint=checkpoint, cache_dir=cache_dir,
                             params=PrepParams(work_height=work_height or None,
                                               workers=workers),
                             out=out, fps=fps, device=device, quiet=quiet, refine=refine,
                             overwrite=overwrite)  # fmt: skip
        if session.warning:
            console.print(f"[yellow]warning:[/] {session.warning}")
        if session.resumed:
            log(f"resumed {len(session.state.interactions)} interaction(s) from "
                f"{session.store.path} ({session.resume_seconds:.1f} s)", quiet)  # fmt: skip
        url = url_of(sock)
        log(f"method: {session.method_reason}; exports go to {session.out}; Ctrl+C stops", quiet)
        typer.echo(f"gnnannot annotate: open {url}")
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        serve(create_app(session), sock)
    finally:
        sock.close()
