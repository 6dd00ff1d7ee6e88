"""Slide pages as pictures: images, PDF pages, PowerPoint pages (through LibreOffice), a video's first frame.

`render_page` returns an RGB uint8 array fitted inside the box it is given,
keeping the page's aspect (no padding: the caller centres it). PDF pages
are rasterised by pdfium straight at the output size, so text stays sharp
at 4K. PowerPoint files are converted to PDF once by LibreOffice and kept
under `$AVATARKIT_HOME/cache/slides/<sha256 of the file>.pdf`. A few
rendered pages are kept in memory, since the compositor asks once per
scene but scenes often show the same page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..utils.files import avatarkit_home, sha256_file
from .deck import PDFIUM_LOCK, open_pdf
from .model import SlideError, fit_size
from .video import VideoSlide

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
VIDEO_EXTS = {".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi"}
OFFICE_EXTS = {".pptx", ".ppt", ".odp"}
CONVERT_TIMEOUT_S = 300
# Where LibreOffice usually lives when it is not on PATH.
_SOFFICE_PLACES = ("/Applications/LibreOffice.app/Contents/MacOS/soffice",
                   r"C:\Program Files\LibreOffice\program\soffice.exe",
                   r"C:\Program Files (x86)\LibreOffice\program\soffice.exe")
_CONVERT_LOCK = threading.Lock()
_converted: dict[tuple[str, int, int, str], Path] = {}


def libreoffice() -> str | None:
    """Path of LibreOffice's `soffice` (or `libreoffice`) program, or None when it is not installed."""
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in _SOFFICE_PLACES if os.path.isfile(p)), None)


def slides_cache() -> Path:
    """The folder of PDFs converted from PowerPoint files: `$AVATARKIT_HOME/cache/slides` (default home `~/.avatarkit`)."""
    return avatarkit_home() / "cache" / "slides"


def render_page(path: str | Path, page: int, width: int, height: int) -> np.ndarray:
    """Page `page` (1-based) of a slide file as RGB uint8 (H, W, 3), fitted inside `width`x`height` pixels.

    Images (PNG, JPEG, WebP, ...; EXIF rotation applied, transparency over
    white) and videos (first frame) have one page; PDFs any; PowerPoint
    files need LibreOffice. The array is shared with an in-memory cache and
    read-only: copy it to draw on it. Raises `SlideError` naming the file.
    """
    if width < 1 or height < 1:
        raise ValueError(f"box {width}x{height} must be at least 1x1 pixels")
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        raise SlideError("slide file not found", file=path) from None
    return _cached(str(path.resolve()), st.st_mtime_ns, st.st_size, int(page), int(width), int(height))


@lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int, size: int, page: int, width: int, height: int) -> np.ndarray:
    # mtime and size are in the key only so that an edited file is rendered afresh.
    rgb = _render(Path(path), page, width, height)
    rgb.flags.writeable = False
    return rgb


def _render(path: Path, page: int, width: int, height: int) -> np.ndarray:
    ext = path.suffix.lower()
    if ext == ".pdf":
        return render_pdf_page(path, page, width, height)
    if ext in OFFICE_EXTS:
        pdf = office_pdf(path)
        return render_pdf_page(pdf, page, width, height, name=path)
    if page != 1:
        raise SlideError(f"page {page} out of range: an image or video slide has one page", file=path)
    if ext in IMAGE_EXTS:
        return _render_image(path, width, height)
    if ext in VIDEO_EXTS:
        with VideoSlide(path, 25, width, height) as video:
            return video.frame(0).copy()
    raise SlideError(f"unknown slide file type {ext or '(none)'!r}; expected an image, a video, a PDF or a PowerPoint file",
                     file=path)


