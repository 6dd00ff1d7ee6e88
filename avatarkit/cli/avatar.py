"""`avatarkit avatar ...` and `avatarkit dub`: thin shells over `face.avatar`, `training.mouth` and `dub`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import AvatarkitError
from .common import Progress, console, fail, interrupted, output_file

avatar_app = typer.Typer(
    help="Personal avatars made from a person's footage (with their consent): add, train, list, show, remove.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
err = console
_fail = fail


def _bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err)


HOME_HELP = "Folder holding avatars (default: $AVATARKIT_HOME or ~/.avatarkit)."


@avatar_app.command()
def add(
    name: str = typer.Argument(..., help="Avatar name: lowercase letters, digits, '-' or '_'."),
    consent: Path = typer.Option(..., help="The person's consent document (kept inside the avatar folder)."),
    footage: Optional[Path] = typer.Option(None, help="Video of the person talking to the camera (2-5 minutes is "
                                                      "best): a footage avatar."),
    photo: Optional[Path] = typer.Option(None, help="A photo of the person facing the camera: a photo avatar."),
    mouths: Optional[Path] = typer.Option(None, help="With --photo: a second photo with the mouth open (a broad "
                                                     "smile) or a few seconds of the person talking, for their "
                                                     "own teeth (used by renderer: bank)."),
    home: Optional[Path] = typer.Option(None, help=HOME_HELP),
):
    """Make avatar NAME from FOOTAGE (per-frame landmarks, head pose, blinks, inner lips, teeth and sharpness,
    usable and neutral frames, idle loops and the person's own mouth bank; no training step) or from a PHOTO
    (with their own teeth from MOUTHS)."""
    from ..face.avatar import add_avatar, add_photo_avatar

    if (footage is None) == (photo is None):
        _fail(AvatarkitError("give either --footage (a video) or --photo (an image)"))
    if mouths is not None and photo is None:
        _fail(AvatarkitError("--mouths goes with --photo; a footage avatar takes its mouths from its footage"))
    if photo is not None:
        try:
            with _bar() as bar:
                bar.add_task(f"checking {photo.name}" + (f" and {mouths.name}" if mouths else ""), total=None,
                             info="")
                a = add_photo_avatar(name, photo, consent, mouths=mouths, home=home)
        except AvatarkitError as e:
            _fail(e)
        m = a.meta["mouths"]
        own = (f"{m['entries']} of their own mouths; use `renderer: bank` in a script to show them"
               if m["source"] == "own" else "no mouths of their own (add --mouths for their teeth)")
        err.print(f"[green]added[/] photo avatar {a.name} at {a.folder}: {own}")
        return
    try:
        with _bar() as bar:
            task = bar.add_task(f"preparing {footage.name}", total=None, info="")
            a = add_avatar(name, footage, consent, home=home,
                           progress=lambda d, n: bar.update(task, completed=d, total=n or None))
    except AvatarkitError as e:
        _fail(e)
    f, i = a.meta["footage"], a.meta["intake"]
    for w in i.get("warnings", []):
        err.print(f"[yellow]warning:[/] {escape(w)}")
    m = a.meta.get("mouths", {})
    mouths_text = f"{m['entries']} own mouths" if m.get("source") == "own" else "the shipped mouth bank"
    err.print(f"[green]added[/] {a.name} at {a.folder}: {f['frames']} frames at {f['fps']:g} fps, "
              f"{i['usable']} usable, {len(i['loops'])} idle loops, {mouths_text}; ready to use, no training needed "
              f"(`avatarkit avatar train {a.name}` is the optional slow diffusion path)")


@avatar_app.command()
def train(
    name: str = typer.Argument(..., help="Avatar name or folder."),
    steps: int = typer.Option(3000, help="Training steps (a later run with more steps resumes)."),
    size: Optional[int] = typer.Option(None, help="Crop size in pixels (default: 256 on a GPU, 128 on the CPU)."),
    batch: Optional[int] = typer.Option(None, help="Crops per step (default: 32 on a GPU, 8 on the CPU)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    until: float = typer.Option(1.0, help="Train on this leading share of the footage; the rest validates."),
    preview_every: int = typer.Option(250, help="Write a preview PNG every N steps."),
    restart: bool = typer.Option(False, "--restart", help="Start afresh instead of resuming from the checkpoint."),
    home: Optional[Path] = typer.Option(None, help=HOME_HELP),
):
    """Train avatar NAME's mouth model on its footage; resumes from its last checkpoint."""
    from ..face.avatar import open_avatar
    from ..training.mouth import TrainSettings
    from ..training.mouth import train as train_api

    try:
        a = open_avatar(name, home)
        settings = TrainSettings(steps=steps, size=size, batch=batch, device=device, until=until,
                                 preview_every=preview_every, checkpoint_every=min(250, max(1, preview_every)),
                                 restart=restart)
        with _bar() as bar:
            tasks: dict[str, int] = {}

            def progress(stage, done, total, info):
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total, info="")
                text = f"loss {info['loss']:.4f}" if "loss" in info else ""
                bar.update(tasks[stage], completed=done, total=total, info=text)

            model = train_api(a, settings, progress=progress)
    except AvatarkitError as e:
        _fail(e)
    except KeyboardInterrupt:
        interrupted(f"interrupted; run `avatarkit avatar train {name}` again to resume from the last checkpoint")
    info = model.training_info
    err.print(f"[green]trained[/] {a.name}: {info['steps']} steps on {info['device']} in {info['seconds']:.0f} s, "
              f"validation error {info['validation_loss']}; previews in {a.model_dir / 'previews'}")


