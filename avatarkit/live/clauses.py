"""Cutting text that arrives piece by piece (a typed sentence, an LLM's token stream) into clauses to speak.

A voice needs a whole clause to sound natural, but a live presenter must
start speaking before a long sentence has arrived: the first clause of a
message is cut short (`first_words`) when no punctuation comes sooner,
later clauses at punctuation or at `clause_words`. A full stop that ends
the text so far is not trusted until the next character arrives ("3." may
become "3.5"), unless the message is flushed.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

# Punctuation that ends a clause, with the pause (ms) a speaker leaves after it.
SENTENCE_END = ".!?。！？…"
CLAUSE_END = ",;:、，；：—"
PAUSE_MS = {"sentence": 300, "clause": 120, "cut": 0}
SLACK = 4   # words past a clause's limit that may still end it at punctuation

_BOUNDARY = regex.compile(rf"[{regex.escape(SENTENCE_END + CLAUSE_END)}]+[\"'”’)\]]*(?=\s)")


@dataclass(frozen=True)
class Clause:
    """A piece of text to speak and the pause (ms) that follows it."""

    text: str
    pause_ms: int


class ClauseCutter:
    """Text in (`feed`, `flush`), clauses out, in order.

    `first_words` bounds the first clause of a message (after a `flush`, or
    at the start) and `clause_words` every later one, in words; punctuation
    up to `SLACK` words later still ends the clause there.
    """

    def __init__(self, first_words: int = 8, clause_words: int = 24):
        if first_words < 1 or clause_words < 1:
            raise ValueError("first_words and clause_words must be at least 1")
        self.first_words, self.clause_words = first_words, clause_words
        self._buf = ""
        self._first = True

    def feed(self, text: str) -> list[Clause]:
        """Add `text` (any piece: a token, a word, a sentence) and return the clauses it completes."""
        self._buf += text
        return self._cut(final=False)

    def flush(self) -> list[Clause]:
        """The message is complete: return what is left as clauses; the next text starts a new message."""
        out = self._cut(final=True)
        rest = self._buf.strip()
        if rest:
            out.append(Clause(rest, _pause(rest)))
        self._buf, self._first = "", True
        return out

    def reset(self) -> None:
        """Forget text not yet cut (an interrupted message)."""
        self._buf, self._first = "", True

    def _cut(self, final: bool) -> list[Clause]:
        out: list[Clause] = []
        while True:
            text = self._buf + (" " if final else "")
            limit = self.first_words if self._first else self.clause_words
            m = _BOUNDARY.search(text)
            words = list(regex.finditer(r"\S+", text))
            end = None
            if m is not None and len(regex.findall(r"\S+", text[:m.end()])) <= limit + SLACK:
                end = m.end()
            elif len(words) > limit + SLACK:
                # No punctuation soon enough: cut after `limit` words. Punctuation a few words past the limit
                # is waited for, so "... before you start the quiz." does not leave "quiz." on its own.
                end = words[limit - 1].end()
            if end is None:
                return out
            piece = self._buf[:end].strip()
            self._buf = self._buf[end:].lstrip()
            if piece:
                out.append(Clause(piece, _pause(piece)))
                self._first = False


def _pause(text: str) -> int:
    t = text.rstrip("\"'”’)]")
    if t and t[-1] in SENTENCE_END:
        return PAUSE_MS["sentence"]
    if t and t[-1] in CLAUSE_END:
        return PAUSE_MS["clause"]
    return PAUSE_MS["cut"]
