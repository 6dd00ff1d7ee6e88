"""Where voice files are looked for: the voice catalogue's folders, in priority order.

Folders passed explicitly come first, then those in `AVATARKIT_VOICES`
(separated by the OS path separator), `$AVATARKIT_HOME/voices` (where
`avatarkit voices save` writes house voices) and the project's `voices/`
folder. Kept apart from `speech.voice` so that `script.scope`, which the
voice loader consults, can name these folders without importing the loader.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..utils.files import avatarkit_home

PROJECT_VOICES = Path(__file__).resolve().parents[2] / "voices"


def voice_dirs(extra: list[str | Path] | None = None) -> list[Path]:
    """The folders searched for voice files, in priority order."""
    dirs: list[Path] = [Path(p) for p in (extra or [])]
    env = os.environ.get("AVATARKIT_VOICES")
    if env:
        dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs += [house_voices(), PROJECT_VOICES]
    return dirs


def house_voices() -> Path:
    """Where saved house voices live: `$AVATARKIT_HOME/voices` (default home `~/.avatarkit`)."""
    return avatarkit_home() / "voices"
