"""The `avatarkit` command line: the top-level commands (render, check, say, lipsync, transcribe, ...).

A thin shell over the Python API; subcommand groups (`avatar`, `eval`,
`localize`, `serve`) and `dub` / `export` live in the other modules of
`avatarkit.cli` and are mounted here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

from ..errors import AvatarkitError
from .common import Progress, console, course_progress, fail, frame_override, interrupted, output_file, output_folder, picture_size

app = typer.Typer(
    help="avatarkit: turn a written script into a presenter video (talking avatar, voice, "
         "captions), offline on a CPU. Every output is labelled AI-generated.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
_fail, _interrupted = fail, interrupted
# A render keeps its finished speech and parts in a hidden work folder beside the output, so the same render
# started again draws only the rest.
RENDER_INTERRUPTED = ("interrupted; no video was written (finished parts are kept in the output folder's hidden "
                      "work folder: rendering again resumes from them)")


def _wrote_video(result) -> None:
    speed = result.wall_s / max(result.duration, 1e-9)
    console.print(f"[green]wrote[/] {result.video} ({result.duration:.1f} s, {result.frames} frames, "
                  f"{speed:.2f} s of compute per s of video)")


@app.command()
def render(
    script: Path = typer.Argument(..., help="Script file (YAML, see docs/script-format.md)."),
    out: Path = typer.Option(Path("out"), "--out", "-o", help="Output folder."),
    renderer: Optional[str] = typer.Option(None, help="Default renderer kind: warp, bank or refined for a photo; "
                                                      "footage or diffusion for a footage avatar (default: footage "
                                                      "for a footage avatar, warp for a photo); a scene's "
                                                      "`renderer:` wins."),
    name: Optional[str] = typer.Option(None, help="Base name of the output files (default: script name)."),
    voices_dir: Optional[list[Path]] = typer.Option(None, "--voices-dir", help="Extra folder of voice files or Piper .onnx voices."),
    brand: Optional[Path] = typer.Option(None, help="Brand kit (brand.yaml: colours, fonts, logo, intro/outro, music); "
                                                      "overrides the script's `brand:`."),
    aspect: Optional[str] = typer.Option(None, help="Frame shape: 16:9, 9:16 or 1:1 (with --size; overrides the script)."),
    size: Optional[str] = typer.Option(None, help="Frame size by its short side: 480p, 720p, 1080p or 4k."),
    captions: Optional[bool] = typer.Option(None, "--captions/--no-captions", help="Burn captions into the picture "
                                                                                   "(default: the script's `captions:`)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="Render these languages of a translated script: 'all' or "
                                                            "a list like de,fr (one MP4 each; finished ones are reused)."),
    executor: str = typer.Option("local", help="local (here, scene after scene) or ray (every scene of every "
                                               "language a task on a Ray cluster; the same video)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster for --executor ray ('auto' "
                                                                         "joins `ray start`; default: a local one)."),
    force: bool = typer.Option(False, help="Render again even when a finished render of the same inputs exists."),
):
    """Render SCRIPT to OUT/<name>.<language>.mp4 with .vtt, .srt captions and a .jpg thumbnail."""
    import dataclasses

    from ..pipeline.core import render as render_api
    from ..script import load_script

    try:
        s = load_script(script)
        output_folder(out, make=False)
        resolution = frame_override(s.resolution, aspect, size)
        if lang is None and (executor != "local" or not (name or voices_dir)):
            # The script's own language goes the course's way (a cluster render; a finished render of the
            # same inputs, in OUT or the render cache, is reused), unless --name or --voices-dir asks otherwise.
            lang = s.language
        if lang is not None:
            results = _render_languages(script, out, lang, brand, resolution, captions, renderer, executor, ray_address,
                                        force)
            for r in results.values():
                _wrote_video(r)
            return
        if resolution:
            s = dataclasses.replace(s, resolution=resolution)
        if captions is not None:
            s = dataclasses.replace(s, captions=captions)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} phrases"),
                      TextColumn("{task.fields[video]:.1f} s of video"), TimeElapsedColumn(),
                      console=console, transient=False) as bar:
            phrases = sum(len(seg.phrases) for sc in s.scenes for seg in sc.segments)
            task = bar.add_task(f"rendering {script.name}", total=phrases, video=0.0)

            def progress(ev):
                bar.update(task, completed=ev.done, total=ev.total, video=ev.video_s)

            result = render_api(s, out, renderer=renderer, name=name, progress=progress,
                                voices_dir=voices_dir, brand=brand)
    except AvatarkitError as e:
        _fail(e)
    except KeyboardInterrupt:
        _interrupted(RENDER_INTERRUPTED)
    _wrote_video(result)
    for p in (result.vtt, result.srt, result.thumbnail):
        console.print(f"[green]wrote[/] {p}")


def _render_languages(script, out, lang, brand, resolution, captions, renderer, executor, ray_address, force=False):
    from ..pipeline.course import render_course

    bar, update = course_progress()
    with bar:
        return render_course(script, out, languages=lang, brand=brand, resolution=resolution, captions=captions,
                             renderer=renderer, executor=executor, ray_address=ray_address, progress=update,
                             force=force)


@app.command(name="from-slides")
def from_slides(
    deck: Path = typer.Argument(..., help="Slide deck: PowerPoint .pptx, PDF, or Markdown slides (.md)."),
    out: Path = typer.Option(..., "--out", "-o", help="Script file to write (YAML), e.g. course.yaml."),
    voice: str = typer.Option("en-us-joe", help="Voice id (see `avatarkit voices`)."),
    avatar: str = typer.Option("presenter", help="Presenter: a photo, the name of an avatar made with `avatarkit avatar "
                                                 "add`, or `presenter` (the photo avatarkit ships)."),
    notes: Optional[Path] = typer.Option(None, help="Speaker notes for a PDF deck: blocks separated by a line `---`, "
                                                    "one per page (default: DECK.notes.txt / .md beside it)."),
    layout: str = typer.Option("beside", help="Layout of the slide scenes: beside, pip, circle or full."),
    slides: str = typer.Option("auto", "--slides", help="How slides are shown: page (rendered pages; PPTX needs "
                                                        "LibreOffice), layout (title, bullets and pictures re-laid out), "
                                                        "or auto."),
):
    """Turn a slide deck into a script: one scene per slide, the speaker notes as narration."""
    from ..slides import from_slides as from_slides_api

    try:
        written = from_slides_api(deck, out, voice=voice, avatar=avatar, notes=notes, layout=layout, render=slides)
    except AvatarkitError as e:
        _fail(e)
    console.print(f"[green]wrote[/] {written}  (review the narration, then: avatarkit render {written})")
    photo = Path(avatar).expanduser()
    if photo.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp") and not photo.is_file() \
            and not (written.parent / photo).is_file():
        console.print(f"[yellow]warning:[/] --avatar {avatar}: no such photo yet; put it there before rendering "
                      f"(the script names it as {avatar})")


@app.command()
def say(
    text: str = typer.Argument(..., help="Text to speak."),
    voice: str = typer.Option("en-us-joe", help="Voice id (see `avatarkit voices`)."),
    out: Path = typer.Option(Path("say.wav"), "--out", "-o", help="WAV file to write."),
):
    """Speak TEXT with a voice into a WAV file and print its phoneme timings."""
    import soundfile as sf

    from ..pipeline.core import SAMPLE_RATE
    from ..script import parse_text
    from ..script.model import Script
    from ..speech.engines.base import make_engine
    from ..speech.loudness import LoudnessNormalizer
    from ..speech.phrases import tokens_for
    from ..speech.voice import get_voice

    try:
        output_file(out, suffixes=(".wav",))
        v = get_voice(voice)
        engine = make_engine(v)
        empty = Script(title="", scenes=[])
        phrases = parse_text(text)
        if not any(ph.words for ph in phrases):
            raise AvatarkitError("text: nothing to say (the text is empty or only markup)")
        parts = []
        norm = LoudnessNormalizer(SAMPLE_RATE)
        for ph in phrases:
            if not ph.words:
                continue
            utt = engine.synthesize(tokens_for(ph, empty, v.language)).resampled(SAMPLE_RATE)
            parts.append(norm(utt.audio))
            Console().print(" ".join(f"{p.symbol}[{p.start / SAMPLE_RATE:.2f}]" for p in utt.phones))
    except AvatarkitError as e:
        _fail(e)
    import numpy as np

    from ..utils.files import atomic_path

    with atomic_path(out) as tmp:
        sf.write(tmp, np.concatenate(parts), SAMPLE_RATE, format="WAV")
    console.print(f"[green]wrote[/] {out}")


@app.command()
def check(script: Path = typer.Argument(..., help="Script file to validate."),
          brand: Optional[Path] = typer.Option(None, help="Brand kit to validate with the script."),
          lang: Optional[str] = typer.Option(None, "--lang", help="Also check these translations ('all' or de,fr): "
                                                                 "every string translated and up to date, a voice each.")):
    """Validate SCRIPT (format, voices, avatars, recordings, slides, brand kit, translations) without rendering."""
    from ..compose.staging import resolve_brand
    from ..pipeline.course import check_course, voice_language_warnings

    try:
        s = next(iter(check_course(script, brand=brand, languages=lang).values()))
        kit = resolve_brand(s, brand)
        warnings = voice_language_warnings(s)
    except AvatarkitError as e:
        _fail(e)
    for w in warnings:
        console.print(f"[yellow]warning:[/] {script}: {w}", highlight=False)
    n = sum(len(seg.phrases) for sc in s.scenes for seg in sc.segments)
    console.print(f"[green]ok[/] {script}: {len(s.scenes)} scenes, {n} phrases, "
                  f"{s.width}x{s.height} at {s.fps} fps" + (f", brand kit {kit.source}" if kit.source else ""))


@app.command()
def lipsync(
    avatar: Path = typer.Option(..., help="Avatar photo (PNG or JPEG with one face)."),
    audio: Path = typer.Option(..., help="Recording to speak: WAV, FLAC, MP3, M4A or a video's audio track."),
    out: Path = typer.Option(..., "--out", "-o", help="MP4 file to write."),
    motion: str = typer.Option("learned", help="Audio motion kind: learned, loudness or still."),
    model: Optional[Path] = typer.Option(None, help="Audio-to-motion model folder, or a shipped model by name: "
                                                    "v3 (whole lip shapes, default) or v2."),
    background: str = typer.Option("studio", help="Background kind (studio, gradient, solid) or a colour '#rrggbb'."),
    layout: str = typer.Option("full", help="Layout kind (full, pip)."),
    size: str = typer.Option("1280x720", help="Video size: 480p, 720p, 1080p, 4k (16:9) or WIDTHxHEIGHT in pixels."),
    fps: int = typer.Option(25, help="Frames per second (must divide 48000)."),
    loudness: str = typer.Option("-16", help="Soundtrack loudness in LUFS, or 'keep' for the recording's own level."),
    captions: bool = typer.Option(True, help="Write WebVTT and SRT captions of what is said (Whisper) beside the MP4."),
    language: Optional[str] = typer.Option(None, help="Language of the recording (e.g. de); default: detected."),
):
    """Animate AVATAR speaking the recording AUDIO, streamed (any length, constant memory)."""
    from ..recordings.lipsync import LipsyncProgress
    from ..recordings.lipsync import lipsync as lipsync_api
    from ..script.model import Background

    try:
        output_file(out, suffixes=(".mp4",))
        w, h = picture_size(size)
        bg = Background("solid", (background,)) if background.startswith("#") else Background(background)
        try:
            target = None if loudness == "keep" else float(loudness)
        except ValueError:
            raise AvatarkitError(f"--loudness {loudness!r}: expected LUFS like -16, or 'keep'") from None
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.completed:.1f} s of video"), TimeElapsedColumn(),
                      console=console) as bar:
            task = bar.add_task(f"lip sync {audio.name}", total=None)

            def progress(ev: LipsyncProgress):
                what = "lip sync" if ev.stage == "render" else ev.stage
                bar.update(task, description=f"{what} {audio.name}", completed=ev.done_s, total=ev.total_s or None)
            result = lipsync_api(avatar, audio, out, motion=motion, model_path=model, fps=fps,
                                 resolution=(w, h), background=bg, layout=layout, loudness=target,
                                 captions=captions, language=language, progress=progress)
    except AvatarkitError as e:
        _fail(e)
    except KeyboardInterrupt:
        _interrupted()
    _wrote_video(result)
    for path in result.captions.values():
        console.print(f"[green]wrote[/] {path}")


@app.command()
def transcribe(
    media: Path = typer.Argument(..., help="Recording or video with sound (WAV, FLAC, MP3, M4A, MP4, ...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Captions file to write: .vtt, .srt or .json (words with times)."),
    language: Optional[str] = typer.Option(None, help="Language code (e.g. de) to skip language identification."),
):
    """Write captions for MEDIA from what Whisper hears in it (offline; language detected)."""
    from ..recordings.transcribe import transcribe as transcribe_api
    from ..recordings.transcribe import write_transcript

    try:
        output_file(out, suffixes=(".vtt", ".srt", ".json"))
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.completed:.0f} s of audio"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(f"transcribe {media.name}", total=None)
            transcript = transcribe_api(media, language=language,
                                        progress=lambda done, total: bar.update(task, completed=done, total=total or None))
        write_transcript(transcript, out, title=media.name)
    except AvatarkitError as e:
        _fail(e)
    except KeyboardInterrupt:
        _interrupted()
    if transcript.words:
        console.print(f"[green]wrote[/] {out} ({len(transcript.words)} words, language {transcript.language} "
                      f"p={transcript.language_probability:.2f}, {transcript.duration:.1f} s)")
    else:
        console.print(f"[yellow]no speech found[/] in {media}; wrote {out} with no captions")


def _mount() -> None:
    """Mount the subcommand groups, each kept in its own module of this package."""
    from .avatar import avatar_app, dub
    from .course import export, localize_app
    from .eval import eval_app
    from .live import live
    from .serve import serve_app
    from .verify import verify
    from .voices import voices_app

    app.add_typer(eval_app, name="eval", help="Measure quality: `avatarkit eval lipsync VIDEO...`.")
    app.add_typer(avatar_app, name="avatar",
                  help="Personal avatars from footage: `avatarkit avatar add|train|list|show|remove`.")
    app.command(name="dub")(dub)
    app.command(name="live")(live)
    app.command(name="export")(export)
    app.command(name="verify")(verify)
    app.add_typer(localize_app, name="localize",
                  help="Translate a script: `avatarkit localize export|import|translate|status`.")
    app.add_typer(voices_app, name="voices", help="The voice catalogue: `avatarkit voices`, `avatarkit voices save NAME`.")
    app.add_typer(serve_app, name="serve", help="The HTTP render service: `avatarkit serve`, `avatarkit serve keys ...`.")


_mount()


def _stop_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:  # pragma: no cover - console entry point
    import signal

    os.environ.setdefault("GLOG_minloglevel", "2")
    # `kill` and a closed terminal stop a command as Ctrl-C does: through its clean-up, so no partial file or
    # work folder it would have removed is left behind (Python's default for these signals skips it).
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop_as_interrupt)
    try:
        app()
    except OSError as e:
        # The last line of defence: a file the system refused (a full disk, a folder made read-only while a
        # command ran) is one line naming it, not a traceback; the commands check their outputs up front.
        where = f"{e.filename}: " if e.filename else ""
        console.print(f"[bold red]error:[/] {where}{e.strerror or e}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