@avatar_app.command("list")
def list_(home: Optional[Path] = typer.Option(None, help=HOME_HELP)):
    """List avatars."""
    from ..face.avatar import list_avatars

    t = Table("name", "kind", "frames", "usable", "own mouths", "trained", "folder")
    try:
        avatars = list_avatars(home)
    except AvatarkitError as e:
        _fail(e)
    for a in avatars:
        own = str(a.meta.get("mouths", {}).get("entries", 0))
        if a.kind == "photo":
            t.add_row(a.name, "photo", "1", "1", own, "-", str(a.folder))
        else:
            t.add_row(a.name, "footage", str(a.meta["footage"]["frames"]), str(a.meta["intake"]["usable"]), own,
                      "yes" if a.trained else "no", str(a.folder))
    Console().print(t)


@avatar_app.command()
def show(name: str = typer.Argument(..., help="Avatar name (see `avatarkit avatar list`)."),
             home: Optional[Path] = typer.Option(None, help=HOME_HELP)):
    """Print an avatar's record (footage, intake, consent, model) as JSON."""
    import json

    from ..face.avatar import open_avatar

    try:
        a = open_avatar(name, home)
    except AvatarkitError as e:
        _fail(e)
    print(json.dumps(a.meta, indent=2))


@avatar_app.command()
def remove(name: str = typer.Argument(..., help="Avatar name (see `avatarkit avatar list`)."),
               home: Optional[Path] = typer.Option(None, help=HOME_HELP)):
    """Delete an avatar folder, its footage copy, consent record and model."""
    from ..face.avatar import remove_avatar

    try:
        err.print(f"removed {remove_avatar(name, home)}")
    except AvatarkitError as e:
        _fail(e)


def dub(
    video: Path = typer.Argument(..., help="The video to dub: any clip of one person talking (no avatar needed)."),
    out: Path = typer.Option(..., "--out", "-o", help="MP4 file to write."),
    audio: Optional[Path] = typer.Option(None, help="New speech as a recording (WAV, FLAC, MP3, M4A, ...)."),
    text: Optional[Path] = typer.Option(None, help="New speech as a text file (.txt), spoken by --voice."),
    voice: Optional[str] = typer.Option(None, help="Voice for --text (see `avatarkit voices`)."),
    avatar: Optional[str] = typer.Option(None, help="The person's avatar (default: the one made from VIDEO, if any); "
                                         "a trained one selects the diffusion renderer."),
    renderer: Optional[str] = typer.Option(None, help="footage (VIDEO's own frames re-timed, own mouths; no training) "
                                           "or diffusion (a trained avatar's mouth model). Default: footage, unless "
                                           "--avatar names a trained avatar."),
    seed: int = typer.Option(0, help="Footage renderer: seed of the re-timing (another seed, another cut of the same clip)."),
    steps: Optional[int] = typer.Option(None, help="Diffusion renderer: sampling steps (default: the model's)."),
    device: str = typer.Option("auto", help="Diffusion renderer: auto, cpu or cuda."),
    captions: bool = typer.Option(True, help="Write WebVTT and SRT captions of what is said beside the MP4 "
                                             "(--audio: what Whisper hears; --text: the text)."),
    language: Optional[str] = typer.Option(None, help="Language of the --audio recording (default: detected)."),
    home: Optional[Path] = typer.Option(None, help=HOME_HELP),
):
    """Dub VIDEO with new speech: the person speaks it from their own frames and mouths, one-shot (no `avatar add`,
    no training); everything outside the mouth and jaw is the clip's own pixels."""
    from ..recordings.dub import dub as dub_api

    try:
        output_file(out, suffixes=(".mp4",))
        with _bar() as bar:
            tasks: dict[str, int] = {}

            def progress(ev):
                if ev.stage not in tasks:
                    tasks[ev.stage] = bar.add_task(ev.stage, total=ev.total or None, info="")
                bar.update(tasks[ev.stage], completed=ev.done, total=ev.total or None)

            r = dub_api(video, out, audio=audio, text=text, voice=voice, avatar=avatar, home=home,
                        steps=steps, device=device, captions=captions, language=language, renderer=renderer,
                        seed=seed, progress=progress)
    except AvatarkitError as e:
        _fail(e)
    except KeyboardInterrupt:
        interrupted()
    for w in r.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    err.print(f"[green]wrote[/] {r.video} ({r.duration:.1f} s, {r.frames} frames, {r.painted} repainted by the "
              f"{r.renderer} renderer, {r.wall_s / max(r.duration, 1e-9):.2f} s of compute per s of video)")
    for path in r.captions.values():
        err.print(f"[green]wrote[/] {path}")
