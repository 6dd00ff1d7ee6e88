"""`avatarkit voices`: list the catalogue, and save a house voice (a blend of Kokoro speakers) under a name."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ..errors import AvatarkitError
from .common import console, fail, output_folder

voices_app = typer.Typer(no_args_is_help=False, invoke_without_command=True)


@voices_app.callback()
def voices(
    ctx: typer.Context,
    voices_dir: Optional[list[Path]] = typer.Option(None, "--voices-dir", help="Extra folder of voice files or Piper .onnx voices."),
    language: Optional[str] = typer.Option(None, help="Only voices of this language (e.g. fr, pt-BR)."),
):
    """List the voices in the catalogue; the measured default of each language is marked."""
    if ctx.invoked_subcommand is not None:
        return
    from ..localize.strings import primary
    from ..speech.voice import default_voices, list_voices

    try:
        found = list_voices(voices_dir)
        defaults = set(default_voices(voices_dir).values())
    except AvatarkitError as e:
        fail(e)
    table = Table("id", "engine", "language", "gender", "default", "description")
    for v in found:
        if language and primary(v.language) != primary(language) and v.language.lower() != language.lower():
            continue
        table.add_row(v.id, v.engine, v.language, v.gender, "yes" if v.id in defaults else "", v.description)
    Console().print(table)


@voices_app.command()
def save(
    name: str = typer.Argument(..., help="Id of the new voice (letters, digits, - and _), e.g. northwind-host."),
    speaker: str = typer.Option(..., help="Kokoro speaker, or a blend: af_heart=0.7,af_bella=0.3."),
    speed: float = typer.Option(1.0, help="Speaking rate, 0.5-2 (1 is the speaker's own)."),
    description: str = typer.Option("", help="A few words about the voice, shown by `avatarkit voices`."),
    folder: Optional[Path] = typer.Option(None, "--dir", help="Where to write NAME.yaml (default: $AVATARKIT_HOME/voices)."),
):
    """Save a house voice: Kokoro speakers blended by weight, usable as `voice: NAME` in any script."""
    import re

    from ..speech.catalog import house_voices
    from ..speech.engines.base import make_engine
    from ..speech.voice import Voice, kokoro_voice

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        fail(AvatarkitError(f"voice name {name!r}: use letters, digits, - and _"))
    try:
        base = kokoro_voice(f"kokoro:{speaker}")
        voice = Voice(id=name, engine="kokoro", language=base.language, name=name, description=description,
                      settings={**base.settings, **({"speed": speed} if speed != 1.0 else {})},
                      sample_rate=base.sample_rate, style="house voice (blend)" if "=" in speaker else "")
        make_engine(voice)  # every speaker exists, the weights and speed are valid: checked before writing
        written = voice.save(output_folder(folder, "--dir") if folder else house_voices())
    except AvatarkitError as e:
        fail(e)
    console.print(f"[green]wrote[/] {written}  (use it as `voice: {name}`)")
