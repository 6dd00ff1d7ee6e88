"""Writing files safely and naming them by content: shared by every stage.

Outputs are written under a temporary sibling name and moved into place
when complete, so a reader (or a rerun) never sees a half-written file.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path` to write; move it into place on success.

    Readers never see a half-written file, and a failure leaves nothing behind.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a temporary file (see `atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes as hex, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def join_parts(pieces: list[Path], target: Path, sha256: str) -> str | None:
    """Concatenate `pieces` into `target` if together they hash to `sha256`; return the hash if not.

    Models too large for one registry package ship split in several (Whisper,
    Kokoro). The join goes to a temporary sibling and only a verified file is
    moved into place, so a damaged part never leaves a half-made model behind;
    a stamp beside it (`<target>.verified`) lets later loads skip the hash.
    Returns None on success, the hash that was found otherwise.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{id(pieces)}.partial")
    try:
        with open(tmp, "wb") as out:
            for p in pieces:
                with open(p, "rb") as f:
                    for block in iter(lambda: f.read(1 << 22), b""):
                        out.write(block)
        got = sha256_file(tmp)
        if got != sha256:
            return got
        os.replace(tmp, target)
        _stamp_file(target).write_text(_stamp(target, sha256) + "\n")
        return None
    finally:
        tmp.unlink(missing_ok=True)


def verified(target: Path, sha256: str) -> bool:
    """Whether `target` is the file `join_parts` made and checked (size and time still match its stamp)."""
    stamp = _stamp_file(target)
    return target.is_file() and stamp.is_file() and stamp.read_text().strip() == _stamp(target, sha256)


def _stamp_file(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp(target: Path, sha256: str) -> str:
    st = target.stat()
    return f"{sha256} {st.st_size} {st.st_mtime_ns}"


def avatarkit_home() -> Path:
    """avatarkit's own folder (caches, avatars, house voices, the service): `$AVATARKIT_HOME`, else `~/.avatarkit`."""
    return Path(os.environ.get("AVATARKIT_HOME") or Path.home() / ".avatarkit")


def package_dir(module: str) -> Path | None:
    """The folder of an installed Python package (data that ships in a wheel lives there); None if not installed."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])
