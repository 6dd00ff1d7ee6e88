"""Motion from audio alone: the learned model and two baselines, one interface.

Each audio motion model maps mono audio to per-10-ms cues (`OUTPUTS`: the
five mouth channels, `voice` and `onset`); `AudioMotion` turns the cues
into a `MotionTrack` at the video rate, adding blinks and a head that sways
while someone speaks, nods on word onsets and settles in pauses, the same
way `PhonemeMotion` does from phoneme times. Kinds:

* `learned`: `Audio2Motion`, a shipped network by name (`models.audio2motion.MODELS`: `v3`, the default,
  predicts the whole lip shape, which the track carries as its `shape`, with channels that agree with
  it; `v2` predicts channels) or a model folder;
* `loudness`: jaw opening follows the short-term level, nothing else moves
  with speech (the usual baseline);
* `still`: the mouth stays at rest (lower bound).

A shape model's mouth is gated (`gate`): `speech` (the default) rests it
wherever the Silero VAD hears no speech (`audio.vad`), so music, hum and
room noise leave the face still; `level` rests it only in near-silence.

`AudioMotion.stream` keeps memory constant for recordings of any length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..audio.features import LogMel, MelConfig, resample
from ..audio.vad import LOOKAHEAD_S, SpeechGate
from ..audio.vad import RATE as VAD_RATE
from ..audio.vad import WINDOW as VAD_WINDOW
from ..errors import AvatarkitError
from ..models.audio2motion import OUTPUTS, Audio2Motion
from ..speech.utterance import Utterance
from .animate import MotionConfig
from .idle import blink, sway
from .track import CHANNELS, MotionTrack

KINDS = ("learned", "loudness", "still")
GATES = ("speech", "level")   # what rests a shape model's mouth: no speech heard, or near-silence only
_REST = {"jaw": 0.0, "wide": 0.0, "round": 0.0, "press": 0.25, "dental": 0.0, "voice": 0.0, "onset": 0.0}
_LIMITS = {"jaw": (0, 1), "wide": (-1, 1), "round": (0, 1), "press": (0, 1), "dental": (0, 1),
           "voice": (0, 1), "onset": (0, 1)}


@dataclass(frozen=True)
class _CueConfig:
    mel: MelConfig
    lookahead: int = 0


class LoudnessCues:
    """Baseline: jaw from the level of each 10 ms frame relative to the recording's loud parts."""

    def __init__(self, mel: MelConfig | None = None, floor_db: float = 35.0):
        self.features = LogMel(mel or MelConfig())
        self.floor_db = floor_db
        self.config = _CueConfig(self.features.config)

    @staticmethod
    def level(feats: np.ndarray) -> np.ndarray:
        return np.log10(np.exp(feats).sum(1) + 1e-12) * 10

    def predict_features(self, feats: np.ndarray, ref: float | None = None) -> np.ndarray:
        energy = self.level(feats)
        if ref is None:
            ref = float(np.percentile(energy, 95)) if energy.size else 0.0
        jaw = np.clip((energy - (ref - self.floor_db)) / self.floor_db, 0, 1) ** 1.5
        out = np.zeros((feats.shape[0], len(OUTPUTS)), np.float32)
        out[:, OUTPUTS.index("jaw")] = jaw
        out[:, OUTPUTS.index("press")] = _REST["press"] * (1 - jaw)
        out[:, OUTPUTS.index("voice")] = jaw > 0.1
        return out

    def stream(self):
        return _Passthrough(self)


class StillCues(LoudnessCues):
    """Lower bound: the mouth never moves."""

    def predict_features(self, feats: np.ndarray, ref: float | None = None) -> np.ndarray:
        out = np.zeros((feats.shape[0], len(OUTPUTS)), np.float32)
        for i, k in enumerate(OUTPUTS):
            out[:, i] = _REST[k]
        return out


class _Passthrough:
    def __init__(self, cues):
        self.cues = cues
        self.ref: float | None = None

    def push(self, feats):
        if self.ref is None and feats.shape[0]:
            # A stream fixes its loud reference on the first block it sees.
            self.ref = float(np.percentile(self.cues.level(feats), 95))
        return self.cues.predict_features(feats, self.ref)

    def finish(self):
        return np.zeros((0, len(OUTPUTS)), np.float32)


def make_cues(kind: str = "learned", model_path: str | None = None):
    """The cue model for a kind (see module docstring); `model_path` is a model folder or a shipped model's name."""
    if kind == "learned":
        return Audio2Motion.from_pretrained(model_path)
    if kind == "loudness":
        return LoudnessCues()
    if kind == "still":
        return StillCues()
    raise AvatarkitError(f"unknown audio motion kind {kind!r}; known: {', '.join(KINDS)}")


