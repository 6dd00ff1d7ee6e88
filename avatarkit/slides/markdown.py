"""Markdown slides: one slide per block between lines `---`.

    # Expense reports in three steps        <- the first heading is the title
    - Keep every receipt                    <- list items (-, *, +, 1.) are bullets
      - even the small ones                 <- indented: level 1
    ![Chart](chart.png)                     <- a picture, relative to the .md file
    Notes:                                  <- or ???; the rest of the slide is speaker notes
    Start by keeping every receipt.

Other headings and plain paragraphs become top-level bullets, so nothing
written on a slide is lost. A YAML front matter block at the top (as Marp
writes) may give the deck's `title`. Code fences are skipped and never
split slides. Remote images (http:, data:) are skipped: nothing is fetched.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import yaml

from .model import Deck, Slide, SlideError

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d{1,3}[.)])\s+(.*)$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+[\"'][^)]*[\"'])?\s*\)(\{[^}]*\})?")
_NOTES = re.compile(r"^(?:notes:|\?\?\?)\s*(.*)$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")


def read_markdown(path: Path) -> Deck:
    """Read Markdown slides from `path`; `SlideError` names the file and line of a missing picture."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise SlideError(f"cannot read Markdown slides: {e}", file=path) from None
    lines = text.splitlines()
    start, meta_title = _front_matter(lines)
    chunks: list[list[tuple[int, str]]] = [[]]
    fence = None
    for i in range(start, len(lines)):
        line = lines[i]
        m = _FENCE.match(line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
        if fence is None and line.strip() == "---":
            chunks.append([])
        else:
            chunks[-1].append((i + 1, line))
    slides: list[Slide] = []
    for chunk in chunks:
        slide = _slide(chunk, len(slides) + 1, path)
        if slide is not None:
            slides.append(slide)
    if not slides:
        raise SlideError("no slides found (slides are separated by a line ---)", file=path)
    title = meta_title or next((s.title for s in slides[:1] if s.title), "") or path.stem
    return Deck(path=path, kind="md", title=title, slides=slides)


def _front_matter(lines: list[str]) -> tuple[int, str]:
    """Skip a leading YAML mapping between two `---` lines: (first line after it, its title or "")."""
    if not lines or lines[0].strip() != "---":
        return 0, ""
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        return 1, ""
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError:
        data = None
    block = [ln.strip() for ln in lines[1:end] if ln.strip()]
    # YAML reads "# Title" as a comment and "Notes: hi" as a mapping: a first slide is not front matter.
    if (not isinstance(data, dict) or "notes" in {str(k).lower() for k in data}
            or any(ln.startswith(("#", "!", "- ", "* ", "???")) for ln in block)):
        return 1, ""
    return end + 1, str(data.get("title") or "").strip()


def _slide(chunk: list[tuple[int, str]], page: int, path: Path) -> Slide | None:
    slide = Slide(page=page)
    notes: list[str] | None = None
    indents: list[int] = []  # indents of the open list levels, outermost first
    listed = False
    continues = False  # the previous line was text a following line may continue
    fence = None
    comment = False
    for number, line in chunk:
        if notes is not None:
            notes.append(line)
            continue
        m = _FENCE.match(line)
        if m or fence:
            if m:
                fence = None if fence == m.group(1) else (fence or m.group(1))
            continues = False
            continue
        if comment or line.lstrip().startswith("<!--"):
            comment = "-->" not in line
            continues = False
            continue
        stripped = line.strip()
        m = _NOTES.match(stripped)
        if m:
            notes = [m.group(1)] if m.group(1) else []
            continue
        for im in _IMAGE.finditer(line):
            picture = _picture(im.group(2), path, number)
            if picture is not None and picture not in slide.pictures:
                slide.pictures.append(picture)
        line = _IMAGE.sub("", line)
        stripped = line.strip()
        if not stripped:
            continues = False
            continue
        h = _HEADING.match(stripped)
        item = _ITEM.match(line)
        if h:
            text = inline(h.group(2))
            if not slide.title:
                slide.title = text
            elif text:
                slide.bullets.append(text)
                slide.levels.append(0)
            continues = False
        elif item:
            indent = len(item.group(1).expandtabs(4))
            while indents and indents[-1] > indent:
                indents.pop()
            if not indents or indents[-1] < indent:
                indents.append(indent)
            slide.bullets.append(inline(item.group(2)))
            slide.levels.append(len(indents) - 1)
            listed = continues = True
        elif continues and slide.bullets:
            slide.bullets[-1] = f"{slide.bullets[-1]} {inline(stripped)}".strip()
        else:
            slide.bullets.append(inline(stripped))
            slide.levels.append(0)
            indents = []
            continues = True
    slide.notes = "\n".join(notes).strip() if notes else ""
    if not (slide.title or slide.bullets or slide.pictures or slide.notes):
        return None
    slide.title_slide = bool(slide.title) and not listed and not slide.pictures
    return slide


def _picture(ref: str, md: Path, line: int) -> Path | None:
    ref = ref.strip("<>").strip()
    if re.match(r"^[a-z][a-z0-9+.-]*:", ref, re.IGNORECASE) and not re.match(r"^[a-z]:[\\/]", ref, re.IGNORECASE):
        return None  # a URL (http:, data:): never fetched
    target = (md.parent / unquote(ref)).resolve()
    if not target.is_file():
        raise SlideError(f"image {ref!r} not found (paths are relative to the Markdown file)", file=md, line=line)
    return target


def inline(text: str, *, keep_emphasis: bool = False) -> str:
    """Plain text of a Markdown line: links keep their text, code marks and bold go;
    `*emphasis*` stays when `keep_emphasis` (it is avatarkit's markup too), else goes."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"`+([^`]*)`+", r"\1", text)
    text = re.sub(r"<[^>]+>", " ", text)
    if keep_emphasis:
        text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: f"*{m.group(1) or m.group(2)}*", text)
    else:
        text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: m.group(1) or m.group(2), text)
        text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
        text = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()
