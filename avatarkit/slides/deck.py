"""Reading decks: PowerPoint (python-pptx), PDF (pypdfium2) and Markdown slides.

`read_deck` looks at the file's extension. A PPTX gives titles, body
paragraphs with their indent levels, speaker notes and embedded pictures;
a PDF gives only its pages, so its notes come from a side file: blocks of
text separated by a line `---`, block k for page k (`deck.notes.txt` or
`deck.notes.md` beside the deck unless a file is named). Markdown slides are
read by `markdown.py`.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import zipfile
from pathlib import Path

from .markdown import read_markdown
from .model import Deck, Slide, SlideError

DECK_KINDS = {".pptx": "pptx", ".pdf": "pdf", ".md": "md", ".markdown": "md"}
# PowerPoint's own placeholder title for a deck nobody named.
_DEFAULT_TITLES = {"powerpoint presentation", "presentation", "untitled"}
# pdfium is not thread-safe; every call into it goes through this lock.
PDFIUM_LOCK = threading.RLock()


def read_deck(path: str | Path, *, notes: str | Path | None = None, assets: str | Path | None = None) -> Deck:
    """Read a deck's shown slides from a `.pptx`, `.pdf` or `.md` file.

    `notes` names a notes file (blocks separated by a line `---`, block k
    for slide k) whose blocks replace the slides' own notes; for a PDF
    without one, `<deck>.notes.txt` or `<deck>.notes.md` beside it is used
    if present.
    PPTX pictures are saved into the folder `assets` (created) as
    `slide<page>-<k>.png|jpg`; without `assets` they are not extracted.
    Raises `SlideError` naming the file (and line) for anything unreadable.
    """
    path = Path(path)
    kind = DECK_KINDS.get(path.suffix.lower())
    if kind is None:
        raise SlideError(f"unknown slide deck type {path.suffix or '(none)'!r}; expected .pptx, .pdf or .md", file=path)
    if not path.is_file():
        raise SlideError("slide deck not found", file=path)
    if kind == "pptx":
        deck = _read_pptx(path, Path(assets) if assets is not None else None)
    elif kind == "pdf":
        deck = _read_pdf(path)
    else:
        deck = read_markdown(path)
    if notes is None and kind == "pdf":
        notes = next((p for p in (path.with_suffix(".notes.txt"), path.with_suffix(".notes.md")) if p.is_file()), None)
    if notes is not None:
        blocks = read_notes_file(notes, len(deck.slides))
        for slide, text in zip(deck.slides, blocks):
            slide.notes = text
    return deck


def read_notes_file(path: str | Path, pages: int) -> list[str]:
    """Notes blocks of a side file, one per page (at most `pages`); a block is the text between lines `---`.

    Blank blocks at the end are ignored; a non-blank block beyond the last
    page is a `SlideError` naming the file and the block's first line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SlideError("notes file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SlideError(f"cannot read notes file: {e}", file=path) from None
    blocks: list[tuple[int, list[str]]] = [(1, [])]
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() == "---":
            blocks.append((number + 1, []))
        else:
            blocks[-1][1].append(line)
    while blocks and not "".join(blocks[-1][1]).strip():
        blocks.pop()
    if len(blocks) > pages:
        first, lines = blocks[pages]
        first += next(i for i, ln in enumerate(lines) if ln.strip())
        raise SlideError(f"{len(blocks)} notes blocks for a deck of {pages} slide(s); "
                         f"block {pages + 1} has no slide", file=path, line=first)
    return ["\n".join(lines).strip() for _, lines in blocks]


# --- PowerPoint -------------------------------------------------------------------------------------------

