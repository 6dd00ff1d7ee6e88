"""What a slide deck is once read: slides with a title, bullets, notes and pictures.

A deck comes from a PowerPoint file, a PDF or Markdown slides (`deck.py`).
The types here are plain data, so the converter (`convert.py`) and the
compositor can use a deck without knowing where it came from. `fit_size` is
the aspect-keeping fit that page and video rendering (`pages.py`,
`video.py`) share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AvatarkitError


class SlideError(AvatarkitError):
    """A slide deck, page or slide video that cannot be read or rendered.

    The message names the file and, for Markdown slides and notes files, the
    line: `deck.md:12: image 'chart.png' not found`.
    """

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None):
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


def fit_size(width: float, height: float, box_w: int, box_h: int) -> tuple[int, int]:
    """The largest (w, h) in pixels with the aspect of `width`x`height` that fits inside `box_w`x`box_h`."""
    s = min(box_w / width, box_h / height)
    return max(1, min(box_w, int(round(width * s)))), max(1, min(box_h, int(round(height * s))))


@dataclass
class Slide:
    """One shown slide of a deck.

    `page` is the slide's 1-based position among the shown slides, which is
    also its page in the deck's PDF export (hidden PPTX slides are left out
    of both); `number` is its 1-based position in the file, hidden slides
    counted. `bullets` are the body paragraphs in reading order and
    `levels[k]` is the indent level of `bullets[k]` (0 = top level).
    `pictures` are image files, the slide's main picture first (PPTX: by
    size on the slide, largest first; Markdown: as written).
    `title_slide` is true for a title layout (PPTX) or a Markdown slide with
    only headings and text (no list, no picture).
    """

    page: int
    title: str = ""
    bullets: list[str] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)
    notes: str = ""
    pictures: list[Path] = field(default_factory=list)
    layout_name: str | None = None
    number: int = 0
    title_slide: bool = False

    def __post_init__(self) -> None:
        if not self.number:
            self.number = self.page
        if len(self.levels) != len(self.bullets):
            # Levels not given: every bullet is top level.
            self.levels = [0] * len(self.bullets)


@dataclass
class Deck:
    """A read deck: its file, its `kind` ('pptx', 'pdf' or 'md'), its title and its shown slides."""

    path: Path
    kind: str
    title: str
    slides: list[Slide]
