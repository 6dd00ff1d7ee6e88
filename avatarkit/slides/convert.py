"""A slide deck to an avatarkit script: one scene per slide, its speaker notes as narration.

Each slide is shown one of two ways. As a rendered page (`render="page"`):
the scene's `slide:` is a page of the deck's PDF, so the slide looks
exactly as designed; PowerPoint decks need LibreOffice for that and get a
`<script>.slides.pdf` beside the script. Re-laid out (`render="layout"`):
the scene carries the slide's `title`, `bullets` and main picture (saved
into `<script>.assets/`), and avatarkit draws them; Markdown slides are
always shown this way. The first slide, when it is a title slide, becomes
the presenter's introduction: full frame, title only.

Speaker notes become segment text after they are made safe for the inline
markup (brackets turn into parentheses, unpaired `*` go) and checked with
`parse_text`. A slide without notes stays on screen for a 3 s pause.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import yaml

from ..errors import ScriptError
from ..script import parse_text
from ..speech.voice import get_voice
from ..utils.files import atomic_path
from .deck import DECK_KINDS, PDFIUM_LOCK, open_pdf, read_deck
from .model import Deck, Slide, SlideError
from .pages import libreoffice, office_pdf

RENDERS = ("auto", "page", "layout")
LAYOUTS = ("full", "beside", "pip", "circle")
SILENT_SLIDE = "3s"
HEADER = "# Made by avatarkit from-slides from {name}. AI-generated narration: review before publishing.\n"
_TAG = re.compile(r"\[([^\[\]\n]*)\]")
_LIST_ITEM = re.compile(r"^(?:[-*+•–]|\d{1,3}[.)])\s+(.*)$")


def from_slides(deck_path: str | Path, out_yaml: str | Path, *, voice: str, avatar: str = "presenter",
                notes: str | Path | None = None, layout: str = "beside", render: str = "auto") -> Path:
    """Write an avatarkit script (YAML) presenting `deck_path` and return its path.

    `voice` is a voice reference (its language becomes the script's),
    `avatar` a photo (a path from the current folder, written relative to
    the script's folder), the name of a footage avatar or `presenter` (the
    photo avatarkit ships; the default), `notes` an optional notes file (see `read_deck`),
    `layout` the presenter's place beside the slides (`full`, `beside`,
    `pip`, `circle`), and `render` `page`, `layout` or `auto` (pages when
    the deck can be rendered: a PDF, or a PPTX with LibreOffice installed).
    The script is written atomically. Raises `SlideError` or `VoiceError`.
    """
    deck_path, out_yaml = Path(deck_path), Path(out_yaml)
    if layout not in LAYOUTS:
        raise SlideError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if render not in RENDERS:
        raise SlideError(f"slides {render!r} is not one of {', '.join(RENDERS)}")
    language = get_voice(voice).language.split("-")[0].lower() or "en"
    kind = DECK_KINDS.get(deck_path.suffix.lower())
    mode = _mode(kind, render, deck_path)
    folder = out_yaml.parent
    assets = None
    if mode == "layout" and kind == "pptx":
        assets = folder / f"{out_yaml.stem}.assets"
        _clear_old_pictures(assets)
    deck = read_deck(deck_path, notes=notes, assets=assets)
    pages = _page_source(deck, out_yaml) if mode == "page" else None
    scenes = []
    for k, slide in enumerate(deck.slides):
        scene: dict = {"id": f"slide{slide.page}"}
        if k == 0 and _is_intro(deck, slide):
            scene["layout"] = "full"
            scene["title"] = slide.title or deck.title
        elif pages is not None:
            ref, page_of = pages
            scene["slide"] = {"file": ref, "page": page_of(slide)}
        else:
            if slide.title:
                scene["title"] = slide.title
            if slide.bullets:
                scene["bullets"] = list(slide.bullets)
            if slide.pictures:
                scene["slide"] = _rel(slide.pictures[0], folder)
        scene["segments"] = _segments(slide, deck)
        scenes.append(scene)
    doc = {
        "avatarkit": 1,
        "title": deck.title,
        "language": language,
        # No background: the brand kit's applies at render time, else the studio.
        "defaults": {"avatar": _avatar_ref(avatar, out_yaml.parent), "voice": voice, "layout": layout},
        "scenes": scenes,
    }
    text = HEADER.format(name=" ".join(deck_path.name.split())) + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)
    _write_atomic(out_yaml, text.encode("utf-8"))
    return out_yaml


def narration(notes: str, *, lines_are_paragraphs: bool = False) -> list[str]:
    """Speaker notes as segment texts, one per paragraph, safe for avatarkit's inline markup.

    Paragraphs are split at blank lines (and at every line break when
    `lines_are_paragraphs`, as PowerPoint stores one paragraph per line).
    Markdown links keep their words, avatarkit tags (`[pause 1s]`, `[nod]`)
    stay, other `[...]` become `(...)`, list markers go and a list item ends
    its sentence, `**bold**` becomes `*emphasis*`, and `*` that would not
    parse as emphasis are dropped.
    """
    text = notes.replace("\r\n", "\n").replace("\r", "\n").replace("\x0b", "\n")
    text = re.sub(r"[\x00-\x08\x0c\x0e-\x1f\x7f]", "", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)\s]*\)", r"\1", text)
    text = _TAG.sub(_keep_valid_tag, text)
    text = text.replace("[", "(").replace("]", ")")
    text = text.replace("\0", "[").replace("\1", "]")
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    paragraphs = text.split("\n") if lines_are_paragraphs else re.split(r"\n[ \t]*\n", text)
    out: list[str] = []
    for para in paragraphs:
        words: list[str] = []
        for line in para.split("\n"):
            line = line.strip()
            m = _LIST_ITEM.match(line)
            if m:
                line = m.group(1).strip()
                # A bulleted line is a thought of its own: let the voice end it.
                if line and line[-1] not in ".!?…:;,":
                    line += "."
            if line:
                words.append(line)
        para = re.sub(r"\s+", " ", " ".join(words)).strip()
        if not para:
            continue
        if not _parses(para):
            para = re.sub(r"\s+", " ", re.sub(r"(?<!\S)\*+(?!\S)", "", para)).strip()  # a lone '*' (5 * 3) goes first
        if not _parses(para):
            para = re.sub(r"(?<=\w)\*(?=\w)", " ", para).replace("*", "")
            para = re.sub(r"\s+", " ", para).strip()
        if para:
            out.append(para)
    return out


def _keep_valid_tag(m: re.Match) -> str:
    """An avatarkit tag written in the notes on purpose ([pause 1s], [nod]) survives, marked to escape bracket replacement."""
    return f"\0{m.group(1)}\1" if _parses(f"x {m.group(0)}") else m.group(0)


def _parses(text: str) -> bool:
    try:
        parse_text(text)
    except ScriptError:
        return False
    return True


def _mode(kind: str | None, render: str, deck: Path) -> str:
    if kind == "md":
        if render == "page":
            raise SlideError("Markdown slides have no pages to show; use render 'layout' (or 'auto')", file=deck)
        return "layout"
    if kind == "pdf":
        if render == "layout":
            raise SlideError("a PDF has no titles or bullets to re-lay out; use render 'page' (or 'auto')", file=deck)
        return "page"
    if kind == "pptx" and render == "auto":
        return "page" if libreoffice() else "layout"
    # Unknown kinds fall through to read_deck, which names the problem.
    return render if render != "auto" else "layout"


def _page_source(deck: Deck, out_yaml: Path):
    """(PDF reference relative to the script, slide -> page number) for page mode."""
    folder = out_yaml.parent
    if deck.kind == "pdf":
        return _rel(deck.path, folder), lambda s: s.page
    pdf = folder / f"{out_yaml.stem}.slides.pdf"
    _copy_atomic(office_pdf(deck.path), pdf)
    with PDFIUM_LOCK:
        doc = open_pdf(pdf)
        try:
            count = len(doc)
        finally:
            doc.close()
    shown = len(deck.slides)
    if count == shown:
        page_of = lambda s: s.page
    elif deck.slides and count >= max(s.number for s in deck.slides):
        # This LibreOffice exported hidden slides too: pages follow the file's numbering.
        page_of = lambda s: s.number
    else:
        raise SlideError(f"LibreOffice made {count} page(s) from a deck of {shown} shown slide(s)", file=deck.path)
    return _rel(pdf, folder), page_of


def _is_intro(deck: Deck, slide: Slide) -> bool:
    if deck.kind == "pdf":
        return False
    return slide.title_slide or bool(slide.title and not slide.bullets and not slide.pictures)


def _segments(slide: Slide, deck: Deck) -> list[dict]:
    texts = narration(slide.notes, lines_are_paragraphs=deck.kind == "pptx")
    for text in texts:
        try:
            parse_text(text)
        except ScriptError as e:
            raise SlideError(f"slide {slide.page}: notes do not make valid narration: {e.message}", file=deck.path) from None
    return [{"text": t} for t in texts] or [{"pause": SILENT_SLIDE}]


def _avatar_ref(avatar: str, folder: Path) -> str:
    """A photo that exists from here, as a path from the script's folder; anything else (a name) as given."""
    p = Path(avatar).expanduser()
    if p.is_file():
        return _rel(p.resolve(), folder.resolve())
    return avatar


def _clear_old_pictures(assets: Path) -> None:
    """Remove pictures an earlier conversion extracted (`slide<N>-<k>.png|jpg`), so none of a changed deck linger."""
    if assets.is_dir():
        for f in assets.iterdir():
            if re.fullmatch(r"slide\d+-\d+\.(png|jpg)", f.name):
                f.unlink(missing_ok=True)


def _rel(path: Path, folder: Path) -> str:
    """`path` relative to `folder` with forward slashes; absolute when there is no relative path (another drive)."""
    try:
        return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _copy_atomic(src: Path, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            shutil.copyfile(src, tmp)
    except OSError as e:
        raise SlideError(f"cannot write {path}: {e}", file=path) from None


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except OSError as e:
        raise SlideError(f"cannot write {path}: {e}", file=path) from None


__all__ = ["from_slides", "narration"]