def _read_pptx(path: Path, assets: Path | None) -> Deck:
    from pptx import Presentation
    from pptx.exc import PythonPptxError

    try:
        prs = Presentation(str(path))
    except (PythonPptxError, zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise SlideError(f"not a readable PowerPoint file ({type(e).__name__}: {e})", file=path) from None
    except Exception as e:  # noqa: BLE001 - lxml and zip errors of damaged files have no common base
        raise SlideError(f"damaged PowerPoint file ({type(e).__name__})", file=path) from None
    slides: list[Slide] = []
    for number, s in enumerate(prs.slides, 1):
        if s._element.get("show") in ("0", "false"):  # python-pptx has no public 'hidden' property
            continue
        page = len(slides) + 1
        slide = Slide(page=page, number=number, layout_name=s.slide_layout.name or None)
        slide.title_slide = _is_title_layout(s.slide_layout)
        title_shape = s.shapes.title
        if title_shape is not None and title_shape.has_text_frame:
            slide.title = _clean(title_shape.text_frame.text)
        pictures: list[tuple[int, bytes, str]] = []
        _walk(s.shapes, title_shape, slide, pictures)
        if s.has_notes_slide and s.notes_slide.notes_text_frame is not None:
            slide.notes = s.notes_slide.notes_text_frame.text.replace("\x0b", "\n").strip()
        if assets is not None:
            slide.pictures = _save_pictures(pictures, assets, page, path)
        slides.append(slide)
    if not slides:
        raise SlideError("the deck has no shown slides (none, or all hidden)", file=path)
    title = _clean(prs.core_properties.title or "")
    if title.lower() in _DEFAULT_TITLES:
        title = ""
    title = title or next((s.title for s in slides[:1] if s.title), "") or path.stem
    return Deck(path=path, kind="pptx", title=title, slides=slides)


def _is_title_layout(layout) -> bool:
    """A title slide layout: it has a centred title placeholder, or is named like one (any language's name)."""
    from pptx.enum.shapes import PP_PLACEHOLDER

    name = (layout.name or "").strip().lower()
    if name in ("title", "title slide") or name.startswith("title slide"):
        return True
    try:
        return any(ph.placeholder_format.type == PP_PLACEHOLDER.CENTER_TITLE for ph in layout.placeholders)
    except (AttributeError, ValueError):
        return False


def _walk(shapes, title_shape, slide: Slide, pictures: list) -> None:
    """Collect body paragraphs and pictures of `shapes` (and groups in them) in reading order: top to bottom, left to right."""
    from pptx.enum.shapes import PP_PLACEHOLDER
    from pptx.shapes.group import GroupShape
    from pptx.shapes.picture import Picture

    skip = {PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.SLIDE_NUMBER, PP_PLACEHOLDER.HEADER}
    for shape in sorted(shapes, key=lambda sh: (sh.top or 0, sh.left or 0)):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        if shape.is_placeholder and shape.placeholder_format.type in skip:
            continue
        if isinstance(shape, GroupShape):
            _walk(shape.shapes, None, slide, pictures)
            continue
        if isinstance(shape, Picture):
            try:
                image = shape.image
            except (ValueError, KeyError, AttributeError):  # a linked (not embedded) or empty picture
                continue
            pictures.append(((shape.width or 0) * (shape.height or 0), image.blob, image.ext.lower()))
            continue
        if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            for p in shape.text_frame.paragraphs:
                text = _clean(p.text)
                if text:
                    slide.bullets.append(text)
                    slide.levels.append(int(p.level or 0))


def _save_pictures(pictures: list[tuple[int, bytes, str]], assets: Path, page: int, deck: Path) -> list[Path]:
    """Write a slide's pictures, largest first, as PNG/JPEG files; pictures Pillow cannot read (EMF, WMF) are left out."""
    from PIL import Image, UnidentifiedImageError

    out: list[Path] = []
    seen: set[str] = set()
    # A stable sort keeps reading order among pictures of the same size.
    for _, blob, ext in sorted(pictures, key=lambda p: -p[0]):
        digest = hashlib.sha1(blob).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        name = f"slide{page}-{len(out) + 1}"
        try:
            assets.mkdir(parents=True, exist_ok=True)
            if ext in ("png", "jpg", "jpeg"):
                target = assets / f"{name}.{'png' if ext == 'png' else 'jpg'}"
                target.write_bytes(blob)
            else:
                try:
                    with Image.open(io.BytesIO(blob)) as im:
                        im.load()
                        target = assets / f"{name}.png"
                        im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB").save(target)
                except (UnidentifiedImageError, OSError, ValueError):
                    continue
        except OSError as e:
            raise SlideError(f"cannot write pictures to {assets}: {e}", file=deck) from None
        out.append(target)
    return out


def _clean(text: str) -> str:
    """One line of slide text: PowerPoint's soft line breaks (vertical tab) and runs of spaces become single spaces."""
    return re.sub(r"\s+", " ", text.replace("\x0b", " ")).strip()


# --- PDF --------------------------------------------------------------------------------------------------

def open_pdf(path: Path):
    """A `pypdfium2.PdfDocument`, or `SlideError` for a damaged or password-protected file (call under `PDFIUM_LOCK`)."""
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except (pdfium.PdfiumError, OSError) as e:
        raise SlideError(f"cannot open PDF (damaged or password-protected?): {e}", file=path) from None


def _read_pdf(path: Path) -> Deck:
    with PDFIUM_LOCK:
        pdf = open_pdf(path)
        try:
            pages = len(pdf)
            try:
                title = _clean(pdf.get_metadata_dict().get("Title", "") or "")
            except Exception:  # noqa: BLE001 - metadata is optional; a broken info dict must not stop the deck
                title = ""
        finally:
            pdf.close()
    if pages == 0:
        raise SlideError("PDF has no pages", file=path)
    if title.lower() in _DEFAULT_TITLES:
        title = ""
    return Deck(path=path, kind="pdf", title=title or path.stem, slides=[Slide(page=k) for k in range(1, pages + 1)])
