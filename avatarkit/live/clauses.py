"""Cutting text that arrives piece by piece (a typed sentence, an LLM's token stream) into clauses to speak.

A voice needs a whole clause to sound natural, but a live presenter must
start speaking soon: the first clause of a message is what the listener
waits for, and a voice takes time in proportion to its length. So the
first clause ends at the first phrase break a speaker could pause at, a
conjunction such as "before" or "when" after at least `HEAD_WORDS` words
("Please read each section | before you start the quiz."), when the
language has a list of them (`BREAK_WORDS`); else at punctuation, or
after `first_words` words. Later clauses are spoken while earlier ones
play, so they end only at punctuation or at `clause_words`. A full stop
that ends the text so far is not trusted until the next character
arrives ("3." may become "3.5"), unless the message is flushed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import regex

# Punctuation that ends a clause, with the pause (ms) a speaker leaves after it.
SENTENCE_END = ".!?。！？…"
CLAUSE_END = ",;:、，；：—"
PAUSE_MS = {"sentence": 300, "clause": 120, "phrase": 0, "cut": 0}
SLACK = 4   # words past a clause's limit that may still end it at punctuation
HEAD_WORDS = 3   # the fewest words (with a letter or digit) a first clause cut at a phrase break keeps
TAIL_WORDS = 3   # ... and the fewest from the break word to the next punctuation or the message's end

# Words that open a phrase a speaker may pause before: coordinating and subordinating conjunctions and relative
# words ("before" and "after" open a phrase either way); words that are only prepositions are left out ("Click
# on the button" must not become "Click on | the button"). By the language's primary subtag; a language without
# a list cuts its first clause at punctuation or after `first_words`. A word is looked up in NFC, lower case,
# up to an apostrophe ("jusqu'à", "qu'il").
BREAK_WORDS = {
    "en": "and but or so because before after when while whenever if unless until since although though "
          "whereas where which who whose whom",
    "de": "und aber oder denn weil bevor nachdem wenn während falls obwohl damit sodass bis seit wo welche "
          "welcher welches",
    "fr": "et mais ou donc car parce avant après quand lorsque pendant si bien quoique puisque jusqu où qui que "
          "qu lequel laquelle",
    "es": "y pero o porque antes después cuando mientras si aunque hasta donde que quien cual",
    "it": "e ma o perché prima dopo quando mentre se sebbene benché finché dove che chi cui",
    "pt": "e mas ou porque antes depois quando enquanto se embora até onde que quem qual",
    "nl": "en maar of want omdat voordat nadat wanneer terwijl als hoewel totdat sinds waar die dat welke",
}

_BOUNDARY = regex.compile(rf"[{regex.escape(SENTENCE_END + CLAUSE_END)}]+[\"'”’)\]]*(?=\s)")


@dataclass(frozen=True)
class Clause:
    """A piece of text to speak and the pause (ms) that follows it. `end` says what ended it: a
    "sentence" or "clause" (punctuation), a "phrase" break, or a "cut" after a number of words; after a
    phrase or a cut the sentence goes on, so the voice's own trailing silence is not wanted there."""

    text: str
    pause_ms: int
    end: str = "sentence"


class ClauseCutter:
    """Text in (`feed`, `flush`), clauses out, in order.

    `first_words` bounds the first clause of a message (after a `flush`, or
    at the start) and `clause_words` every later one, in words; punctuation
    up to `SLACK` words later still ends the clause there. `language` (a
    BCP 47 tag such as "en-US") picks the phrase breaks the first clause
    may end at; None, or a language without a list, uses none.
    """

    def __init__(self, first_words: int = 8, clause_words: int = 24, language: str | None = None):
        if first_words < 1 or clause_words < 1:
            raise ValueError("first_words and clause_words must be at least 1")
        self.first_words, self.clause_words = first_words, clause_words
        primary = (language or "").split("-")[0].lower()
        self.breaks = frozenset(BREAK_WORDS.get(primary, "").split())
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
            # The message ends here, punctuated or not: a sentence's end, never a cut mid-sentence.
            end_kind = _end(rest)
            if end_kind == "cut":
                end_kind = "sentence"
            out.append(Clause(rest, PAUSE_MS[end_kind], end_kind))
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
            # Words followed by white space only: the last piece of a stream may be half a word.
            words = list(regex.finditer(r"\S+(?=\s)", text))
            punct_words = None if m is None else len(regex.findall(r"\S+", text[:m.end()]))
            at = self._phrase_break(words, None if m is None else m.end(), final) \
                if self._first and self.breaks else None
            if at == -1:
                return out
            end, kind = None, None
            if at is not None:
                end, kind = at, "phrase"
            elif m is not None and punct_words <= limit + SLACK:
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
                end_kind = _end(piece) if kind is None else kind
                out.append(Clause(piece, PAUSE_MS[end_kind], end_kind))
                self._first = False

    def _phrase_break(self, words: list, punct_at: int | None, final: bool) -> int | None:
        """Where a first clause ends at a phrase break (a character offset in the text), None where it does not,
        or -1 where the text so far cannot tell yet."""
        # Only words with a letter or digit count: a leading "-" or a stray quote is not a word spoken.
        words = [w for w in words if regex.search(r"\w", w.group())]
        punct_words = None if punct_at is None else sum(w.end() <= punct_at for w in words)
        for i in range(HEAD_WORDS, min(self.first_words, len(words) - 1) + 1):
            if punct_words is not None and punct_words <= i:
                return None                     # punctuation ends the clause first
            if _word(words[i].group()) not in self.breaks:
                continue
            if punct_words is not None:
                return words[i - 1].end() if punct_words >= i + TAIL_WORDS else None
            if len(words) >= i + TAIL_WORDS:
                return words[i - 1].end()
            return None if final else -1        # too few words yet to know the sentence goes on
        return None


def _word(token: str) -> str:
    """A token as looked up in `BREAK_WORDS`: NFC, lower case, without surrounding punctuation, up to an
    apostrophe."""
    w = unicodedata.normalize("NFC", token).lower()
    w = regex.split(r"['’]", w, maxsplit=1)[0]
    return regex.sub(r"^\W+|\W+$", "", w)


def _end(text: str) -> str:
    t = text.rstrip("\"'”’)]")
    if t and t[-1] in SENTENCE_END:
        return "sentence"
    if t and t[-1] in CLAUSE_END:
        return "clause"
    return "cut"
