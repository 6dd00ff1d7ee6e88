"""What every command-line module shares: the stderr console, how a command fails, `--aspect`/`--size`, a course's progress bar."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as _RichProgress

from ..errors import AvatarkitError

console = Console(stderr=True)
LOG_EVERY_S = 5.0      # how often progress is written as a line when the output is not a terminal


class Progress(_RichProgress):
    """rich's progress bars, which also show in a log: where the console is not a terminal (a pipe, a CI log,
    a service's journal) rich draws nothing until the end, so every `LOG_EVERY_S` seconds each moving task
    is written as one plain line (its description, how far, of how much)."""

    def __init__(self, *columns, **kwargs):
        super().__init__(*columns, **kwargs)
        self._logged: dict = {}

    def update(self, task_id, **kwargs) -> None:
        super().update(task_id, **kwargs)
        if self.console.is_terminal:
            return
        now = time.monotonic()
        if now - self._logged.get(task_id, -LOG_EVERY_S) < LOG_EVERY_S:
            return
        self._logged[task_id] = now
        task = self._tasks.get(task_id)
        if task is None:
            return
        done = f"{task.completed:g}" + (f"/{task.total:g}" if task.total else "")
        self.console.print(f"{task.description}: {done} ({task.elapsed or 0.0:.0f} s)", highlight=False,
                           markup=False)


def _readable_help() -> None:
    """Make `--help` read as a person expects, whatever Typer's version.

    Typer 0.2x writes the type of every option, flags included (`--help
    <bool>`, `--captions/--no-captions <bool>`, though a flag takes no
    value), a repeatable option's as a Python annotation (`<list[Path]>`),
    and a required argument in the usage line as `{script}`. Here a flag
    shows no type, a repeatable option or argument its element's type
    (`<path>`), and arguments read `SCRIPT`, `[NAME]` and `FILES...` as in
    click. Versions without these methods are left as they are.
    """
    import re

    try:
        from typer import core
    except ImportError:       # pragma: no cover - typer always has it
        return
    for cls in (getattr(core, "TyperOption", None), getattr(core, "TyperArgument", None)):
        shown = getattr(cls, "display_type_rich", None)
        if shown is None or getattr(shown, "_avatarkit", False):
            continue

        def display_type_rich(self, ctx, _shown=shown):
            if getattr(self, "is_flag", False) or getattr(self, "count", False):
                return None
            text = _shown(self, ctx)
            return re.sub(r"list\[(\w+)\]", lambda m: m[1].lower(), text) if isinstance(text, str) else text

        display_type_rich._avatarkit = True
        cls.display_type_rich = display_type_rich
    arg = getattr(core, "TyperArgument", None)
    if arg is not None and hasattr(arg, "_usage_display_name"):
        def _usage_display_name(self) -> str:
            name = self.metavar or self.name.upper()
            name = name if self.required else f"[{name}]"
            return name + ("..." if self.nargs != 1 else "")

        arg._usage_display_name = _usage_display_name


_readable_help()


def fail(e: Exception) -> None:
    """Print a user error as one line and exit with status 2."""
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
    raise typer.Exit(code=2)


def output_folder(path: Path, option: str = "--out", *, make: bool = True) -> Path:
    """`path` as a folder a command may write into (made now if `make`, else left to the command, which
    makes it when it first writes: a command that fails before leaves no empty folder); `AvatarkitError`
    naming `option` and the path when it or a folder above it is a file, or the folder it would be made
    in is not writable (checked before any work is done)."""
    import os

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise AvatarkitError(f"{option} {path}: is a file, not a folder")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise AvatarkitError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise AvatarkitError(f"{option} {path}: {'the folder' if existing == path else existing} is not writable")
    if make:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise AvatarkitError(f"{option} {path}: cannot make the folder ({e.strerror})") from None
    return path


def output_file(path: Path, option: str = "--out", suffixes: tuple[str, ...] = ()) -> Path:
    """`path` as a file a command may write (its folder made if missing), or `AvatarkitError` naming `option`:
    an existing folder, a folder that cannot be made or written, or (with `suffixes`) another file type."""
    path = Path(path)
    endings = ", ".join(suffixes[:-1]) + (" or " if len(suffixes) > 1 else "") + suffixes[-1] if suffixes else ""
    if path.is_dir():
        raise AvatarkitError(f"{option} {path}: is a folder; give a file name" + (f" ending in {endings}" if endings else ""))
    if suffixes and path.suffix.lower() not in suffixes:
        raise AvatarkitError(f"{option} {path}: the file name must end in {endings}")
    output_folder(path.parent if str(path.parent) else Path("."), option)
    return path


def interrupted(message: str = "interrupted; no partial output was kept") -> None:
    """Exit with status 130 after Ctrl-C, saying what was kept."""
    console.print(message)
    raise typer.Exit(code=130) from None


def frame_override(current: tuple[int, int], aspect: str | None, size: str | None) -> tuple[int, int] | None:
    """The frame size `--aspect` and `--size` ask for (pixels), or None when neither is given."""
    from ..script.model import ASPECTS, SIZES, frame_size

    if aspect is not None and aspect not in ASPECTS:
        raise AvatarkitError(f"--aspect {aspect!r}: expected one of {', '.join(ASPECTS)}")
    if size is not None and size.lower() not in SIZES:
        raise AvatarkitError(f"--size {size!r}: expected one of {', '.join(SIZES)}")
    if not (aspect or size):
        return None
    w, h = current
    short = size.lower() if size else f"{min(w, h)}p"
    if short not in SIZES:
        raise AvatarkitError(f"--aspect needs --size: the script's {w}x{h} is not a standard size")
    return frame_size(aspect or _aspect_of(w, h), short)


def picture_size(size: str, option: str = "--size") -> tuple[int, int]:
    """A picture size given as `render`'s --size is (480p, 720p, 1080p, 4k: 16:9) or as WIDTHxHEIGHT pixels."""
    from ..script.model import SIZES, frame_size

    text = size.strip().lower()
    if text in SIZES:
        return frame_size("16:9", text)
    try:
        w, h = (int(v) for v in text.split("x"))
    except ValueError:
        raise AvatarkitError(f"{option} {size!r}: expected {', '.join(SIZES)} or WIDTHxHEIGHT, e.g. 1280x720") from None
    return w, h


def _aspect_of(width: int, height: int) -> str:
    return "16:9" if width >= 1.2 * height else "9:16" if height >= 1.2 * width else "1:1"


def course_progress():
    """A rich progress bar for a course rendered language by language, and its callback."""
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[video]:.1f} s of video"),
                   TimeElapsedColumn(), console=console)
    tasks: dict[str, int] = {}

    def update(cp) -> None:
        if cp.language not in tasks:
            tasks[cp.language] = bar.add_task(f"{cp.language} ({cp.index + 1}/{cp.total})", total=None, video=0.0)
        t = tasks[cp.language]
        if cp.reused:
            where = {"cache": "reused from the render cache", "folder": "reused"}.get(cp.reused_from, "up to date")
            bar.update(t, description=f"{cp.language} ({cp.index + 1}/{cp.total}) {where}", total=1, completed=1)
        elif cp.event is not None:
            bar.update(t, completed=cp.event.done, total=cp.event.total, video=cp.event.video_s)

    return bar, update
