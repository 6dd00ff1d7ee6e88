"""`avatarkit eval lipsync` and `avatarkit eval render`: evaluation commands, a thin shell over `avatarkit.eval`.

The evaluation code (and its heavier imports) loads only when an eval
command runs; `cli.main` mounts `eval_app` under the name `eval`.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

from ..errors import AvatarkitError
from ..eval.lipsync import DEFAULT_METHODS, METHODS
from .common import Progress

eval_app = typer.Typer(
    help="Measure how well generated motion matches real talking faces. Scores are computed on "
         "AI-generated re-animations of the input videos.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
err = Console(stderr=True)


@eval_app.callback()
def _group() -> None:
    # A callback keeps `lipsync` a named subcommand even while it is the only one.
    pass


@eval_app.command()
def lipsync(
    videos: list[Path] = typer.Argument(..., help="Real talking-face videos with sound (MP4, MOV, MKV, ...)."),
    methods: str = typer.Option(",".join(DEFAULT_METHODS),
                                help=f"Comma-separated methods to score; known: {', '.join(METHODS)}."),
    model: Optional[Path] = typer.Option(None, help="Audio2Motion model folder or shipped name (v1, v2, v3) for "
                                                    "`learned` (default: the shipped default); "
                                                    "`learned:v3` etc. in --methods score named models side by side."),
    max_seconds: float = typer.Option(60.0, help="Score only the first this many seconds of each video."),
    json: Optional[Path] = typer.Option(None, "--json", help="Also write the full report as JSON to this file."),
    voice: str = typer.Option("en-us-joe", help="Voice that speaks the transcript for `phoneme` and `words`."),
):
    """Re-animate the first frame of each VIDEO from its audio with each method and compare with the real mouth.

    Per video and overall (frame-weighted): correlation of mouth opening,
    mouth landmark distance after alignment (fraction of inter-ocular
    distance), audio-visual offset (frames, + = generated late), lip
    jitter, and the sync judge's offset and confidence (`avatarkit.eval.sync`;
    the real video's confidence is the ceiling). `phoneme` and `words` align the video's words to its sound: the
    transcript next to the video (VIDEO.txt), or else what Whisper hears.
    """
    from ..eval.lipsync import evaluate

    names = [m.strip() for m in methods.split(",") if m.strip()]
    stdout = Console()
    try:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("loading models", total=None)

            def progress(ev):
                bar.update(task, description=f"{escape(ev.video.name)}: {ev.stage}", completed=ev.done,
                           total=ev.total)

            report = evaluate(videos, names, model_path=model, max_seconds=max_seconds, progress=progress,
                              voice=voice)
        _write_json(json, report)
    except AvatarkitError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        raise typer.Exit(code=2) from None
    stdout.print(report.rich_table())


def _write_json(path: Optional[Path], report) -> None:
    if path is None:
        return
    try:
        path.write_text(jsonlib.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise AvatarkitError(f"{path}: cannot write the JSON report ({e.strerror or e})") from None
    err.print(f"[green]wrote[/] {path}")


@eval_app.command()
def render(
    videos: list[Path] = typer.Argument(..., help="Real videos of a face talking (MP4, MOV, MKV, ...)."),
    renderer: list[str] = typer.Option(["warp"], help="Renderer to score: warp, bank, refined, or a trained footage avatar's name "
                                                      "(for videos of that person); repeat for several."),
    max_seconds: float = typer.Option(10.0, help="Score only the first this many seconds of each video."),
    json: Optional[Path] = typer.Option(None, "--json", help="Also write the full report as JSON to this file."),
    sheet: Optional[Path] = typer.Option(None, help="Write a contact sheet (PNG): real lower face | each renderer."),
    frames: Optional[Path] = typer.Option(None, help="Write every rendered frame (PNG) to DIR/<video>/<renderer>/."),
    home: Optional[Path] = typer.Option(None, help="Folder holding avatars (default: $AVATARKIT_HOME or ~/.avatarkit)."),
    drive: str = typer.Option("landmarks", help="What of each frame drives the photo renderers: landmarks (every "
                                                "face-mesh point), mouth (lips and jaw line) or channels (mouth "
                                                "opening and width, blinks, head turn)."),
    own_mouths: float = typer.Option(0.0, help="Give each video's first this many seconds to the bank renderer "
                                               "as the person's own mouths (not scored), as a user who adds a "
                                               "few seconds of their footage for their teeth."),
):
    """Re-render each VIDEO driven by its own measured landmarks and compare with the real frames.

    Mouth-region PSNR and SSIM, mouth-opening r, LMD, offset, jitter,
    flicker (ratio to the real video's) and the share of pixels outside the
    face that changed, mouth-crop sharpness (ratio to real) and the inner-mouth
    colour error on open-mouth frames. The warp, bank and refined renderers
    animate each video's first frame.
    """
    from ..eval.render import evaluate_render

    try:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(), console=err,
                      transient=True) as bar:
            task = bar.add_task("loading", total=None)
            report = evaluate_render(videos, renderer, max_seconds, home=home, sheet=sheet, frames_dir=frames,
                                     drive=drive, own_mouths_s=own_mouths,
                                     progress=lambda ev: bar.update(
                task, description=f"{escape(ev.video.name)}: {ev.stage}", completed=ev.done, total=ev.total))
        _write_json(json, report)
    except AvatarkitError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        raise typer.Exit(code=2) from None
    typer.echo(report.table())
    if sheet is not None:
        err.print(f"[green]wrote[/] {sheet}")


@eval_app.command()
def footage(
    videos: list[Path] = typer.Argument(..., help="Videos of one person talking (at least 4 s; 30 s or more is better)."),
    json: Optional[Path] = typer.Option(None, "--json", help="Also write the full report as JSON to this file."),
):
    """Prepare each VIDEO's first two thirds as a footage avatar, dub the last third with its own audio, and
    compare with the real last third: mouth-crop PSNR, SSIM, LMD, sharpness (ratio to real), mouth-opening r,
    jumps at cuts, preparation time and compute per second of dub (see `avatarkit.eval.footage`)."""
    from ..eval.footage import evaluate_footage, table

    results = []
    try:
        for v in videos:
            err.print(f"{escape(v.name)}: preparing on two thirds, dubbing the last third")
            results.append(evaluate_footage(v, progress=lambda s, v=v: err.print(f"  {escape(v.name)}: {s}")))
        if json is not None:
            json.write_text(jsonlib.dumps([r.to_dict() for r in results], indent=2) + "\n", encoding="utf-8")
            err.print(f"[green]wrote[/] {json}")
    except (AvatarkitError, OSError) as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        raise typer.Exit(code=2) from None
    typer.echo(table(results))
