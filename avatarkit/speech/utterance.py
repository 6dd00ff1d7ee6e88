"""The data a voice hands to the rest of the pipeline.

Times are integer sample indices on the utterance's own clock, never float
seconds, so that phonemes, words and video frames line up exactly after
resampling (see `Utterance.resampled`). `speech_bytes` and `read_speech`
store utterances as .npz bytes (a render's parts, the speech cache).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Token:
    """One written word of a phrase, as it goes to a voice.

    `text` is the word as written (it is what captions show). `say` is a
    respelling and `ipa` a phoneme string from the script's lexicon; an engine
    uses whichever it supports. `emphasis` marks a word the script stressed.
    """

    text: str
    say: str | None = None
    ipa: str | None = None
    emphasis: bool = False


@dataclass(frozen=True)
class Phone:
    """A phoneme (IPA symbol, stress marks dropped) spanning samples [start, end)."""

    symbol: str
    start: int
    end: int


@dataclass(frozen=True)
class Word:
    """A written word spanning samples [start, end); `index` is its Token index."""

    text: str
    start: int
    end: int
    index: int
    emphasis: bool = False


@dataclass
class Utterance:
    """Speech audio with its phonemes and words timed to the sample.

    `audio` is mono float32 in [-1, 1] at `sample_rate` Hz. `phones` cover the
    voiced parts in order; gaps between them are silence. `words` map back to
    the tokens that were spoken, so captions and gestures can be placed.
    """

    audio: np.ndarray
    sample_rate: int
    phones: list[Phone] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    text: str = ""

    @property
    def num_samples(self) -> int:
        return int(self.audio.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds (for display only; code should count samples)."""
        return self.num_samples / self.sample_rate

    def resampled(self, sample_rate: int) -> "Utterance":
        """Return this utterance at `sample_rate` Hz, times rescaled exactly.

        Uses libsoxr's high-quality resampler (linear phase, no delay); a
        time t (samples) maps to round(t * new / old), so boundaries stay on
        the same instant.
        """
        if sample_rate == self.sample_rate:
            return self
        import soxr

        audio = soxr.resample(self.audio.astype(np.float32), self.sample_rate, sample_rate, quality="HQ")
        n = int(round(self.num_samples * sample_rate / self.sample_rate))
        audio = _fit(audio, n)

        def t(x: int) -> int:
            return min(n, int(round(x * sample_rate / self.sample_rate)))

        return replace(
            self,
            audio=audio,
            sample_rate=sample_rate,
            phones=[Phone(p.symbol, t(p.start), t(p.end)) for p in self.phones],
            words=[replace(w, start=t(w.start), end=t(w.end)) for w in self.words],
        )

    def padded(self, before: int, after: int) -> "Utterance":
        """Return this utterance with `before`/`after` samples of silence added."""
        audio = np.concatenate([
            np.zeros(before, np.float32), self.audio.astype(np.float32), np.zeros(after, np.float32)
        ])
        return replace(
            self,
            audio=audio,
            phones=[Phone(p.symbol, p.start + before, p.end + before) for p in self.phones],
            words=[replace(w, start=w.start + before, end=w.end + before) for w in self.words],
        )


def _fit(audio: np.ndarray, n: int) -> np.ndarray:
    if audio.shape[0] >= n:
        return audio[:n]
    return np.concatenate([audio, np.zeros(n - audio.shape[0], audio.dtype)])


def words_from_phones(tokens: list[Token], phones: list[Phone], total: int) -> list[Word]:
    """Spread `tokens` over the speech span when an engine gives no word times.

    Each token gets a share of the voiced span proportional to its length in
    letters; the result is approximate and only used where an engine cannot
    report word boundaries (captions are cut at phrase boundaries, which are
    exact, so this only moves cue splits inside a long phrase).
    """
    if not tokens:
        return []
    start = phones[0].start if phones else 0
    end = phones[-1].end if phones else total
    weights = np.array([max(1, len(t.text)) for t in tokens], np.float64)
    edges = start + np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * (end - start)
    edges = np.round(edges).astype(int)
    return [Word(t.text, int(edges[i]), int(edges[i + 1]), i, t.emphasis) for i, t in enumerate(tokens)]


def speech_bytes(utterances: list[Utterance], gains: dict[str, float]) -> bytes:
    """A part's speech as the bytes of an .npz: the samples, and the phones and words as JSON (no pickles)."""
    meta = {"gains": gains, "items": [
        {"rate": u.sample_rate, "n": u.num_samples, "text": u.text,
         "phones": [[p.symbol, p.start, p.end] for p in u.phones],
         "words": [[w.text, w.start, w.end, w.index, w.emphasis] for w in u.words]} for u in utterances]}
    audio = np.concatenate([u.audio for u in utterances]).astype(np.float32) if utterances else np.zeros(0, np.float32)
    buf = io.BytesIO()
    np.savez(buf, audio=audio, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    return buf.getvalue()


def read_speech(src: Path | bytes) -> tuple[list[Utterance], dict[str, float]]:
    """The utterances and loudness gains that `speech_bytes` wrote (a file, or the bytes themselves)."""
    with np.load(io.BytesIO(src) if isinstance(src, bytes) else src, allow_pickle=False) as z:
        audio, meta = z["audio"], json.loads(z["meta"].tobytes())
    out, pos = [], 0
    for m in meta["items"]:
        a = audio[pos:pos + m["n"]].copy()
        pos += m["n"]
        out.append(Utterance(a, m["rate"], [Phone(*p) for p in m["phones"]], [Word(*w) for w in m["words"]], m["text"]))
    return out, meta["gains"]