def resample_stream(blocks: Iterable[np.ndarray], from_rate: int, to_rate: int) -> Iterator[np.ndarray]:
    """`audio.features.resample` of the concatenation of `blocks`, block by block, with the same samples.

    Each piece is resampled with enough of the signal on both sides for the polyphase filter (10 taps per
    phase either way) and starts on a multiple of the decimation, so the filter sees exactly what it sees
    in one pass over the whole; only the true ends are padded with zeros."""
    if from_rate == to_rate:
        for b in blocks:
            yield np.asarray(b, np.float32)
        return
    from math import gcd

    g = gcd(from_rate, to_rate)
    up, down = to_rate // g, from_rate // g
    ctx = down * (-(-(10 * max(up, down) // up + 2) // down) + 1)    # input samples each side, a multiple of down
    buf = np.zeros(0, np.float32)
    start = 0        # input index of buf[0], a multiple of `down`
    done = 0         # output samples yielded
    for b in blocks:
        buf = np.concatenate([buf, np.asarray(b, np.float32).reshape(-1)])
        upto = (start + buf.size - ctx) * up // down
        if upto - done >= 1024:
            off = start * up // down
            y = resample(buf, from_rate, to_rate)
            yield y[done - off:upto - off]
            done = upto
            keep = max(0, done * down // up - ctx)
            keep -= keep % down
            buf, start = buf[keep - start:], keep
    off = start * up // down
    total = -(-(start + buf.size) * up // down)
    yield resample(buf, from_rate, to_rate)[done - off:total - off]


LONG_S = 120.0    # recordings longer than this (seconds) are animated through the stream (`_animate_long`)


class AudioMotion:
    """Motion from a recording; kind `learned`, `loudness` or `still` (see module docstring)."""

    def __init__(self, kind: str = "learned", config: MotionConfig | None = None, model_path: str | None = None,
                 gate: str = "speech"):
        if gate not in GATES:
            raise AvatarkitError(f"unknown mouth gate {gate!r}; known: {', '.join(GATES)}")
        self.kind, self.gate = kind, gate
        self.cues = make_cues(kind, model_path)
        self.config = config or MotionConfig()
        # The cue clock: the front end's input rate and frame rate (Hz).
        self.mel = self.cues.features.config
        # A v3 model's cues are lip-shape coefficients; the track then carries the shape itself.
        self.has_shape = bool(getattr(self.cues, "has_shape", False))
        self.n_cues = len(self.cues.config.outputs) if isinstance(self.cues, Audio2Motion) else len(OUTPUTS)
        self.speech = SpeechGate() if self.has_shape and gate == "speech" else None
        if self.speech is not None and self.mel.sample_rate != VAD_RATE:
            # The gate hears the model's own input (whole, and block by block in `MotionStream`).
            raise AvatarkitError(f"the speech gate needs a {VAD_RATE} Hz front end; this model's is "
                                 f"{self.mel.sample_rate} Hz (use gate='level')")

    # -- cues → track -----------------------------------------------------
    def track(self, cues: np.ndarray, fps: int, start_frame: int, count: int, cue_offset: float = 0,
              speech: np.ndarray | None = None) -> MotionTrack:
        """A `MotionTrack` of `count` frames from 100 Hz `cues`; `cues[0]` is cue frame `cue_offset`.

        Video frame i (global `start_frame + i`) is sampled at its centre,
        (start_frame + i + 0.5) / fps seconds, by linear interpolation of the
        cue frames, whose centres are at (j + 0.5) * hop / rate seconds.
        `speech` (count,) is the speech gate at each frame (`audio.vad`; None: not gated).
        """
        rate = self.mel.frame_rate
        g = np.arange(start_frame, start_frame + count)
        pos = (g + 0.5) / fps * rate - 0.5 - cue_offset
        j = np.arange(cues.shape[0])
        if self.has_shape:
            if not cues.shape[0]:   # no sound at all: the rest shape
                shape = np.zeros((count, len(self.cues.config.shape_points), 2), np.float32)
            else:
                at = np.stack([np.interp(pos, j, cues[:, i]) for i in range(cues.shape[1])], 1)
                coefs, gate = self.cues.split_cues(at)
                if speech is not None:
                    gate = gate * speech
                shape = self.cues.decode_shape(coefs) * gate[:, None, None]
            return self._compose(self.cues.shape_channels(shape), fps, g, shape)
        vals = {}
        for i, k in enumerate(OUTPUTS):
            lo, hi = _LIMITS[k]
            col = np.interp(pos, j, cues[:, i]) if cues.shape[0] else np.full(count, _REST[k])
            vals[k] = np.clip(col, lo, hi)
        return self._compose(vals, fps, g)

    def _compose(self, vals: dict, fps: int, g: np.ndarray, shape: np.ndarray | None = None) -> MotionTrack:
        cfg = self.config
        out = {k: vals[k] for k in ("jaw", "wide", "round", "press", "dental")}
        out["blink"] = blink(g, fps, cfg.seed)
        if self.kind == "still":
            head = {c: np.zeros(g.size) for c in ("yaw", "pitch", "roll")}
        else:
            activity = np.clip(vals["voice"], 0, 1)
            scale = cfg.pause_stillness + (1 - cfg.pause_stillness) * activity
            head = {c: v * scale for c, v in sway(g, fps, cfg.seed).items()}
            head["pitch"] = head["pitch"] + cfg.word_nod * vals["onset"]
        out["brows"] = np.zeros(g.size)
        out.update(head)
        return MotionTrack(fps, int(g[0]) if g.size else 0,
                           {c: np.asarray(out[c], np.float32) for c in CHANNELS},
                           shape=shape, shape_points=self.cues.config.shape_points if shape is not None else ())

    # -- whole inputs -----------------------------------------------------
    def cues_for(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """100 Hz cues (frames, OUTPUTS) for mono `audio` at `sample_rate` Hz."""
        x = resample(audio, sample_rate, self.mel.sample_rate)
        return self.cues.predict_features(self.cues.features(x))

    def animate_audio(self, audio: np.ndarray, sample_rate: int, *, fps: int, start_frame: int = 0,
                      frames: int | None = None) -> MotionTrack:
        """Motion for a whole recording: `frames` frames (default: enough to cover it) at `fps`."""
        if frames is None:
            frames = max(1, -(-audio.size * fps // sample_rate))
        if start_frame == 0 and audio.size > LONG_S * sample_rate:
            return self._animate_long(audio, sample_rate, fps, frames)
        x = resample(audio, sample_rate, self.mel.sample_rate)
        c = self.cues_for(x, self.mel.sample_rate)
        speech = None
        if self.speech is not None:     # it hears the same 16 kHz samples as the model
            speech = self.speech.gate(self.speech.probabilities(x), (np.arange(frames) + 0.5) / fps)
        # The cue clock starts with this audio, the track's at global `start_frame`.
        return self.track(c, fps, start_frame, frames, cue_offset=start_frame / fps * self.mel.frame_rate,
                          speech=speech)

    def animate_blocks(self, blocks: Iterable[np.ndarray], samples: int, sample_rate: int, *, fps: int,
                       frames: int) -> MotionTrack:
        """`animate_audio` of a recording of `samples` samples handed over as consecutive blocks (of any
        sizes, e.g. read from its file): up to `LONG_S` gathered and animated whole, beyond that streamed,
        so that neither the recording nor its features are ever held whole."""
        if samples <= LONG_S * sample_rate:
            return self.animate_audio(np.concatenate([np.asarray(b, np.float32) for b in blocks]), sample_rate,
                                      fps=fps, frames=frames)
        return self._animate_stream(blocks, sample_rate, fps, frames)

    def _animate_long(self, audio: np.ndarray, sample_rate: int, fps: int, frames: int) -> MotionTrack:
        step = 10 * sample_rate
        return self._animate_stream((audio[a:a + step] for a in range(0, audio.size, step)), sample_rate, fps, frames)

    def _animate_stream(self, blocks: Iterable[np.ndarray], sample_rate: int, fps: int, frames: int) -> MotionTrack:
        """`animate_audio` through the stream, 10 s at a time: the features and the network's activations
        for an hour of speech would take gigabytes at once; streamed, memory does not grow with length."""
        from ..audio.io import rechunk

        stream = self.stream(fps)
        x = resample_stream(blocks, sample_rate, self.mel.sample_rate)
        pieces = [stream.push(b) for b in rechunk(x, 10 * self.mel.sample_rate)]
        pieces.append(stream.finish(frames))
        pieces = [p for p in pieces if p is not None and len(p)]
        values = {c: np.concatenate([p.values[c] for p in pieces])[:frames] for c in pieces[0].values}
        shape = np.concatenate([p.shape for p in pieces])[:frames] if pieces[0].shape is not None else None
        return MotionTrack(fps, 0, values, shape=shape, shape_points=pieces[0].shape_points)

    def animate(self, utt: Utterance, *, fps: int, start_frame: int = 0, gestures: Sequence = ()) -> MotionTrack:
        """`PhonemeMotion`-compatible: motion for an utterance from its audio alone (gestures ignored)."""
        sr = utt.sample_rate
        if sr % fps or utt.num_samples % (sr // fps):
            raise ValueError("utterance must cover a whole number of frames")
        return self.animate_audio(utt.audio, sr, fps=fps, start_frame=start_frame,
                                  frames=utt.num_samples // (sr // fps))

    # -- streams ----------------------------------------------------------
    def stream(self, fps: int) -> "MotionStream":
        """Incremental motion for a recording pushed in blocks of 16 kHz samples."""
        return MotionStream(self, fps)


class MotionStream:
    """Push 16 kHz audio blocks, get `MotionTrack` pieces whose frames are complete."""

    def __init__(self, motion: AudioMotion, fps: int):
        self.motion, self.fps = motion, fps
        self.features = motion.cues.features.stream()
        self.outputs = motion.cues.stream()
        self.cues = np.zeros((0, motion.n_cues), np.float32)
        self.cue0 = 0        # global index of self.cues[0]
        self.frame = 0       # next video frame to emit
        self.timings = {"features": 0.0, "network": 0.0, "track": 0.0}   # seconds of compute
        # The speech gate's window probabilities; `probs[0]` is window `p0` of the recording.
        self.vad = motion.speech.stream() if motion.speech is not None else None
        self.probs, self.p0 = np.zeros(0, np.float32), 0

    def _emit(self, upto: int) -> MotionTrack | None:
        count = upto - self.frame
        if count <= 0:
            return None
        speech = None
        if self.vad is not None:
            times = (np.arange(self.frame, upto) + 0.5) / self.fps
            # Windows before p0 were dropped: their hold can no longer reach these frames (see below).
            speech = self.motion.speech.gate(self.probs, times - self.p0 * VAD_WINDOW / VAD_RATE)
        tr = self.motion.track(self.cues, self.fps, self.frame, count, cue_offset=self.cue0, speech=speech)
        self.frame = upto
        if self.vad is not None:
            drop = max(0, int((self.frame / self.fps - 2 * LOOKAHEAD_S) * VAD_RATE / VAD_WINDOW) - self.p0)
            self.probs, self.p0 = self.probs[drop:], self.p0 + drop
        # Keep the cue frames the next video frame still interpolates from.
        keep_from = max(0, int(np.floor((self.frame + 0.5) / self.fps * self.motion.mel.frame_rate - 0.5)) - self.cue0 - 1)
        self.cues = self.cues[keep_from:]
        self.cue0 += keep_from
        return tr

    def push(self, block: np.ndarray) -> MotionTrack | None:
        t0 = time.perf_counter()
        feats = self.features.push(block)
        t1 = time.perf_counter()
        new = self.outputs.push(feats)
        if self.vad is not None:
            self.probs = np.concatenate([self.probs, self.vad.push(block)])
        t2 = time.perf_counter()
        self.cues = np.concatenate([self.cues, new])
        have = self.cue0 + self.cues.shape[0]  # cue frames known: [0, have)
        rate = self.motion.mel.frame_rate
        # Frame i needs cue frame floor(pos) + 1 with pos = (i + 0.5) / fps * rate - 0.5.
        upto = int(np.floor(((have - 1) + 0.5) / rate * self.fps - 0.5)) if have else 0
        if self.vad is not None:
            # A frame's gate reads the windows up to `LOOKAHEAD_S` after it: wait for them, as a whole pass would.
            heard = (self.p0 + self.probs.size) * VAD_WINDOW / VAD_RATE - LOOKAHEAD_S
            upto = min(upto, max(0, int(np.floor(heard * self.fps - 0.5)) + 1))
        track = self._emit(upto)
        self.timings["features"] += t1 - t0
        self.timings["network"] += t2 - t1
        self.timings["track"] += time.perf_counter() - t2
        return track

    def finish(self, total_frames: int) -> MotionTrack | None:
        """The remaining frames up to `total_frames` (the video's length)."""
        self.cues = np.concatenate([self.cues, self.outputs.push(self.features.finish()), self.outputs.finish()])
        if self.vad is not None:
            self.probs = np.concatenate([self.probs, self.vad.finish()])
        return self._emit(total_frames)
