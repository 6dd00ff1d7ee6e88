"""Where the file names a script, a brand kit or a voice reference may lead: one rule, in one place.

Two rules exist. `FileScope` is the rule of the command line and the Python
API: a name is a path on this machine (absolute, `~`, or relative to the file
that names it), and named avatars and voices come from the user's own
catalogues. `Confined` is the rule of the render service: a name resolves
only inside the job's own uploads or the key's own library, or names a
read-only house asset that ships with avatarkit (the `presenter` photo, the
shipped voices). Under it:

- a name's *form* is checked before the disk is touched (absolute paths, `~`,
  `..`, backslashes and control characters are refused), so the answer
  cannot tell whether a server path exists;
- a well-formed name that is missing and one that resolves (through a
  symlink, say) outside the allowed folders get the same answer;
- messages never show a resolved server path.

The parsers ask the scope they are given, or else the current one
(`using(scope)` sets it for the calls made in a block, on this thread), so a
job's worker confines every load the pipeline makes without threading a
parameter through each stage.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..speech.catalog import PROJECT_VOICES, voice_dirs

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_AVATAR_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ESPEAK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+-]{0,40}$")


class ScopeRefusal(ValueError):
    """A name the scope refuses; the message names what is wrong with it, never a server path."""


class FileScope:
    """The open rule: names are paths on this machine; catalogues are the user's (CLI and Python API)."""

    confined = False

    def file(self, raw: str, base: Path) -> Path:
        """The path `raw` names, taken relative to `base` (the folder of the file naming it); it may not exist."""
        p = Path(raw).expanduser()
        return p if p.is_absolute() else base / p

    def exists(self, path: Path) -> bool:
        """Whether `path` (from `file`) is a file this scope may read."""
        return path.is_file()

    def where(self, path: Path) -> str:
        """What an error may add about where it looked (nothing under a confined scope)."""
        return f" (looked at {path})"

    def named_avatar(self, raw: str) -> Path | None:
        """The folder of an avatar made with `avatarkit avatar add`, by name, or None."""
        from ..face.avatar import avatars_home, is_avatar_folder

        named = avatars_home() / raw
        return named if "/" not in raw and is_avatar_folder(named) else None

    def voice_dirs(self, extra: list[str | Path] | None = None) -> list[Path]:
        """The voice catalogue folders, in priority order."""
        return voice_dirs(extra)

    def check_voice(self, ref: str) -> None:
        """Raise `ScopeRefusal` for a voice reference this scope does not allow (the open rule allows all)."""


OPEN = FileScope()


@dataclass(frozen=True)
class Confined(FileScope):
    """The service's rule for one job of one key.

    `roots` are the folders a relative name may resolve into (the job's
    uploads first); `avatars` and `voices` are the key's own library folders
    (None: the key has none). House assets (the avatars and voices that ship
    with avatarkit) are always readable.
    """

    roots: tuple[Path, ...] = ()
    avatars: Path | None = None
    voices: Path | None = None

    confined = True

    def file(self, raw: str, base: Path) -> Path:
        check_relative(raw)
        return base / raw

    def exists(self, path: Path) -> bool:
        real = Path(os.path.realpath(path))
        return any(real.is_relative_to(os.path.realpath(r)) for r in self.roots) and real.is_file()

    def where(self, path: Path) -> str:
        return ""

    def named_avatar(self, raw: str) -> Path | None:
        from ..face.avatar import is_avatar_folder

        if self.avatars is None or not _AVATAR_NAME.match(raw):
            return None
        folder = self.avatars / raw
        real = Path(os.path.realpath(folder))
        return folder if real.is_relative_to(os.path.realpath(self.avatars)) and is_avatar_folder(folder) else None

    def voice_dirs(self, extra: list[str | Path] | None = None) -> list[Path]:
        # Only the key's own voices and the shipped ones: not the server's home, not AVATARKIT_VOICES.
        return ([self.voices] if self.voices is not None else []) + [PROJECT_VOICES]

    def check_voice(self, ref: str) -> None:
        if ref.startswith("piper:") or ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref:
            raise ScopeRefusal(f"voice {short_repr(ref)}: the service takes a voice id from its catalogue "
                               "(GET /v1/voices lists them), a kokoro: blend or an espeak: voice name, not a path")
        if ref.startswith("espeak:") and not _ESPEAK_NAME.match(ref[len("espeak:"):]):
            raise ScopeRefusal(f"voice {short_repr(ref)}: not an eSpeak NG voice name")


def check_relative(raw: str) -> str:
    """`raw` if it is a plain relative name (folders with '/'), else `ScopeRefusal`; looks at the text only."""
    if not raw or _CONTROL.search(raw):
        raise ScopeRefusal("a file name must be non-empty, without control characters")
    if "\\" in raw:
        raise ScopeRefusal(f"{short_repr(raw)} contains a backslash; use '/' between folders")
    if raw.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", raw):
        raise ScopeRefusal(f"{short_repr(raw)} is not a name relative to the script; name an uploaded file")
    if any(p in ("", ".", "..") for p in raw.split("/")):
        raise ScopeRefusal(f"{short_repr(raw)} has an empty, '.' or '..' part; name an uploaded file")
    if len(raw.encode("utf-8", "surrogatepass")) > 255:
        raise ScopeRefusal("a file name is at most 255 bytes")
    return raw


def short_repr(value: object, limit: int = 80) -> str:
    """`repr(value)`, cut to `limit` characters: errors must not echo input of unbounded size."""
    r = repr(value)
    return r if len(r) <= limit else r[:limit - 1] + "…"


_CURRENT: contextvars.ContextVar[FileScope] = contextvars.ContextVar("avatarkit_file_scope", default=OPEN)


def current_scope() -> FileScope:
    """The scope set by the innermost `using` on this thread, else the open rule."""
    return _CURRENT.get()


@contextlib.contextmanager
def using(scope: FileScope) -> Iterator[FileScope]:
    """Resolve names under `scope` in this block (on this thread)."""
    token = _CURRENT.set(scope)
    try:
        yield scope
    finally:
        _CURRENT.reset(token)
