"""When each bullet point appears: at the first spoken word that names it.

A bullet is revealed when the narration, reading on from the previous
bullet's word, first says one of the bullet's content words (words of
three letters or more that are not function words, compared without case,
accents or common English endings; in scripts written without spaces,
a shared run of two characters counts). A bullet the narration never names
appears at the start of a phrase spread evenly between its neighbours, so
every bullet is on screen before the scene ends.
"""

from __future__ import annotations

import unicodedata

from ..script.model import Phrase

_STOP = set("""a an and are as at be but by for from has have in is it its of on or our that the their there this to
was we were will with you your not can all any how what when which who why into than then them they these those
""".split())


def _norm(word: str) -> str:
    w = unicodedata.normalize("NFKD", word.casefold())
    w = "".join(ch for ch in w if ch.isalnum())
    for end in ("ing", "ed", "es", "s"):
        if len(w) > len(end) + 3 and w.endswith(end):
            return w[:-len(end)]
    return w


def _spaceless(text: str) -> bool:
    return any(unicodedata.east_asian_width(ch) == "W" or "\u0e00" <= ch <= "\u0eff" for ch in text)


def _keys(bullet: str) -> set[str]:
    if _spaceless(bullet):
        s = "".join(ch for ch in bullet if ch.isalnum())
        return {s[i:i + 2] for i in range(len(s) - 1)} or {s}
    words = [_norm(w) for w in bullet.split()]
    keys = {w for w in words if len(w) >= 3 and w not in _STOP}
    return keys or {w for w in words if w}


def _names(word: str, keys: set[str]) -> bool:
    if _spaceless(word):
        s = "".join(ch for ch in word if ch.isalnum())
        return any(k in s for k in keys)
    w = _norm(word)
    return w in keys or any(len(k) >= 5 and len(w) >= 5 and (w.startswith(k) or k.startswith(w)) for k in keys)


def reveal_points(bullets: tuple[str, ...] | list[str], phrases: list[Phrase]) -> list[tuple[int, int]]:
    """For each bullet, the (phrase index, word index) of the word that reveals it, in order.

    Word indices count the phrase's written words (`Phrase.words`). Points
    never go backwards: bullet k appears no earlier than bullet k-1.
    """
    flat = [(p, w, m.text) for p, ph in enumerate(phrases) for w, m in enumerate(ph.words)]
    if not flat:
        return [(0, 0)] * len(bullets)
    found: list[int | None] = []
    pos = 0
    for b in bullets:
        keys = _keys(b)
        hit = next((i for i in range(pos, len(flat)) if _names(flat[i][2], keys)), None)
        found.append(hit)
        if hit is not None:
            pos = hit + 1
    # Unnamed bullets: phrase starts spread between the neighbours' points.
    starts = [i for i, (p, w, _) in enumerate(flat) if w == 0]
    n = len(bullets)
    out: list[int] = []
    for k, hit in enumerate(found):
        if hit is None:
            lo = out[-1] + 1 if out else 0
            nxt = next((h for h in found[k + 1:] if h is not None), len(flat))
            want = starts[min(len(starts) - 1, k * len(starts) // max(n, 1))]
            hit = min(max(want, lo), max(lo, nxt - 1), len(flat) - 1)
        out.append(max(hit, out[-1] if out else 0))
    return [(flat[i][0], flat[i][1]) for i in out]
