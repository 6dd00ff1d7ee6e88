"""Phoneme (IPA) to viseme targets, with per-channel dominance strengths.

A viseme is a target for the mouth channels (jaw, wide, round, press,
dental). Each phoneme class also says how strongly it holds each channel
against its neighbours (`strength`) and how quickly that hold fades
(`rate`, per second): a /p/ must close the lips whatever surrounds it, while
an /s/ leaves lip rounding to the neighbouring vowel ("see" vs "sue"). This
is the dominance-function idea of Cohen and Massaro, with the per-articulator
split that JALI argues for.
"""

from __future__ import annotations

from dataclasses import dataclass

MOUTH = ("jaw", "wide", "round", "press", "dental")


@dataclass(frozen=True)
class Viseme:
    name: str
    target: tuple[float, float, float, float, float]     # MOUTH order
    strength: tuple[float, float, float, float, float]   # dominance magnitude per channel
    rate: float = 12.0                                    # dominance decay, 1/s


def _v(name, jaw=0.0, wide=0.0, round=0.0, press=0.0, dental=0.0, lips=1.0, jaw_s=1.0, rate=12.0):
    # `lips` scales how much this phoneme controls the lip channels; `jaw_s` the jaw.
    return Viseme(name, (jaw, wide, round, press, dental),
                  (jaw_s, lips, lips, lips, lips), rate)


REST = _v("rest", jaw=0.0, press=0.25, jaw_s=0.8, lips=0.8, rate=8.0)
BILABIAL = _v("PBM", jaw=0.02, press=1.0, lips=4.0, jaw_s=3.0, rate=30.0)
LABIODENTAL = _v("FV", jaw=0.08, dental=1.0, lips=3.5, jaw_s=2.0, rate=30.0)
DENTAL = _v("TH", jaw=0.18, wide=0.1, lips=0.4, jaw_s=1.5)
ALVEOLAR = _v("TDN", jaw=0.16, lips=0.15, jaw_s=1.2)
SIBILANT = _v("SZ", jaw=0.08, wide=0.25, lips=0.3, jaw_s=1.6)
POSTALVEOLAR = _v("SH", jaw=0.12, round=0.6, lips=1.5, jaw_s=1.4)
VELAR = _v("KG", jaw=0.25, lips=0.1, jaw_s=0.8)
GLOTTAL = _v("H", jaw=0.3, lips=0.05, jaw_s=0.3)
# English /r/ is made with rounded, pushed-out lips ([ɹʷ]). At 0.45 and the default lip weight its rounding
# drowned in a short /r/'s neighbours, so a live sentence starting "Remember…" showed no mouth change for
# 400 ms after its sound began (opening r on the train split: 0.316 -> 0.314 with this, dev 0.495 -> 0.494).
RHOTIC = _v("R", jaw=0.18, round=0.7, lips=1.6)
W = _v("W", jaw=0.08, round=1.0, lips=3.0, jaw_s=1.2)
J = _v("Y", jaw=0.12, wide=0.4, lips=0.6)
LATERAL = _v("L", jaw=0.25, lips=0.2)

VOWEL_I = _v("I", jaw=0.22, wide=0.7, lips=1.2, jaw_s=1.5)
VOWEL_E = _v("E", jaw=0.45, wide=0.4, lips=1.0, jaw_s=1.5)
VOWEL_AE = _v("AE", jaw=0.7, wide=0.35, lips=1.0, jaw_s=1.8)
VOWEL_A = _v("A", jaw=0.85, wide=0.1, lips=1.0, jaw_s=2.0)
VOWEL_SCHWA = _v("@", jaw=0.35, lips=0.4, jaw_s=0.9, rate=14.0)
VOWEL_ER = _v("ER", jaw=0.3, round=0.3, lips=0.8)
VOWEL_OPEN_O = _v("AO", jaw=0.6, round=0.55, lips=1.2, jaw_s=1.6)
VOWEL_O = _v("O", jaw=0.45, round=0.8, lips=1.5, jaw_s=1.5)
VOWEL_U_LAX = _v("UH", jaw=0.25, round=0.65, lips=1.3)
VOWEL_U = _v("U", jaw=0.18, round=1.0, lips=2.0, jaw_s=1.2)
VOWEL_FRONT_ROUND = _v("Y_", jaw=0.22, round=0.9, wide=-0.2, lips=2.0)
VOWEL_MID_FRONT_ROUND = _v("OE", jaw=0.4, round=0.7, lips=1.6)

_TABLE: dict[str, Viseme] = {}
for chars, vis in [
    ("pbmɱ", BILABIAL), ("ɸβ", BILABIAL), ("fv", LABIODENTAL), ("θð", DENTAL),
    ("tdnɾɗ", ALVEOLAR), ("szʦʣ", SIBILANT), ("ʃʒɕʑʂʐ", POSTALVEOLAR),
    ("kgɡŋxɣqɢχʁɲcɟç", VELAR), ("hɦʔħʕ", GLOTTAL), ("ɹrɻʀ", RHOTIC), ("wʍɥ", W),
    ("j", J), ("lɫʎʟɬ", LATERAL),
    ("iɪɨᵻ", VOWEL_I), ("eɛ", VOWEL_E), ("æ", VOWEL_AE), ("aɑɐɒ", VOWEL_A),
    ("əʌɘ", VOWEL_SCHWA), ("ɜɚɝ", VOWEL_ER), ("ɔ", VOWEL_OPEN_O), ("oɤ", VOWEL_O),
    ("ʊ", VOWEL_U_LAX), ("uɯ", VOWEL_U), ("yʏ", VOWEL_FRONT_ROUND), ("øœɵ", VOWEL_MID_FRONT_ROUND),
]:
    for ch in chars:
        _TABLE[ch] = vis

_VOWELS = set("iɪɨᵻeɛæaɑɐɒəʌɘɜɚɝɔoɤʊuɯyʏøœɵ")


def viseme_for(symbol: str) -> Viseme:
    """The viseme of one IPA phoneme; affricates (tʃ) take their second part's lips.

    Unknown symbols fall back on a neutral consonant, so a new language never
    fails to animate, it is only less precise.
    """
    core = [ch for ch in symbol if ch in _TABLE]
    if not core:
        return ALVEOLAR
    if len(core) > 1 and core[0] in "td" and core[1] in "ʃʒsz":
        return _TABLE[core[1]]
    vowels = [ch for ch in core if ch in _VOWELS]
    return _TABLE[vowels[0]] if vowels else _TABLE[core[0]]
