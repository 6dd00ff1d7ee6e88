"""Inline markup as structure, so translation cannot break it.

Narration carries markup (`*emphasis*`, `[pause 500ms]`, `[nod]`): a pause or
gesture must come back exactly as written and emphasis must stay balanced,
or the translated script no longer parses. `split_markup` turns a string
into plain text, `Code`s (bracketed tags), `Span`s (emphasis) and `Keep`s
(glossary terms never translated); XLIFF writes them as placeholders and
machine translation sees them as opaque tokens (`mask` / `unmask`).
`join_markup` gives the original string back exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from .strings import term_pattern

_MARKUP = re.compile(r"\[[^\[\]]*\]|\*")
_TOKEN = re.compile(r"⟨\s*(\d+)\s*⟩")
_CLOSING_PUNCT = re.compile(r"[.,;:!?\"')…]*")     # what `parse_text` lets follow a closing `*`


@dataclass(frozen=True)
class Code:
    """A bracketed tag as written (`[pause 500ms]`, `[nod]`): silence or a gesture, never translated."""

    raw: str


@dataclass(frozen=True)
class Span:
    """Emphasised text, written `*...*`."""

    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Keep:
    """A glossary term kept as written in every language (`translate: false`)."""

    text: str


Inline = Union[str, Code, Span, Keep]


def split_markup(text: str, *, markup: bool = True, keep: tuple[str, ...] = ()) -> tuple[Inline, ...]:
    """`text` as inline items; with `markup=False` (titles, bullets) only `keep` terms are picked out.

    Every `*` outside a tag opens or closes emphasis, as `parse_text` reads it;
    an emphasis left open stays a literal `*`, so `join_markup` always gives
    `text` back.
    """
    pattern = term_pattern(keep)
    stack: list[list[Inline]] = [[]]

    def add_text(s: str) -> None:
        if not s:
            return
        pos = 0
        for m in pattern.finditer(s) if pattern else ():
            _push(stack[-1], s[pos:m.start()])
            stack[-1].append(Keep(m.group(0)))
            pos = m.end()
        _push(stack[-1], s[pos:])

    pos = 0
    for m in _MARKUP.finditer(text) if markup else ():
        add_text(text[pos:m.start()])
        if m.group(0) == "*":
            if len(stack) == 1:
                stack.append([])
            else:
                children = stack.pop()
                stack[-1].append(Span(tuple(children)))
        else:
            stack[-1].append(Code(m.group(0)))
        pos = m.end()
    add_text(text[pos:])
    while len(stack) > 1:
        children = stack.pop()
        _push(stack[-1], "*")
        for c in children:
            if isinstance(c, str):
                _push(stack[-1], c)
            else:
                stack[-1].append(c)
    return tuple(stack[0])


def _push(items: list[Inline], s: str) -> None:
    if not s:
        return
    if items and isinstance(items[-1], str):
        items[-1] += s
    else:
        items.append(s)


def join_markup(items: tuple[Inline, ...] | list[Inline], *, spaced: bool = False) -> str:
    """The string of inline `items`. With `spaced`, whitespace is added where a translator glued a
    tag or emphasis to a word (`Hallo[nod]`, `Wort*betont*`), which `parse_text` would misread."""
    text = "".join(_flat(items, spaced))
    if not spaced:
        return text
    text = re.sub(r"(?<=\S)(\[[^\[\]]*\])", r" \1", text)            # a word then a tag
    text = re.sub(r"(\[[^\[\]]*\])(?=\S)", r"\1 ", text)             # a tag then anything
    return text


def _flat(items, spaced: bool = False) -> list[str]:
    out: list[str] = []
    after_span = False
    for it in items:
        if isinstance(it, str):
            if after_span:
                # After a closing `*` only punctuation may stick to the word (`*so*,`): part anything else.
                m = _CLOSING_PUNCT.match(it)
                if it[m.end():] and not it[m.end()].isspace():
                    it = it[:m.end()] + " " + it[m.end():]
            out.append(it)
        elif isinstance(it, Code):
            out.append(it.raw)
        elif isinstance(it, Keep):
            out.append(it.text)
        else:
            inner = "".join(_flat(it.children, spaced))
            if not spaced:
                out.append(f"*{inner}*")
                continue
            # Whitespace just inside the asterisks would leave a lone `*` word: move it outside.
            lead = inner[:len(inner) - len(inner.lstrip())]
            trail = inner[len(inner.rstrip()):]
            prev = out[-1][-1:] if out and out[-1] else ""
            if prev and not prev.isspace() and not lead:
                lead = " "       # `*` opens emphasis only at the start of a word
            out.append(f"{lead}*{inner.strip()}*{trail}")
        after_span = spaced and isinstance(it, Span) and not out[-1][-1:].isspace()
    return out


def codes(items) -> list[str]:
    """The tags (`[pause 500ms]`, `[nod]`) among `items`, in order, emphasis included."""
    out: list[str] = []
    for it in items:
        if isinstance(it, Code):
            out.append(it.raw)
        elif isinstance(it, Span):
            out += codes(it.children)
    return out


def mask(items, *, codes: bool = True, terms: bool = True, start: int = 1) -> tuple[str, dict[int, Inline]]:
    """`items` as a string with tags and/or kept terms replaced by tokens `⟨n⟩` for a machine
    translator (numbered from `start`), and the table to restore them with `unmask`."""
    table: dict[int, Inline] = {}
    n = start

    def walk(seq) -> str:
        nonlocal n
        parts = []
        for it in seq:
            if (isinstance(it, Code) and codes) or (isinstance(it, Keep) and terms):
                table[n] = it
                parts.append(f"⟨{n}⟩")
                n += 1
            elif isinstance(it, Span):
                parts.append("*" + walk(it.children) + "*")
            else:
                parts.append(_flat([it])[0])
        return "".join(parts)

    return walk(items), table


def next_token(text: str) -> int:
    """The first token number not yet used in `text`, so masks applied in turn do not collide."""
    return max((int(m.group(1)) for m in _TOKEN.finditer(text)), default=0) + 1


def unmask(text: str, table: dict[int, Inline]) -> str:
    """Put back what `mask` replaced. Tokens the translator invented are dropped; tags it lost are
    added at the end (a pause or gesture late beats none); lost terms stay lost (the import warns)."""
    seen: set[int] = set()

    def put(m: re.Match) -> str:
        k = int(m.group(1))
        it = table.get(k)
        if it is None or k in seen:
            return ""
        seen.add(k)
        return f" {it.raw} " if isinstance(it, Code) else it.text

    out = _TOKEN.sub(put, text)
    lost = [it.raw for k, it in sorted(table.items()) if k not in seen and isinstance(it, Code)]
    if lost:
        out = out.rstrip() + " " + " ".join(lost)
    if any(isinstance(it, Code) for it in table.values()):
        # Tags are set apart by spaces so that `parse_text` reads them as tags: tidy the doubles.
        out = " ".join(out.split())
    return out