def _render_image(path: Path, width: int, height: int) -> np.ndarray:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            if im.format == "JPEG":
                # Decode a big photo at a reduced DCT scale that still covers the box: 2-4x faster for a 12 MP JPEG.
                turned = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
                im.draft("RGB", fit_size(im.width, im.height, *((height, width) if turned else (width, height))))
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                rgba = im.convert("RGBA")
                im = Image.new("RGB", rgba.size, (255, 255, 255))
                im.paste(rgba, mask=rgba.getchannel("A"))
            else:
                im = im.convert("RGB")
            size = fit_size(im.width, im.height, width, height)
            if size != im.size:
                # reducing_gap: a cheap box pre-shrink before Lanczos; big photos shrink much faster, no visible cost.
                im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            return np.asarray(im, np.uint8).copy()
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise SlideError(f"cannot read image: {e}", file=path) from None


def render_pdf_page(pdf_path: Path, page: int, width: int, height: int, *, name: Path | None = None) -> np.ndarray:
    """Rasterise one PDF page with pdfium at the scale that fits it inside `width`x`height` pixels (not cached)."""
    name = name or pdf_path
    with PDFIUM_LOCK:
        pdf = open_pdf(pdf_path)
        try:
            count = len(pdf)
            if not 1 <= page <= count:
                raise SlideError(f"page {page} out of range: the deck has {count} page(s)", file=name)
            pg = pdf[page - 1]
            try:
                pw, ph = pg.get_size()  # as displayed: pdfium applies the page's /Rotate
                tw, th = fit_size(pw, ph, width, height)
                bitmap = pg.render(scale=min(tw / pw, th / ph), rev_byteorder=True, fill_color=(255, 255, 255, 255),
                                   may_draw_forms=False)
                rgb = np.array(bitmap.to_numpy()[..., :3], np.uint8)  # a copy: the bitmap's memory is pdfium's
                bitmap.close()
            finally:
                pg.close()
        finally:
            pdf.close()
    # pypdfium2 rounds the bitmap size up, which can add one row or column.
    rgb = rgb[:th, :tw]
    if rgb.shape[:2] != (th, tw):
        rgb = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def office_pdf(path: str | Path, *, timeout_s: float = CONVERT_TIMEOUT_S) -> Path:
    """The PDF of a PowerPoint (or ODP) file made by LibreOffice, converted once per file content and cached.

    The cache file is `$AVATARKIT_HOME/cache/slides/<sha256>.pdf`; a deck
    found there needs no LibreOffice. Raises `SlideError` when LibreOffice
    is needed but missing, or fails.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        raise SlideError("slide deck not found", file=path) from None
    cache = slides_cache()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, str(cache))
    known = _converted.get(key)
    if known is not None and known.is_file():
        return known
    target = cache / f"{sha256_file(path)}.pdf"
    with _CONVERT_LOCK:
        if not target.is_file():
            soffice = libreoffice()
            if soffice is None:
                raise SlideError("showing PowerPoint pages as they are needs LibreOffice (soffice), which is not installed: "
                                 "install LibreOffice, or make a script with `avatarkit from-slides`, which re-lays out "
                                 "each slide's title, bullets and picture", file=path)
            _convert(soffice, path, target, timeout_s)
    _converted[key] = target
    return target


def _convert(soffice: str, path: Path, target: Path, timeout_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="avatarkit-soffice-") as tmp:
        work = Path(tmp)
        src = work / f"deck{path.suffix.lower()}"
        shutil.copyfile(path, src)
        # A private profile: with the user's own LibreOffice open, a headless
        # conversion sharing its profile silently does nothing.
        cmd = [soffice, f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless", "--invisible",
               "--nologo", "--norestore", "--nolockcheck", "--convert-to", "pdf", "--outdir", str(work / "out"), str(src)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise SlideError(f"LibreOffice took more than {timeout_s:.0f} s to convert the deck to PDF", file=path) from None
        except OSError as e:
            raise SlideError(f"cannot run LibreOffice ({soffice}): {e}", file=path) from None
        out = work / "out" / "deck.pdf"
        if not out.is_file():
            said = " ".join((done.stderr or done.stdout or "").split())[-300:]
            raise SlideError(f"LibreOffice could not convert the deck to PDF (exit {done.returncode}){': ' + said if said else ''}",
                             file=path)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.stem}.{os.getpid()}.partial")
        shutil.copyfile(out, part)
        os.replace(part, target)


