"""The translatable strings of a script, each with a stable id, a kind and a note for translators.

Ids name where a string lives, not where it sits in the file, so they stay
the same when scenes are reordered or a scene is inserted before another:

    title                                   the video's title
    scenes.<scene id>.title                 a slide title
    scenes.<scene id>.bullets.<k>           the k-th bullet (from 0)
    scenes.<scene id>.lower_third.role      the role under the name in the lower third
    scenes.<scene id>.segments.<j>.text     narration (or a recording's captions) of segment j (from 0)

A scene without an `id:` is called `scene<N>` by its position (see
`script/parse.py`), so its ids move when a scene is inserted before it:
name scenes that will be translated. A person's name in a lower third is
never translated, and pause segments have nothing to say.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import ScriptError
from ..script.model import GlossaryTerm, Script, is_language_tag

KINDS = ("title", "slide-title", "bullet", "role", "narration", "captions")
MARKUP_KINDS = ("narration", "captions")      # strings with inline markup ([pause 500ms], *emphasis*)
ON_SCREEN = ("title", "slide-title", "bullet", "role")
SIZE_FACTOR = 1.3           # on-screen translations may be this much longer than the source
SIZE_FLOOR = 12             # ...and never limited below this many characters (short strings grow most)



@dataclass(frozen=True)
class Unit:
    """One translatable string: its stable `id`, source `text`, `kind`, a note for translators
    and, for text shown on screen, the most characters (code points) a translation should have."""

    id: str
    text: str
    kind: str
    context: str
    max_chars: int | None = None

    @property
    def markup(self) -> bool:
        """Whether the text carries inline markup (narration and captions)."""
        return self.kind in MARKUP_KINDS


def normalize(text: str, kind: str) -> str:
    """The form a string is stored and compared in: narration's whitespace collapsed (YAML folding
    leaves newlines that mean nothing), other kinds only stripped."""
    if kind in MARKUP_KINDS:
        return " ".join(text.split())
    return text.strip()


def size_limit(text: str) -> int:
    """Most characters a translation of on-screen `text` should take: 1.3x the source, at least 12."""
    return max(SIZE_FLOOR, math.ceil(SIZE_FACTOR * len(text)))


def units(script: Script) -> list[Unit]:
    """Every translatable string of `script`, in reading order, with stable ids (see the module doc)."""
    out: list[Unit] = []

    def add(uid: str, text: str, kind: str, context: str) -> None:
        text = normalize(text, kind)
        if text:
            out.append(Unit(uid, text, kind, context, size_limit(text) if kind in ON_SCREEN else None))

    add("title", script.title, "title",
        "Title of the video: shown on the first slide when it has no title of its own, and in the video's metadata; "
        "keep it short")
    for scene in script.scenes:
        base = f"scenes.{scene.id}"
        where = f"scene '{scene.id}'"
        add(f"{base}.title", scene.title, "slide-title", f"Slide title in {where}; shown on screen, keep it short")
        for k, bullet in enumerate(scene.bullets):
            add(f"{base}.bullets.{k}", bullet, "bullet",
                f"On-screen bullet {k + 1} of {len(scene.bullets)} in {where}, revealed as the presenter says it; "
                "keep it short")
        if scene.lower_third is not None:
            add(f"{base}.lower_third.role", scene.lower_third.role, "role",
                f"Role or job title shown under the name '{scene.lower_third.name}' in the lower third of {where}; "
                "keep it short")
        for j, seg in enumerate(scene.segments):
            if seg.audio is not None:
                add(f"{base}.segments.{j}.text", seg.text, "captions",
                    f"Captions of a recording in {where} (segment {j + 1}); the recording is not re-spoken, "
                    "the captions become subtitles. Keep the [..] tags and *emphasis*")
            elif seg.text:
                add(f"{base}.segments.{j}.text", seg.text, "narration",
                    f"Narration spoken by the presenter in {where} (segment {j + 1}); keep the [..] tags "
                    "(pauses and gestures) where they belong in the sentence, and *emphasis* on the matching words")
    return out


def check_language(code: str, *, what: str = "language") -> str:
    """`code` if it is a BCP-47 tag like `de` or `pt-BR`; otherwise a `ScriptError`."""
    if not is_language_tag(code):
        raise ScriptError(f"{code!r} is not a language tag like de or pt-BR (of a known language)", field=what)
    return code


def same_language(a: str, b: str) -> bool:
    """Whether two tags name the same language, ignoring case (`de-DE` and `de-de`)."""
    return a.casefold() == b.casefold()


def primary(code: str) -> str:
    """The primary language subtag, lower case: `pt` for `pt-BR`."""
    return code.split("-")[0].casefold()


def dnt_terms(script: Script) -> tuple[str, ...]:
    """The glossary terms to keep as written in every language (`translate: false`)."""
    return tuple(t.term for t in script.glossary if not t.translate)


def term_pattern(terms: tuple[str, ...]) -> re.Pattern | None:
    """A case-insensitive pattern matching any of `terms` as whole words (longest first), or None."""
    return _term_pattern(tuple(sorted({t for t in terms if t.strip()}, key=lambda t: (-len(t), t))))


@lru_cache(maxsize=64)
def _term_pattern(terms: tuple[str, ...]) -> re.Pattern | None:
    if not terms:
        return None
    # Lookarounds rather than \b so that terms starting or ending with punctuation (C++, .NET) still match.
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in terms) + r")(?!\w)", re.IGNORECASE)


def terms_in(text: str, glossary: tuple[GlossaryTerm, ...]) -> list[GlossaryTerm]:
    """The glossary terms that occur in `text` as whole words, in glossary order."""
    return [t for t in glossary if (p := term_pattern((t.term,))) is not None and p.search(text)]


def missing_terms(source: str, target: str, terms: tuple[str, ...]) -> list[str]:
    """Do-not-translate `terms` found in `source` but no longer in `target` (case-insensitive)."""
    return [t for t in terms if (p := term_pattern((t,))) is not None and p.search(source) and not p.search(target)]
