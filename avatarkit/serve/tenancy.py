"""Tenants on disk: the service's data folder, a job's folder, a key's library, and the scope a job reads under.

```
data_dir/                     0700, only the service's user can list it
  jobs/<job id>/              one folder per job
    input/                    the client's script and uploads: the only folder a client's name can reach
    renders/                  the service's render records, videos and work folders
    artifacts/                what the job publishes (downloads)
    .request.sha256           the request's fingerprint (idempotency)
  tenants/<key id>/           a key's library, filled by the operator (`avatarkit serve library add`)
    avatars/<name>/           avatars made with `avatarkit avatar add`, their consent record inside
    voices/<id>.yaml          the key's own voices
    cache/renders/<digest>/   finished renditions of the key's jobs, reused by its identical jobs only
```

A job's files resolve under `job_scope`: inside its `input/`, its key's
library, or the house assets that ship with avatarkit, and nowhere else. The
service's own records sit beside `input/`, never under it, so no upload
name can forge them. Files and folders the service makes are private to its
user (umask 077).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import AvatarkitError
from ..script.scope import Confined

_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PRIVATE_UMASK = 0o077


def private(path: Path) -> Path:
    """Create folder `path` (and parents) readable by the service's user alone; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def private_umask() -> None:
    """Make every file and folder this process creates from now on private to its user (0600 / 0700)."""
    os.umask(PRIVATE_UMASK)


def private_file(path: Path) -> Path:
    """Create `path` empty if it does not exist, then make it 0600 (the SQLite database, before it is opened)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def private_db(url: str) -> None:
    """Before a SQLite store is opened: its folder 0700 and its file 0600 (its journal files take the same mode)."""
    if url.startswith("sqlite:///"):
        db = Path(url[len("sqlite:///"):])
        private(db.parent)
        private_file(db)


@dataclass(frozen=True)
class JobFolder:
    """A job's folder and its parts; see the module docstring."""

    root: Path

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def renders(self) -> Path:
        return self.root / "renders"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @classmethod
    def create(cls, data_dir: Path) -> JobFolder:
        """A new, empty job folder under `data_dir/jobs` with its `input/` made."""
        folder = cls(private(data_dir / "jobs") / uuid.uuid4().hex)
        folder.root.mkdir(mode=0o700)
        folder.input.mkdir(mode=0o700)
        return folder

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def library(data_dir: Path, key_id: str) -> Path:
    """The folder of key `key_id`'s library (it may not exist yet)."""
    if not _KEY_ID.match(str(key_id)):
        raise AvatarkitError("a key id is 1-64 letters, digits, '_' or '-'")
    return Path(data_dir) / "tenants" / str(key_id)


def render_cache_dir(data_dir: Path, key_id: str) -> Path:
    """Key `key_id`'s own render cache (`tenants/<key id>/cache/renders`), made private; only its jobs use it.

    No script name can reach it: names resolve beside the script, inside the job's `input/`.
    """
    return private(private(library(data_dir, key_id) / "cache") / "renders")


def job_scope(folder: JobFolder | None, data_dir: Path | None, key_id: str) -> Confined:
    """The scope a job of key `key_id` reads its files under (no library when `data_dir` is None); with no
    `folder`, what the key may name outside any job (its library and the house assets)."""
    lib = library(data_dir, key_id) if data_dir is not None else None
    roots = ((folder.input,) if folder is not None else ()) + ((lib,) if lib is not None else ())
    return Confined(roots=roots, avatars=lib / "avatars" if lib is not None else None,
                    voices=lib / "voices" if lib is not None else None)


# An absolute path in a message; the service's own API routes ("GET /v1/voices lists them") are not paths.
_ABSOLUTE = re.compile(r"(?<![\w.])(?!/v1/(?:avatars|health|renders|sessions|voices)\b)(/[^\s'\"()\[\]{}:,;]+)+")


def public_message(message: str, folder: JobFolder | None = None, limit: int = 500) -> str:
    """`message` fit to show a client: the job's input folder shown as names relative to it, any other
    server path replaced by `<server path>`, and cut to `limit` characters."""
    if folder is not None:
        for base in {str(folder.input), os.path.realpath(folder.input)}:
            message = message.replace(base + os.sep, "")
    message = _ABSOLUTE.sub("<server path>", message)
    return message if len(message) <= limit else message[:limit - 1] + "…"


LIBRARY_KINDS = ("avatar", "voice")


def add_to_library(data_dir: Path, key_id: str, kind: str, source: str | Path) -> Path:
    """Give key `key_id` an avatar (the name or folder of one made with `avatarkit avatar add`, its consent
    record included) or a voice (a voice file whose engine needs no file: kokoro or espeak); return its path."""
    from ..face.avatar import AVATAR_FILE, open_avatar
    from ..speech.voice import load_voice_file
    from ..utils.files import write_text_atomic

    if kind not in LIBRARY_KINDS:
        raise AvatarkitError(f"library: unknown kind {kind!r}; expected one of {', '.join(LIBRARY_KINDS)}")
    lib = library(data_dir, key_id)
    if kind == "avatar":
        avatar = open_avatar(source)
        target = private(lib / "avatars") / avatar.name
        if target.exists():
            raise AvatarkitError(f"library: key {key_id} already has an avatar {avatar.name!r}")
        tmp = target.with_name(f".{avatar.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(avatar.folder, tmp, symlinks=False)
        if not (tmp / AVATAR_FILE).is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            raise AvatarkitError(f"library: {source} is not an avatar folder")
        tmp.rename(target)
        return target
    voice = load_voice_file(source)
    if voice.engine not in ("kokoro", "espeak"):
        raise AvatarkitError(f"library: voice {voice.id!r} uses {voice.engine}; a key's voices are kokoro or espeak "
                             "voices (a model file would be shared outside the key's folder)")
    target = private(lib / "voices") / f"{voice.id}.yaml"
    return write_text_atomic(target, Path(source).read_text(encoding="utf-8"))


def library_contents(data_dir: Path, key_id: str) -> dict[str, list[str]]:
    """The names in key `key_id`'s library, by kind."""
    lib = library(data_dir, key_id)
    avatars = sorted(p.name for p in (lib / "avatars").glob("*") if not p.name.startswith("."))
    voices = sorted(p.stem for p in (lib / "voices").glob("*.yaml"))
    return {"avatar": avatars, "voice": voices}
