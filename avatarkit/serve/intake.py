"""A submission checked against the service's limits before any job exists.

Uploads are measured from their headers, never decoded: an image's pixels
(Pillow reads the size without the pixels), a recording's or a video's
seconds and frame size (the container's header), a PDF's or a deck's pages,
the pictures inside a deck. The script is then checked as a render would use
it, in every language asked for, under the job's scope (`check_course`), and
counted: characters, segments, scenes, languages. A limit passed raises
`LimitExceeded`, which the API answers 413 naming the limit and its value.
"""

from __future__ import annotations

import struct
import warnings
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import AvatarkitError
from .config import JobLimits
from .uploads import TYPES, UploadError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp")


class LimitExceeded(AvatarkitError):
    """An input over one of the service's limits; `limit` is its name in `JobLimits`."""

    def __init__(self, what: str, value: float | str, limit: str, allowed: float):
        self.limit = limit
        shown = f"{value:g}" if isinstance(value, (int, float)) else value
        super().__init__(f"{what} is {shown}, over the limit {limit} = {allowed:g}")


def _over(what: str, value: float | str, name: str, limits: JobLimits) -> None:
    allowed = getattr(limits, name)
    if isinstance(value, str) or value > allowed:
        raise LimitExceeded(what, value, f"limits.{name}", allowed)


def image_pixels(source, what: str) -> int | str:
    """Width x height of an image file or file object, from its header (the pixels are not decoded); a text
    like "over 178956970" when Pillow's own decompression-bomb guard refuses to open it at all."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)    # measured against our own limit
            with Image.open(source) as im:
                w, h = im.size
    except Image.DecompressionBombError:
        return f"over {2 * Image.MAX_IMAGE_PIXELS}"
    except (UnidentifiedImageError, OSError, ValueError):
        raise UploadError("not a readable image", what) from None
    return int(w) * int(h)


def _media(path: Path, what: str) -> tuple[float, int]:
    """Seconds and the largest frame's pixels (0 for sound only) of a recording or video, from its header."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            seconds = c.duration / 1_000_000 if c.duration else 0.0
            pixels = 0
            for s in c.streams:
                if s.duration is not None and s.time_base is not None:
                    seconds = max(seconds, float(s.duration * s.time_base))
                if s.type == "video":
                    pixels = max(pixels, int(s.codec_context.width or 0) * int(s.codec_context.height or 0))
            if not any(s.type in ("audio", "video") for s in c.streams):
                raise UploadError("has no sound or picture", what)
    except av.FFmpegError:
        raise UploadError("not a readable recording or video", what) from None
    return seconds, pixels


def _pdf(path: Path, what: str, limits: JobLimits) -> None:
    """A PDF's page count, and every picture placed on its pages (read from the picture's own header, never
    decoded): drawing a page decodes its pictures whole, so one 50 000-pixel-square picture is a bomb."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError:
        raise UploadError("not a readable PDF", what) from None
    try:
        _over(f"{what}: pages", len(doc), "pages", limits)
        for i in range(len(doc)):
            page = doc[i]
            try:
                for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
                    meta = obj.get_metadata()
                    _over(f"{what}: page {i + 1}: a picture's pixels", int(meta.width) * int(meta.height),
                          "image_pixels", limits)
            finally:
                page.close()
    except pdfium.PdfiumError:
        raise UploadError("not a readable PDF", what) from None
    finally:
        doc.close()


def _font(path: Path, what: str) -> None:
    """A font file the text layout can use: its tables parse and it maps characters to glyphs."""
    from fontTools.ttLib import TTFont, TTLibError

    try:
        with TTFont(str(path), lazy=True) as font:
            if not font.getBestCmap():
                raise UploadError("the font maps no characters", what)
    except (TTLibError, OSError, ValueError, KeyError, AssertionError, struct.error):
        raise UploadError("not a readable font", what) from None


def _deck(path: Path, what: str, limits: JobLimits) -> None:
    """A PowerPoint deck's slide count and every picture inside it, measured without unpacking it to disk."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        slides = sum(1 for n in names if n.startswith("ppt/slides/slide") and n.endswith(".xml"))
        _over(f"{what}: slides", slides, "pages", limits)
        for n in names:
            if n.startswith("ppt/media/") and PurePosixPath(n).suffix.lower() in IMAGE_EXTS + (".gif", ".bmp", ".tiff"):
                with z.open(n) as f:
                    _over(f"{what}:{n}: pixels", image_pixels(f, f"{what}:{n}"), "image_pixels", limits)


def check_uploads(folder: Path, limits: JobLimits) -> None:
    """Measure every uploaded file under `folder` against `limits`; `UploadError` or `LimitExceeded` naming it."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        ext = path.suffix.lower()
        kind = TYPES.get(ext, ("", None))[0]
        what = f"assets: {name}"
        if kind == "image":
            _over(f"{what}: pixels", image_pixels(path, what), "image_pixels", limits)
        elif kind in ("audio", "video"):
            seconds, pixels = _media(path, what)
            if kind == "audio":
                _over(f"{what}: seconds", round(seconds, 1), "audio_s", limits)
            else:
                _over(f"{what}: seconds", round(seconds, 1), "video_s", limits)
                _over(f"{what}: pixels per frame", pixels, "video_pixels", limits)
        elif kind == "font":
            _font(path, what)
        elif ext == ".pdf":
            _pdf(path, what, limits)
        elif ext == ".pptx":
            _deck(path, what, limits)


def check_size(scripts: dict, limits: JobLimits) -> None:
    """`LimitExceeded` when the script, in any of its languages (`scripts`: language -> `Script`), is too big."""
    _over("languages", len(scripts), "languages", limits)
    for lang, s in scripts.items():
        segments = [seg for sc in s.scenes for seg in sc.segments]
        chars = sum(len(seg.text) for seg in segments) + sum(
            len(sc.title) + sum(len(b) for b in sc.bullets) for sc in s.scenes)
        _over(f"script ({lang}): scenes", len(s.scenes), "scenes", limits)
        _over(f"script ({lang}): segments", len(segments), "segments", limits)
        _over(f"script ({lang}): characters of text", chars, "script_chars", limits)
