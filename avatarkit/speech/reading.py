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


# The writing systems a voice of each language reads; Latin letters (names,
# acronyms, brands) are read by every voice. eSpeak names a letter of any other
# script ("Japanese letter") instead of reading it, so such text is refused.
_SCRIPTS = {
    "ja": {"CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "IDEOGRAPHIC", "HALFWIDTH", "FULLWIDTH"},
    "zh": {"CJK", "IDEOGRAPHIC", "FULLWIDTH"}, "cmn": {"CJK", "IDEOGRAPHIC", "FULLWIDTH"}, "hi": {"DEVANAGARI"},
    "ar": {"ARABIC"}, "fa": {"ARABIC"}, "he": {"HEBREW"}, "ru": {"CYRILLIC"}, "uk": {"CYRILLIC"},
    "el": {"GREEK"}, "th": {"THAI"}, "ko": {"HANGUL", "FULLWIDTH"},
}


def _script(ch: str) -> str:
    import unicodedata

    name = unicodedata.name(ch, "")
    return name.split(" ")[0] if name else ""


def check_script(tokens: Sequence[Token], language: str, voice_id: str) -> None:
    """Raise `VoiceError` naming the first word written in a script that a voice of `language` cannot read."""
    allowed = {"LATIN"} | _SCRIPTS.get(language.split("-")[0].lower(), set())
    for t in tokens:
        if t.say or t.ipa:
            continue  # the lexicon says how to read it
        for ch in t.text:
            if ch.isalpha() and _script(ch) not in allowed:
                raise VoiceError(f"voice {voice_id!r} ({language}) cannot read {t.text!r} "
                                 f"({_script(ch).title()} script); give that text a voice of its language, "
                                 "or a lexicon `say:` respelling")
