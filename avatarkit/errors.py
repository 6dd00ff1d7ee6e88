"""Errors a user can act on.

Every error avatarkit raises on purpose derives from `AvatarkitError` and says
what was wrong and where (file, line, field), so the CLI can print it as one
line and exit non-zero, and the HTTP API can answer 4xx, without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class AvatarkitError(Exception):
    """Base class for errors caused by input the user can fix."""


class ScriptError(AvatarkitError):
    """A script file that does not follow the script format."""

    def __init__(self, message: str, *, file: str | Path | None = None,
                 line: int | None = None, field: str | None = None):
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<script>"
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.message}"


class VoiceError(AvatarkitError):
    """A voice that cannot be found, loaded or asked to say something."""


class FaceError(AvatarkitError):
    """An avatar photo that has no usable face (none, several, unreadable)."""


class RenderError(AvatarkitError):
    """A render that cannot proceed with the settings given."""
