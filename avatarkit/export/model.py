"""What a package is made of: renditions, the course description the player reads, and input checks.

A package holds one video per language (a `Rendition`); the first is the
default. `course_data` is the single description of the course that the
player, the manifests and `course.json` share, so what an LMS is told and
what the learner sees cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import AvatarkitError
from ..media.writer import AI_NOTICE

FORMATS = ("scorm12", "scorm2004", "cmi5", "html")

# Primary language subtags written right to left (the scripts of these languages are RTL by default).
_RTL = {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ku", "pa-arab", "ps", "sd", "syr", "ug", "ur", "yi"}
_RTL_SCRIPTS = {"arab", "hebr", "syrc", "thaa", "nkoo", "adlm", "rohg"}

# Endonyms for the language menu; an unknown language is listed by its tag.
_NAMES = {
    "ar": "العربية", "bn": "বাংলা", "cs": "Čeština", "da": "Dansk", "de": "Deutsch", "el": "Ελληνικά",
    "en": "English", "es": "Español", "fa": "فارسی", "fi": "Suomi", "fr": "Français", "he": "עברית",
    "hi": "हिन्दी", "hu": "Magyar", "id": "Bahasa Indonesia", "it": "Italiano", "ja": "日本語", "ko": "한국어",
    "ms": "Bahasa Melayu", "nl": "Nederlands", "no": "Norsk", "pl": "Polski", "pt": "Português", "ro": "Română",
    "ru": "Русский", "sv": "Svenska", "sw": "Kiswahili", "th": "ไทย", "tr": "Türkçe", "uk": "Українська",
    "ur": "اردو", "vi": "Tiếng Việt", "zh": "中文",
}
_TAG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")


class ExportError(AvatarkitError):
    """A package that cannot be written from the renditions and settings given."""


@dataclass(frozen=True)
class Rendition:
    """One language's rendered video: an H.264/AAC MP4, its WebVTT captions, and its title.

    `language` is a BCP-47 tag ("en", "ar", "pt-BR"); `duration` is in
    seconds. `thumbnail` (JPEG) becomes the video's poster; `srt` is shipped
    beside the WebVTT for learners who want to download the captions.
    """

    language: str
    video: Path
    captions: Path
    title: str
    duration: float
    thumbnail: Path | None = None
    srt: Path | None = None


@dataclass(frozen=True)
class ExportProgress:
    """Sent after each file is packed: bytes packed of `total`, and the package path just written."""

    done: int
    total: int
    name: str


def text_direction(language: str) -> str:
    """"rtl" for languages written right to left (Arabic, Hebrew, Persian, Urdu, ...), else "ltr"."""
    parts = language.lower().split("-")
    if len(parts) > 1 and len(parts[1]) == 4:
        return "rtl" if parts[1] in _RTL_SCRIPTS else "ltr"
    return "rtl" if parts[0] in _RTL else "ltr"


def language_name(language: str) -> str:
    """The language's own name for the menu ("Deutsch", "العربية"), with the region when one is given."""
    parts = language.split("-")
    name = _NAMES.get(parts[0].lower(), language)
    region = [p for p in parts[1:] if len(p) == 2]
    return f"{name} ({region[0].upper()})" if region and name != language else name


def check_options(fmt: str, completion: float) -> None:
    """Raise `ExportError` for an unknown package format or a completion threshold outside 0-1."""
    if fmt not in FORMATS:
        raise ExportError(f"format: unknown package format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not isinstance(completion, (int, float)) or not 0.0 <= completion <= 1.0:
        raise ExportError(f"completion: {completion!r} is outside 0-1 (the share of the video to watch)")


def check_inputs(renditions: list[Rendition], fmt: str, course_id: str, completion: float) -> None:
    """Raise `ExportError` naming the first thing wrong: format, course id, threshold, or a rendition's field."""
    if fmt not in FORMATS:
        raise ExportError(f"format: unknown package format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not course_id or not course_id.strip():
        raise ExportError("course_id: must not be empty")
    check_options(fmt, completion)
    if not renditions:
        raise ExportError("renditions: no rendition to package (give at least one language's video)")
    seen: set[str] = set()
    for i, r in enumerate(renditions):
        where = f"renditions[{i}] ({r.language})"
        if not _TAG.match(r.language or ""):
            raise ExportError(f"{where}: language {r.language!r} is not a BCP-47 tag such as 'en' or 'pt-BR'")
        key = r.language.lower()
        if key in seen:
            raise ExportError(f"{where}: language {r.language!r} appears twice")
        seen.add(key)
        if not r.title.strip():
            raise ExportError(f"{where}: title is empty")
        if not r.duration > 0:
            raise ExportError(f"{where}: duration {r.duration!r} s must be positive")
        for field in ("video", "captions", "thumbnail", "srt"):
            p = getattr(r, field)
            if p is not None and not Path(p).is_file():
                raise ExportError(f"{where}: {field} file not found: {p}")
        if Path(r.video).suffix.lower() != ".mp4":
            raise ExportError(f"{where}: video {r.video} is not an MP4")
        data = Path(r.captions).read_bytes()
        if not data.lstrip(b"\xef\xbb\xbf").startswith(b"WEBVTT"):
            raise ExportError(f"{where}: captions {r.captions} is not a WebVTT file (no WEBVTT header)")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ExportError(f"{where}: captions {r.captions} is not UTF-8 (byte {e.start}), as WebVTT requires") from None


def content_credentials(video: str | Path) -> dict:
    """A video's Content Credentials (C2PA) checked now, as the player shows them.

    `verified` is true only for a manifest that matches the file's bytes and
    says the video is AI-generated; `signer` names who signed it and
    `trusted` whether that signer chains to a trust anchor.
    """
    from ..media.provenance import ProvenanceError, verify

    try:
        c = verify(video)
    except ProvenanceError:
        return {"verified": False}
    if not (c.ok and c.ai_generated):
        return {"verified": False}
    return {"verified": True, "signer": c.signer, "trusted": c.trusted, "generator": c.generator}


def media_paths(r: Rendition) -> dict[str, str]:
    """Where a rendition's files live inside the package (POSIX paths relative to its root)."""
    base = f"media/{r.language}"
    out = {"video": f"{base}/video.mp4", "captions": f"{base}/captions.vtt"}
    if r.thumbnail is not None:
        out["poster"] = f"{base}/poster{Path(r.thumbnail).suffix.lower() or '.jpg'}"
    if r.srt is not None:
        out["srt"] = f"{base}/captions.srt"
    return out


def course_data(renditions: list[Rendition], *, fmt: str, course_id: str, title: str,
                completion: float, description: str, credentials: dict[str, dict] | None = None) -> dict:
    """The course description shared by the player (`course.json`) and the manifests.

    Durations are in seconds; `completion` is the share (0-1) of the video
    that must have been watched, counted as the union of played intervals.
    `credentials` maps a language to what the check of its video's Content
    Credentials found (`content_credentials`); the player shows "verified" from it.
    """
    langs = []
    for r in renditions:
        paths = media_paths(r)
        langs.append({
            "language": r.language, "label": language_name(r.language), "dir": text_direction(r.language),
            "title": r.title, "duration": round(float(r.duration), 3),
            "video": paths["video"], "captions": paths["captions"],
            "poster": paths.get("poster"), "srt": paths.get("srt"),
            "credentials": (credentials or {}).get(r.language) or {"verified": False},
        })
    return {
        "version": 1, "id": course_id, "format": fmt, "title": title, "description": description,
        "defaultLanguage": renditions[0].language, "completion": float(completion),
        "notice": AI_NOTICE, "aiGenerated": True, "renditions": langs,
    }
