"""Uploaded files made safe: names, types (extension and magic bytes), zip archives, script paths, webhooks.

Every check raises `UploadError`, which the API answers with 400 and a
message naming the field (`assets[2]`, `assets/deck.zip:slides/a.png`,
`webhook_url`). Files are written by streaming in 1 MiB blocks with a
byte cap, created exclusively (never over an existing file, never through
a symlink), and nothing is ever fetched from a URL.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import AvatarkitError
from .limits import BodyTooLarge

BLOCK = 1 << 20
SCRIPT_NAME = "script.yaml"    # the service writes the job's script under this name
RESERVED = {SCRIPT_NAME}
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_DEPTH = 8
MAX_ZIP_MEMBERS = 2000
MAX_ZIP_RATIO = 200            # uncompressed / compressed bytes of one member; text compresses ~10x, bombs ~1000x


class UploadError(AvatarkitError):
    """An uploaded name, file, archive or URL that the service refuses; `field` names where it came from."""

    def __init__(self, message: str, field: str):
        self.field = field
        super().__init__(f"{field}: {message}")


def _zip_ok(head: bytes, path: Path) -> bool:
    return head.startswith(b"PK\x03\x04")


def _pptx_ok(head: bytes, path: Path) -> bool:
    if not head.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return "ppt/presentation.xml" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _text_ok(head: bytes, path: Path) -> bool:
    """UTF-8 text without NUL, read in blocks (a text file may be as large as an upload or an archive member)."""
    if b"\x00" in head:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as f:
            while block := f.read(BLOCK):
                if b"\x00" in block:
                    return False
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _mp3_ok(head: bytes, path: Path) -> bool:
    return head.startswith(b"ID3") or len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0


def _ftyp(head: bytes, path: Path) -> bool:
    return head[4:8] == b"ftyp"


# Extension -> (kind, check of the first bytes). Both must agree, so a renamed file is caught.
TYPES: dict[str, tuple[str, object]] = {
    ".png": ("image", lambda h, p: h.startswith(b"\x89PNG\r\n\x1a\n")),
    ".jpg": ("image", lambda h, p: h.startswith(b"\xff\xd8\xff")),
    ".jpeg": ("image", lambda h, p: h.startswith(b"\xff\xd8\xff")),
    ".webp": ("image", lambda h, p: h[:4] == b"RIFF" and h[8:12] == b"WEBP"),
    ".wav": ("audio", lambda h, p: h[:4] == b"RIFF" and h[8:12] == b"WAVE"),
    ".mp3": ("audio", _mp3_ok),
    ".m4a": ("audio", _ftyp),
    ".flac": ("audio", lambda h, p: h.startswith(b"fLaC")),
    ".mp4": ("video", _ftyp),
    ".pdf": ("document", lambda h, p: h.startswith(b"%PDF-")),
    ".pptx": ("document", _pptx_ok),
    ".yaml": ("text", _text_ok),
    ".yml": ("text", _text_ok),
    ".json": ("text", _text_ok),
    ".ttf": ("font", lambda h, p: h[:4] in (b"\x00\x01\x00\x00", b"true")),
    ".otf": ("font", lambda h, p: h[:4] == b"OTTO"),
    ".zip": ("archive", _zip_ok),
}


def safe_name(name: str, field: str, *, typed: bool = True) -> str:
    """`name` as a plain relative POSIX path (nested folders allowed), or `UploadError` naming `field`.

    Refused: empty names, NUL and control characters, backslashes, absolute
    paths, drive letters, `.`/`..`/empty parts, more than `MAX_DEPTH` folders,
    hidden parts (`.x`, which the service keeps for itself), over 255 bytes;
    when `typed`, also the reserved `script.yaml` and extensions not in `TYPES`.
    """
    if not isinstance(name, str) or not name:
        raise UploadError("empty file name", field)
    if _CONTROL.search(name):
        raise UploadError("file name contains NUL or control characters", field)
    if "\\" in name:
        raise UploadError(f"file name {name!r} contains a backslash; use '/' between folders", field)
    if name.startswith("/") or _DRIVE.match(name):
        raise UploadError(f"file name {name!r} is absolute; give a path relative to the script", field)
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UploadError(f"file name {name!r} has an empty, '.' or '..' part", field)
    if any(p.startswith(".") for p in parts):
        raise UploadError(f"file name {name!r} has a hidden part (starting with '.'); such names are reserved", field)
    if len(parts) > MAX_DEPTH or len(name.encode("utf-8", "surrogatepass")) > 255:
        raise UploadError(f"file name {name!r} is too long or too deep", field)
    if not typed:
        return name
    if name in RESERVED:
        raise UploadError(f"file name {name!r} is reserved for the job's script", field)
    if PurePosixPath(name).suffix.lower() not in TYPES:
        raise UploadError(f"file type of {name!r} is not accepted; allowed: {', '.join(sorted(TYPES))}", field)
    return name


def _open_new(workdir: Path, name: str, field: str):
    """Create workdir/name exclusively (parents as needed), refusing symlinks anywhere on the way."""
    target = workdir / name
    parent = workdir
    for part in PurePosixPath(name).parts[:-1]:
        parent = parent / part
        if parent.is_symlink() or parent.exists() and not parent.is_dir():
            raise UploadError(f"{name!r} collides with another file", field)
        parent.mkdir(exist_ok=True, mode=0o700)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise UploadError(f"{name!r} is given twice", field) from None
    return os.fdopen(fd, "wb")


def check_type(path: Path, name: str, field: str) -> str:
    """The kind of the saved file (image, audio, ...); `UploadError` when its bytes do not match its extension."""
    ext = PurePosixPath(name).suffix.lower()
    kind, ok = TYPES[ext]
    with open(path, "rb") as f:
        head = f.read(64)
    if not ok(head, path):
        path.unlink(missing_ok=True)
        raise UploadError(f"{name!r} is not a {ext[1:].upper()} file (its content does not match its extension)", field)
    return kind


def save_stream(workdir: Path, name: str, chunks, max_bytes: int, field: str) -> Path:
    """Write the byte `chunks` (an iterable) to workdir/name, at most `max_bytes`; check its type; return the path."""
    name = safe_name(name, field)
    path = workdir / name
    n = 0
    try:
        with _open_new(workdir, name, field) as f:
            for chunk in chunks:
                n += len(chunk)
                if n > max_bytes:
                    raise BodyTooLarge(f"{field}: {name!r} is over the per-file limit of {max_bytes / (1024 * 1024):g} MB")
                f.write(chunk)
    except BodyTooLarge:
        path.unlink(missing_ok=True)
        raise
    check_type(path, name, field)
    return path


def save_bytes(workdir: Path, name: str, data: bytes, max_bytes: int, field: str) -> Path:
    """`save_stream` for bytes already in memory (JSON bodies with base64 assets)."""
    return save_stream(workdir, name, (data[i:i + BLOCK] for i in range(0, len(data), BLOCK)), max_bytes, field)


def extract_zip(workdir: Path, archive: Path, field: str, max_total: int) -> tuple[list[str], int]:
    """Unpack a zip asset into `workdir` with every member checked; delete the archive; return the member
    names and the bytes they hold.

    Refused (the whole archive): members with unsafe names or disallowed
    types, symlinks, nested archives, more than `MAX_ZIP_MEMBERS` members,
    a member or the whole archive over `MAX_ZIP_RATIO` times its compressed size,
    or more than `max_total` bytes in all (counted while extracting, so lying
    headers do not help). A request with several archives passes what is
    left of its one budget (`ServeConfig.max_unzipped_mb`) as `max_total`.
    """
    out: list[str] = []
    try:
        z = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise UploadError(f"{archive.name!r} is not a readable zip archive", field) from None
    with z:
        infos = z.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise UploadError(f"archive has {len(infos)} members (limit {MAX_ZIP_MEMBERS})", field)
        declared = 0
        for info in infos:
            mf = f"{field}:{info.filename}"
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UploadError("symbolic links are not allowed in archives", mf)
            if info.flag_bits & 0x1:
                raise UploadError("encrypted archive members are not accepted", mf)
            declared += info.file_size
            if info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1) and info.file_size > BLOCK:
                raise UploadError(f"member expands {info.file_size // max(info.compress_size, 1)}x (a zip bomb?)", mf)
        if declared > max_total:
            raise UploadError(f"archive expands to {declared} bytes (limit {max_total}, what is left of the request's)",
                              field)
        # Many small members each under the per-member check can still be a bomb together.
        packed = archive.stat().st_size
        if declared > BLOCK and declared > MAX_ZIP_RATIO * max(packed, 1):
            raise UploadError(f"archive expands {declared // max(packed, 1)}x (a zip bomb?)", field)
        total = 0
        for info in infos:
            mf = f"{field}:{info.filename}"
            if info.is_dir():
                safe_dir = info.filename.rstrip("/")
                if safe_dir:
                    safe_name(safe_dir + "/x.png", mf)     # the same rules for folder parts
                continue
            name = safe_name(info.filename, mf)
            if PurePosixPath(name).suffix.lower() == ".zip":
                raise UploadError("archives inside archives are not accepted", mf)
            with z.open(info) as src:
                def blocks(src=src):
                    nonlocal total
                    while block := src.read(BLOCK):
                        total += len(block)
                        if total > max_total:
                            raise UploadError(f"archive expands past the limit of {max_total} bytes", field)
                        yield block
                try:
                    save_stream(workdir, name, blocks(), max_total, mf)
                except zipfile.BadZipFile as e:
                    raise UploadError(f"corrupt member: {e}", mf) from None
            out.append(name)
    archive.unlink(missing_ok=True)
    return out, total


def check_webhook(url: str | None, allowed_hosts: list[str], networks: list[str] = ()) -> str | None:
    """`url` when it is an http(s) URL to an allowed host (exact name), else `UploadError` on `webhook_url`.

    The address the host resolves to is checked again when the webhook is
    sent (`webhooks.deliver`); here only the URL's form and host name are.
    """
    if url is None or url == "":
        return None
    from .webhooks import WebhookError, check_url

    try:
        return check_url(url, allowed_hosts, networks)
    except WebhookError as e:
        raise UploadError(str(e).removeprefix("webhook_url: "), "webhook_url") from None
