"""`avatarkit export` and `avatarkit localize ...`: courses in many languages, packaged for an LMS.

A thin shell over `avatarkit.course` and `avatarkit.localize`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .cli_common import console, fail, interrupted
from .errors import AvatarkitError

localize_app = typer.Typer(help="Translate a script: XLIFF out to translators and back, machine or pseudo "
                                "translation, and a status report.", no_args_is_help=True)


def export(
    script: Path = typer.Argument(..., help="Script file (YAML)."),
    out: Path = typer.Option(..., "--out", "-o", help="Package to write: a .zip (SCORM, cmi5, HTML) or a folder (HTML)."),
    format: str = typer.Option(..., "--format", "-f", help="scorm12, scorm2004, cmi5 or html."),
    lang: str = typer.Option("all", "--lang", help="Languages to include: 'all' or a list like en,de."),
    completion: float = typer.Option(0.9, help="Share of the video a learner must watch to complete (0-1)."),
    renders: Optional[Path] = typer.Option(None, help="Folder of the renditions (default: OUT's name + .renders); "
                                                      "finished, unchanged languages are reused."),
    brand: Optional[Path] = typer.Option(None, help="Brand kit (overrides the script's `brand:`)."),
    aspect: Optional[str] = typer.Option(None, help="Frame shape: 16:9, 9:16 or 1:1."),
    size: Optional[str] = typer.Option(None, help="Frame size: 480p, 720p, 1080p or 4k."),
    captions: Optional[bool] = typer.Option(None, "--captions/--no-captions", help="Burn captions into the picture."),
    force: bool = typer.Option(False, help="Render every language again."),
):
    """Render every language of SCRIPT (reusing finished ones) and package it for an LMS, in one command."""
    from .cli import course_progress, frame_override
    from .course import export_course
    from .script import load_script

    try:
        resolution = frame_override(load_script(script).resolution, aspect, size)
        bar, update = course_progress()
        with bar:
            written = export_course(script, out, format=format, languages=lang, renders=renders, brand=brand,
                                    resolution=resolution, captions=captions, completion=completion, force=force,
                                    progress=update)
    except AvatarkitError as e:
        fail(e)
    except KeyboardInterrupt:
        interrupted()
    console.print(f"[green]wrote[/] {written} ({format})")


def _langs(to: str) -> list[str]:
    return [x.strip() for x in to.split(",") if x.strip()]


@localize_app.command("status")
def status(script: Path = typer.Argument(..., help="Script file (YAML).")):
    """Show, per language, how many strings are translated, missing or stale."""
    from .localize import load_store, status as status_api, store_path
    from .script import load_script

    try:
        s = load_script(script)
        report = status_api(s, load_store(store_path(script)))
    except AvatarkitError as e:
        fail(e)
    table = Table("language", "translated", "missing", "stale", "machine")
    for lang, r in report.items():
        table.add_row(lang, str(len(r.translated)), str(len(r.missing)), str(len(r.stale)), str(len(r.machine)))
    console.print(table)
