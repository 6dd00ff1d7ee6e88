"""Motion from phonemes: visemes, coarticulation, idle motion, gestures."""

from __future__ import annotations

import numpy as np

from avatarkit.motion import CHANNELS, MotionTrack, PhonemeMotion
from avatarkit.motion.idle import blink, sway
from avatarkit.motion.visemes import BILABIAL, VOWEL_A, VOWEL_U, viseme_for
from avatarkit.script.model import Gesture
from avatarkit.speech.utterance import Phone, Utterance, Word

SR, FPS, SPF = 48000, 25, 1920


def _utt(phones, total_s=3.0, words=()):
    n = int(total_s * SR) // SPF * SPF
    ph = [Phone(s, int(a * SR), int(b * SR)) for s, a, b in phones]
    return Utterance(np.zeros(n, np.float32), SR, ph, list(words))


def test_viseme_lookup():
    assert viseme_for("m") is BILABIAL and viseme_for("ɑː") is VOWEL_A and viseme_for("uː") is VOWEL_U
    assert viseme_for("tʃ").name == "SH"
    assert viseme_for("☃").name == "TDN"  # unknown symbols still animate


def test_every_letter_the_english_voice_speaks_has_a_viseme():
    # eSpeak writes /g/ as U+0261 and the reduced vowel of "roses" as U+1D7B; both had fallen
    # through to the neutral consonant, so every "g" animated as a "d".
    import unicodedata

    from avatarkit.script import parse_text
    from avatarkit.script.model import Script
    from avatarkit.speech.engines.base import make_engine
    from avatarkit.speech.phrases import tokens_for
    from avatarkit.speech.voice import get_voice

    voice = get_voice("en-us-joe")
    text = ("The quick brown fox jumps over the lazy dog; roses bloom, and we measure the judge's thoughts "
            "about a huge, azure vision in the garage.")
    toks = [t for ph in parse_text(text, field="t") for t in tokens_for(ph, Script(title="", scenes=[]), "en")]
    phones = make_engine(voice).synthesize(toks).phones
    letters = {ch for p in phones for ch in p.symbol if unicodedata.category(ch) not in ("Lm", "Mn", "Sk")}
    assert "ɡ" in letters and "ᵻ" in letters      # the voice does write them
    fallbacks = sorted(ch for ch in letters if viseme_for(ch).name == "TDN" and ch not in "tdnɾɗ")
    assert not fallbacks, f"letters without a viseme: {fallbacks}"


def test_a_word_starting_with_r_rounds_the_lips_from_its_first_frame():
    # "Remember", with the timings the Piper voice gives it: the /r/ is 35 ms before a short vowel and an /m/.
    u = _utt([("ɹ", 1.07, 1.104), ("ᵻ", 1.104, 1.174), ("m", 1.174, 1.209), ("ɛ", 1.209, 1.279),
              ("m", 1.279, 1.325), ("b", 1.325, 1.372), ("ɚ", 1.372, 1.418)])
    m = PhonemeMotion().animate(u, fps=FPS)
    t = (np.arange(len(m)) + 0.5) / FPS
    onset = (t > 0.95) & (t < 1.12)                               # the /r/ and the frames leading into it
    assert m["round"][onset].max() > 0.25, m["round"][onset]      # the rounding shows before the lips close
    assert m["round"][t < 0.7].max() < 0.05
    assert m["press"][np.argmin(np.abs(t - 1.19))] > 0.5            # and the /m/ still closes them


def test_mouth_closed_in_silence_open_in_speech():
    u = _utt([("h", 1.0, 1.08), ("ɑ", 1.08, 1.35), ("p", 1.35, 1.42), ("ɑ", 1.42, 1.7)])
    m = PhonemeMotion().animate(u, fps=FPS)
    jaw, press = m["jaw"], m["press"]
    t = (np.arange(len(m)) + 0.5) / FPS
    assert jaw[t < 0.7].max() < 0.05 and jaw[t > 2.2].max() < 0.05
    assert jaw[(t > 1.15) & (t < 1.3)].max() > 0.6
    # The /p/ between the vowels closes the lips even though both neighbours are open.
    k = np.argmin(np.abs(t - 1.385))
    assert press[k] > 0.6 and press[k] > 3 * press[np.argmin(np.abs(t - 1.2))]


