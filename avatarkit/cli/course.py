"""`avatarkit export` and `avatarkit localize ...`: courses in many languages, packaged for an LMS.

A thin shell over `avatarkit.pipeline.course` and `avatarkit.localize`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..errors import AvatarkitError
from .common import console, fail, interrupted

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
    from ..pipeline.course import export_course
    from ..script import load_script
    from .common import course_progress, frame_override

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


def _langs(to: str | None) -> list[str] | None:
    return [x.strip() for x in to.split(",") if x.strip()] if to else None


@localize_app.command("export")
def localize_export(
    script: Path = typer.Argument(..., help="Script file (YAML)."),
    out: Path = typer.Option(..., "--out", "-o", help="XLIFF file to write; with several languages, one file each: "
                                                      "course.xlf -> course.de.xlf, course.fr.xlf, ..."),
    to: Optional[str] = typer.Option(None, "--to", help="Target languages, e.g. de,fr,ja,ar (default: the script's "
                                                        "`languages:`)."),
    version: str = typer.Option("2.0", help="XLIFF version: 2.0, or 1.2 for older CAT tools."),
):
    """Write the script's translatable strings (narration, titles, bullets, roles) as XLIFF for translators."""
    from ..localize import export_xliff, load_store, store_path
    from ..script import load_script

    try:
        if version not in ("2.0", "1.2"):
            raise AvatarkitError(f"--version {version!r}: expected 2.0 or 1.2")
        s = load_script(script)
        written = export_xliff(s, _langs(to), out, version=version, store=load_store(store_path(script)))
    except AvatarkitError as e:
        fail(e)
    for p in written:
        console.print(f"[green]wrote[/] {p}")


@localize_app.command("import")
def localize_import(
    files: list[Path] = typer.Argument(..., help="Translated XLIFF files (1.2 or 2.x)."),
    script: Optional[Path] = typer.Option(None, help="The script (default: the one the XLIFF file records, found "
                                                      "by its path relative to the file and its hash)."),
):
    """Read translations back into SCRIPT.translations.yaml; report missing and stale strings by id."""
    from ..localize import import_xliff, load_store, store_path, xliff_script
    from ..script import load_script

    try:
        for xlf in files:
            path, same = (script, True) if script else xliff_script(xlf)
            if not same:
                console.print(f"[yellow]note[/] {path} is not byte for byte the script {xlf.name} was exported from "
                              "(edited since?): strings changed since are reported stale")
            s = load_script(path)
            store = load_store(store_path(path))
            report = import_xliff(s, xlf, store)     # saves the translations file
            for lang, r in report.languages.items():
                console.print(f"[green]{xlf.name}[/] {lang}: {len(r.translated)} translated, {len(r.missing)} missing, "
                              f"{len(r.stale)} stale, {len(r.unknown)} unknown ids")
                for what, ids in (("missing", r.missing), ("stale", r.stale), ("unknown", r.unknown)):
                    if ids:
                        console.print(f"  {what}: {', '.join(ids[:10])}" + (f" and {len(ids) - 10} more" if len(ids) > 10 else ""))
                for w in r.warnings:
                    console.print(f"  [yellow]warning[/] {w}")
            console.print(f"[green]wrote[/] {store_path(path)}")
    except AvatarkitError as e:
        fail(e)


@localize_app.command("translate")
def localize_translate(
    script: Path = typer.Argument(..., help="Script file (YAML)."),
    to: Optional[str] = typer.Option(None, "--to", help="Target languages (default: the script's `languages:`)."),
    with_: str = typer.Option("pseudo", "--with", help="Translator: pseudo (pseudo-localisation, to test layouts), "
                                                       "memory (reuse other translations files), marian (a local "
                                                       "OPUS-MT model folder, --model)."),
    model: Optional[Path] = typer.Option(None, help="Model folder for --with marian."),
    memory: Optional[list[Path]] = typer.Option(None, help="Translations files to reuse for --with memory."),
    rtl: bool = typer.Option(False, help="Pseudo-localise as right-to-left text."),
):
    """Fill missing translations by machine (marked machine: true for review); human ones are never replaced."""
    from ..localize import load_store, make_translator, store_path, translate_missing
    from ..script import load_script

    try:
        config: dict = {}
        if with_ == "marian":
            config["model"] = model
        elif with_ == "memory":
            config["stores"] = memory or []
        elif with_ == "pseudo":
            config["rtl"] = rtl
        translator = make_translator(with_, **config)
        s = load_script(script)
        report = translate_missing(s, _langs(to), translator, load_store(store_path(script)))   # saves it
    except AvatarkitError as e:
        fail(e)
    for lang, r in report.languages.items():
        console.print(f"{lang}: {len(r.filled)} filled by {with_}, {len(r.kept)} human translations kept, "
                      f"{len(r.failed)} failed")
        for uid, why in r.failed[:10]:
            console.print(f"  [yellow]{uid}[/]: {why}")
    console.print(f"[green]wrote[/] {store_path(script)}")


@localize_app.command("status")
def status(script: Path = typer.Argument(..., help="Script file (YAML).")):
    """Show, per language, how many strings are translated, missing, stale or machine-made."""
    from ..localize import coverage, load_store, script_languages, store_path
    from ..script import load_script

    try:
        s = load_script(script)
        store = load_store(store_path(script))
        rows = [coverage(s, lang, store) for lang in script_languages(s)[1:]]
    except AvatarkitError as e:
        fail(e)
    table = Table("language", "strings", "translated", "missing", "stale", "machine")
    for c in rows:
        table.add_row(c.language, str(c.total), str(len(c.translated)), str(len(c.missing)), str(len(c.stale)),
                      str(len(c.machine)))
    console.print(table)
