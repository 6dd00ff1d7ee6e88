"""Inline markup inside segment text.

    Hello and welcome to *avatarkit*. [pause 500ms] [nod] Let's begin.

`*words*` marks emphasis, `[pause 500ms]` / `[pause 1.5s]` inserts silence,
`[nod]`, `[shake]`, `[tilt]` and `[brows]` start a gesture with the next word.
Text is cut into phrases at sentence ends and at pauses.
"""

from __future__ import annotations

import re

from ..errors import ScriptError
from .model import GESTURES, Gesture, Mark, Phrase
from .scope import short_repr

_TAG = re.compile(r"\[([^\[\]]*)\]")
_PAUSE = re.compile(r"^pause\s+(\d+(?:\.\d+)?)\s*(ms|s)$")
_SENTENCE_END = ("." , "!", "?", "…", "。", "！", "？")
_PIECE = re.compile(r"\[[^\]]*\]?|[^\s\[。！？]+[。！？]*|[。！？]+")
MAX_PAUSE_MS = 60_000


def parse_duration_ms(value: str | int | float, *, what: str = "pause") -> int:
    """Parse `500ms`, `1.5s` or a number of seconds into whole milliseconds."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a duration like 500ms or 1.5s")
    if isinstance(value, (int, float)):
        ms = float(value) * 1000.0
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*", str(value))
        if not m:
            raise ValueError(f"{what} {short_repr(value)} is not a duration like 500ms or 1.5s")
        ms = float(m.group(1)) * (1.0 if m.group(2) == "ms" else 1000.0)
    if not 0 <= ms <= MAX_PAUSE_MS:
        raise ValueError(f"{what} {short_repr(value)} must be between 0 and {MAX_PAUSE_MS // 1000}s")
    return int(round(ms))


def parse_text(text: str, *, file=None, line: int | None = None, field: str = "text") -> list[Phrase]:
    """Split marked-up `text` into phrases; raise `ScriptError` on bad markup."""
    phrases: list[Phrase] = []
    words: list[Mark] = []
    gestures: list[Gesture] = []
    emphasis = False

    def err(msg: str, offset: int) -> ScriptError:
        row = None if line is None else line + text.count("\n", 0, offset)
        return ScriptError(msg, file=file, line=row, field=field)

    def flush(pause_ms: int = 0) -> None:
        nonlocal words, gestures
        if words:
            phrases.append(Phrase(tuple(words), tuple(gestures), pause_ms))
        elif pause_ms:
            if phrases:
                last = phrases[-1]
                phrases[-1] = Phrase(last.words, last.gestures, last.pause_ms + pause_ms)
            else:
                phrases.append(Phrase((), (), pause_ms))
        if gestures and not words:
            # A gesture with no word after it in this phrase moves on to the next one.
            pending = [Gesture(g.kind, 0) for g in gestures]
            words, gestures = [], pending
            return
        words, gestures = [], []

    # A tag may touch the words around it, and Chinese and Japanese sentences end
    # with 。！？ without a space: both end a word here.
    for m in _PIECE.finditer(text):
        piece = m.group(0)
        if piece.startswith("["):
            if not piece.endswith("]"):
                raise err(f"unclosed '[' in {short_repr(piece)}", m.start())
            tag = piece[1:-1].strip().lower()
            pm = _PAUSE.match(tag)
            if pm:
                try:
                    ms = parse_duration_ms(pm.group(1) + pm.group(2))
                except ValueError as e:
                    raise err(str(e), m.start()) from None
                flush(ms)
            elif tag in GESTURES:
                gestures.append(Gesture(tag, len(words)))
            else:
                raise err(
                    f"unknown tag [{tag}]; expected [pause 500ms] or one of "
                    + ", ".join(f"[{g}]" for g in GESTURES),
                    m.start(),
                )
            continue
        # Emphasis may open and close around a word and stick to punctuation:
        # "*very*," or "*two words*".
        word = piece
        starts = word.startswith("*")
        if starts:
            if emphasis:
                raise err(f"'*' opened twice before {short_repr(piece)}", m.start())
            emphasis = True
            word = word[1:]
        core = word.rstrip(".,;:!?\"')…")
        tail = word[len(core):]
        ends = core.endswith("*")
        if ends:
            if not emphasis:
                raise err(f"'*' closes emphasis that was never opened in {short_repr(piece)}", m.start())
            core = core[:-1]
        if "*" in core:
            raise err(f"stray '*' inside {short_repr(piece)}", m.start())
        word = core + tail
        if word:
            words.append(Mark(word, emphasis))
        if ends:
            emphasis = False
        if word.endswith(_SENTENCE_END):
            flush()
    if emphasis:
        raise err("emphasis opened with '*' is never closed", len(text))
    flush()
    if gestures:
        # Trailing gesture with no words after it: attach to the last phrase's end.
        if phrases:
            last = phrases[-1]
            extra = tuple(Gesture(g.kind, max(0, len(last.words) - 1)) for g in gestures)
            phrases[-1] = Phrase(last.words, last.gestures + extra, last.pause_ms)
    return phrases
