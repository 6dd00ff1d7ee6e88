"""The script as typed data: what the parser produces and the pipeline reads.

A `Script` holds scenes; a scene holds segments; a segment's text is split
into `Phrase`s, the unit that is synthesised, animated and encoded in one go.
Phrases end at sentence ends and at pauses, so a long video streams phrase
by phrase and never holds more than one in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ScriptError

_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def is_language_tag(code) -> bool:
    """Whether `code` is a BCP-47 language tag of a language the IANA registry knows (`de`, `pt-BR`, `zh-Hans`);
    `zz` has the form of one and is refused."""
    if not isinstance(code, str) or not _TAG.match(code):
        return False
    import langcodes

    return bool(langcodes.tag_is_valid(code))


GESTURES = ("nod", "shake", "tilt", "brows")
LAYOUTS = ("full", "beside", "pip", "circle")
RENDERERS = ("warp", "bank", "refined", "footage", "diffusion")
BACKGROUND_KINDS = ("solid", "gradient", "studio", "office", "blur", "photo")
TRANSITIONS = ("cut", "crossfade", "slide")
ASPECTS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1)}
SIZES = {"480p": 480, "720p": 720, "1080p": 1080, "4k": 2160}
SLIDE_IMAGES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
SLIDE_VIDEOS = (".mp4", ".mov", ".webm", ".mkv", ".m4v")
SLIDE_PAGES = (".pdf", ".pptx")
AUDIO_FILES = (".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus")


def frame_size(aspect: str, size: str) -> tuple[int, int]:
    """Width and height in pixels for an aspect (`16:9`) and a size (`1080p`: the short side)."""
    a, b = ASPECTS[aspect]
    short = SIZES[size]
    if a >= b:
        return 2 * round(short * a / b / 2), short
    return short, 2 * round(short * b / a / 2)


@dataclass(frozen=True)
class Gesture:
    """A head or face gesture that starts with token `at` of its phrase."""

    kind: str
    at: int


@dataclass(frozen=True)
class Mark:
    """A written word and whether the script emphasised it (`*word*`)."""

    text: str
    emphasis: bool = False


def _spaceless(ch: str) -> bool:
    """Chinese, Japanese and Thai characters, which are written without spaces between words."""
    return "\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef" \
        or "\u0e00" <= ch <= "\u0e7f"


def join_words(words) -> str:
    """Words as written text: spaces between them, except between words of scripts written without spaces."""
    out = ""
    for w in words:
        if out and w and not (_spaceless(out[-1]) or _spaceless(w[0])):
            out += " "
        out += w
    return out


@dataclass(frozen=True)
class Phrase:
    """Words spoken in one breath, then `pause_ms` milliseconds of silence."""

    words: tuple[Mark, ...]
    gestures: tuple[Gesture, ...] = ()
    pause_ms: int = 0

    @property
    def text(self) -> str:
        return join_words(w.text for w in self.words)


@dataclass(frozen=True)
class Background:
    """A generated backdrop: `solid`, `gradient`, `studio`, or the `photo` itself.

    `colors` are `#rrggbb` strings: one for solid, two (top, bottom) for
    gradient, and a base and a light colour for studio.
    """

    kind: str = "studio"
    colors: tuple[str, ...] = ()
    drift: bool = False          # a slow camera drift over the backdrop


@dataclass(frozen=True)
class SlideRef:
    """What a scene shows beside the presenter: an image, a video, or a page of a PDF or PPTX (1-based)."""

    file: Path
    page: int = 1

    @property
    def kind(self) -> str:
        ext = self.file.suffix.lower()
        return "image" if ext in SLIDE_IMAGES else "video" if ext in SLIDE_VIDEOS else ext[1:]


@dataclass(frozen=True)
class LowerThird:
    """A name and role shown in a band at the start of a scene."""

    name: str
    role: str = ""


@dataclass(frozen=True)
class Transition:
    """How a scene replaces the one before it: `cut`, `crossfade` or `slide`, over `ms` milliseconds."""

    kind: str = "cut"
    ms: int = 600


@dataclass(frozen=True)
class LexiconEntry:
    """How to say a word: a respelling (`say`), IPA phonemes (`ipa`), or both."""

    say: str | None = None
    ipa: str | None = None


@dataclass
class Lexicon:
    """Pronunciations per language tag (`en`, `en-US`); lookups ignore case."""

    entries: dict[str, dict[str, LexiconEntry]] = field(default_factory=dict)

    def lookup(self, word: str, language: str) -> LexiconEntry | None:
        """Find `word` for a BCP-47 `language`, trying `en-US` then `en`."""
        key = word.strip(".,;:!?\"'()…").casefold()
        tags = [language, language.split("-")[0]]
        for tag in tags:
            table = self.entries.get(tag.casefold())
            if table and key in table:
                return table[key]
        return None


@dataclass
class Segment:
    """A piece of text spoken by one voice, a recording (`audio`, with its text as captions), or a pause."""

    phrases: list[Phrase]
    voice: str
    text: str = ""
    line: int | None = None
    audio: Path | None = None


@dataclass
class Scene:
    """A run of segments sharing an avatar, background, layout and renderer kind."""

    id: str
    segments: list[Segment]
    avatar: Path              # a photo, or the folder of an avatar made from footage
    background: Background | None   # None: the brand kit's, else the studio
    layout: str
    renderer: str | None = None   # a renderer kind; None: the pipeline's default
    slide: SlideRef | None = None
    title: str = ""
    bullets: tuple[str, ...] = ()
    lower_third: LowerThird | None = None
    transition: Transition | None = None   # into this scene; None: the brand kit's, else a cut

    def __post_init__(self):
        # The Python API is checked as the script format is (`script.parse`): a scene built in code with a
        # layout or renderer no stage knows would otherwise render as the default, silently.
        if self.layout not in LAYOUTS:
            raise ScriptError(f"unknown layout {self.layout!r}; expected one of {', '.join(LAYOUTS)}",
                              field=f"scene {self.id!r}.layout")
        if self.renderer is not None and self.renderer not in RENDERERS:
            raise ScriptError(f"unknown renderer {self.renderer!r}; expected one of {', '.join(RENDERERS)}",
                              field=f"scene {self.id!r}.renderer")


@dataclass(frozen=True)
class LanguageSpec:
    """A language the script is translated into (BCP-47 `code`) and the voice that speaks it (None: the catalogue's first)."""

    code: str
    voice: str | None = None


@dataclass(frozen=True)
class GlossaryTerm:
    """A term translators must treat alike: kept as is (`translate=False`) or rendered as `targets[language]`."""

    term: str
    translate: bool = True
    targets: tuple[tuple[str, str], ...] = ()     # (language, rendering)
    note: str = ""

    def target(self, language: str) -> str | None:
        """The term's rendering for `language` (`de-DE` falls back to `de`), or None."""
        table = dict(self.targets)
        return table.get(language) or table.get(language.split("-")[0])


@dataclass
class Script:
    """A whole video: settings, lexicon and scenes. Build one in code or with `load_script`."""

    title: str
    scenes: list[Scene]
    resolution: tuple[int, int] = (1280, 720)
    fps: int = 25
    language: str = "en"
    lexicon: Lexicon = field(default_factory=Lexicon)
    name: str = "video"
    source: Path | None = None
    captions: bool = False        # burn the captions into the picture
    brand: Path | None = None     # a brand kit file (brand.yaml)
    languages: tuple[LanguageSpec, ...] = ()     # translations (the script's own `language` is the source)
    glossary: tuple[GlossaryTerm, ...] = ()

    @property
    def width(self) -> int:
        return self.resolution[0]

    @property
    def height(self) -> int:
        return self.resolution[1]
