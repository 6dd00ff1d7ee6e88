"""How a voice should read a word: Japanese kanji spelled out in kana for eSpeak.

eSpeak NG's Japanese voice reads kana, but it names each kanji as a
"Chinese letter" instead of reading it. pykakasi (a kanji dictionary on
PyPI, GPL-3.0-or-later) gives the kana reading, which becomes the token's
spoken form while the written word stays in the captions.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from typing import Sequence

from ..errors import VoiceError
from .utterance import Token

_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆]")


@lru_cache(maxsize=1)
def _kakasi():
    try:
        import pykakasi
    except ImportError:
        raise VoiceError("reading Japanese kanji needs the pykakasi package (pip install pykakasi)") from None
    return pykakasi.kakasi()


def kana_reading(text: str) -> str:
    """`text` with every kanji run replaced by its hiragana reading; kana, Latin and digits unchanged."""
    if not _KANJI.search(text):
        return text
    return "".join(part["hira"] if _KANJI.search(part["orig"]) else part["orig"] for part in _kakasi().convert(text))


def readable(tokens: Sequence[Token], language: str) -> list[Token]:
    """Tokens as a voice of `language` should say them: Japanese kanji become kana (`say`), unless respelled."""
    if not language.lower().startswith("ja"):
        return list(tokens)
    return [t if t.say or t.ipa else replace(t, say=kana_reading(t.text)) if _KANJI.search(t.text) else t
            for t in tokens]
