"""Right-to-left and mixed text: a compact Unicode bidirectional algorithm (UAX #9) for one line.

Enough of the algorithm for titles, bullets and captions: paragraph
direction from the first strong character, the weak and neutral type
rules, implicit levels, and reordering. Explicit embeddings are treated
as marks and bracket pairs are not matched, which only matters for rare
bracketed mixed-direction text. Typesetting shapes each same-level run
in its own direction, so Arabic letters join and Hebrew reads from the
right.
"""

from __future__ import annotations

import unicodedata

_NEUTRAL_TYPES = {"B", "S", "WS", "ON", "LRI", "RLI", "FSI", "PDI"}
_EXPLICIT = {"LRE", "RLE", "LRO", "RLO", "PDF", "BN"}


def paragraph_level(text: str) -> int:
    """0 (left to right) or 1 (right to left) from the first strong character (rules P2-P3); 0 when there is none."""
    for c in text:
        t = unicodedata.bidirectional(c)
        if t == "L":
            return 0
        if t in ("R", "AL"):
            return 1
    return 0


def bidi_levels(text: str, base: int) -> list[int]:
    """The embedding level of each character of one line in a paragraph of level `base` (0 or 1)."""
    n = len(text)
    orig = [unicodedata.bidirectional(c) or "L" for c in text]
    sos = "R" if base else "L"
    types = list(orig)
    prev = sos
    for i, t in enumerate(types):
        # W1, and X9 approximated: marks and invisible controls take the type before them.
        if t == "NSM" or t in _EXPLICIT:
            types[i] = "ON" if prev in ("LRI", "RLI", "FSI", "PDI") else prev
        prev = types[i]
    last = sos
    for i, t in enumerate(types):  # W2, W3
        if t in ("L", "R", "AL"):
            last = t
        elif t == "EN" and last == "AL":
            types[i] = "AN"
    types = ["R" if t == "AL" else t for t in types]
    for i in range(1, n - 1):  # W4
        a, t, b = types[i - 1], types[i], types[i + 1]
        if t == "ES" and a == b == "EN":
            types[i] = "EN"
        elif t == "CS" and a == b and a in ("EN", "AN"):
            types[i] = a
    i = 0
    while i < n:  # W5: European terminators next to European digits
        if types[i] != "ET":
            i += 1
            continue
        j = i
        while j < n and types[j] == "ET":
            j += 1
        if (i > 0 and types[i - 1] == "EN") or (j < n and types[j] == "EN"):
            types[i:j] = ["EN"] * (j - i)
        i = j
    types = ["ON" if t in ("ES", "ET", "CS") else t for t in types]  # W6
    last = sos
    for i, t in enumerate(types):  # W7
        if t in ("L", "R"):
            last = t
        elif t == "EN" and last == "L":
            types[i] = "L"
    i = 0
    while i < n:  # N1, N2: neutrals between equal directions take it, else the paragraph's
        if types[i] not in _NEUTRAL_TYPES:
            i += 1
            continue
        j = i
        while j < n and types[j] in _NEUTRAL_TYPES:
            j += 1
        before = sos if i == 0 else ("L" if types[i - 1] == "L" else "R")
        after = sos if j == n else ("L" if types[j] == "L" else "R")
        d = before if before == after else sos
        types[i:j] = [d] * (j - i)
        i = j
    if base:  # I1, I2
        levels = [2 if t in ("L", "EN", "AN") else 1 for t in types]
    else:
        levels = [1 if t == "R" else 2 if t in ("AN", "EN") else 0 for t in types]
    trailing = True  # L1: separators and the whitespace before them, and at the line's end, go back to the paragraph level
    for i in range(n - 1, -1, -1):
        t = orig[i]
        if t in ("S", "B"):
            levels[i] = base
            trailing = True
        elif trailing and (t in ("WS", "LRI", "RLI", "FSI", "PDI") or t in _EXPLICIT):
            levels[i] = base
        else:
            trailing = False
    return levels


def visual_order(levels: list[int]) -> list[int]:
    """Indices of items in left-to-right display order from their levels (rule L2)."""
    order = list(range(len(levels)))
    odd = [v for v in levels if v % 2]
    if not odd:
        return order
    for k in range(max(levels), min(odd) - 1, -1):
        i = 0
        while i < len(order):
            if levels[order[i]] < k:
                i += 1
                continue
            j = i
            while j < len(order) and levels[order[j]] >= k:
                j += 1
            order[i:j] = order[i:j][::-1]
            i = j
    return order