def test_coarticulation_carries_rounding_across_consonants():
    # /s/ before /u/ is rounded, /s/ before /i/ is not (anticipatory rounding).
    su = PhonemeMotion().animate(_utt([("s", 1.0, 1.12), ("uː", 1.12, 1.4)]), fps=FPS)
    si = PhonemeMotion().animate(_utt([("s", 1.0, 1.12), ("iː", 1.12, 1.4)]), fps=FPS)
    k = int(1.06 * FPS)
    assert su["round"][k] > si["round"][k] + 0.2


def test_idle_motion_is_a_pure_function_of_the_global_frame():
    frames = np.arange(0, 2000)
    whole = blink(frames, FPS, seed=3)
    parts = np.concatenate([blink(frames[:777], FPS, 3), blink(frames[777:], FPS, 3)])
    assert np.array_equal(whole, parts)
    s1, s2 = sway(frames, FPS, 3), sway(frames[500:], FPS, 3)
    assert np.array_equal(s1["yaw"][500:], s2["yaw"])


def test_blink_rate_is_human():
    frames = np.arange(0, 10 * 60 * FPS)
    b = blink(frames, FPS, seed=0)
    onsets = np.sum((b[1:] > 0.5) & (b[:-1] <= 0.5))
    per_min = onsets / 10
    assert 12 <= per_min <= 22, per_min
    closed_s = np.sum(b > 0.5) / FPS
    assert closed_s / 600 < 0.06  # eyes are open almost all the time


def test_head_is_stiller_in_pauses_and_nods_with_words():
    words = [Word("go", int(1.0 * SR), int(1.3 * SR), 0), Word("now", int(1.5 * SR), int(1.9 * SR), 1, True)]
    u = _utt([("ɡ", 1.0, 1.1), ("oʊ", 1.1, 1.3), ("n", 1.5, 1.6), ("aʊ", 1.6, 1.9)], total_s=6.0, words=words)
    m = PhonemeMotion().animate(u, fps=FPS)
    t = (np.arange(len(m)) + 0.5) / FPS
    speech = (t > 1.0) & (t < 2.0)
    pause = t > 3.5
    move = np.abs(np.diff(m["pitch"])) + np.abs(np.diff(m["yaw"]))
    assert move[speech[1:]].mean() > 2 * move[pause[1:]].mean()
    assert m["brows"][(t > 1.5) & (t < 1.9)].max() > 0.3   # emphasised word raises the brows


def test_gestures_happen_and_end_inside_the_phrase():
    words = [Word("yes", int(0.3 * SR), int(0.6 * SR), 0)]
    u = _utt([("j", 0.3, 0.4), ("ɛ", 0.4, 0.5), ("s", 0.5, 0.6)], total_s=1.0, words=words)
    for kind, ch in (("nod", "pitch"), ("shake", "yaw"), ("tilt", "roll"), ("brows", "brows")):
        plain = PhonemeMotion().animate(u, fps=FPS)
        g = PhonemeMotion().animate(u, fps=FPS, gestures=[Gesture(kind, 0)])
        diff = np.abs(g[ch] - plain[ch])
        assert diff.max() > 0.02, kind
        assert diff[-1] < 1e-3, kind  # back at rest by the phrase end


def test_track_shape_and_channels():
    m = MotionTrack.zeros(10, FPS, start=5)
    assert len(m) == 10 and m.as_array().shape == (10, len(CHANNELS))
    assert set(m.frame(0)) == set(CHANNELS)
