"""What the audio-to-motion model hears: the feature front ends, whole or streamed.

Every front end turns mono audio at its `config.sample_rate` into feature
frames at `config.frame_rate`, frame j centred at (j + 0.5) / frame_rate
seconds, and offers `stream()` (push blocks, get the frames they complete,
`finish()` for the rest) and `silence()` (the frame of digital silence, used
to pad the network's edges). Kinds:

* `logmel`: 64 log-mel bands at 100 Hz (`audio.features.LogMel`), the
  first model's input;
* `whisper`: Whisper-base's encoder states (512 numbers at 50 Hz, see
  `speech.whisper`) with the log-mel bands averaged to the same 50 Hz
  beside them (576 numbers a frame). Whisper learned from 680 000 hours of
  real speech what the sounds of speech are, in every voice and room; the
  log-mel bands keep the level and fine timing the encoder smooths away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio.features import LogMel, MelConfig

FRONTENDS = ("logmel", "whisper")


@dataclass(frozen=True)
class FrontendConfig:
    """A front end's clock: input rate and frame rate (Hz)."""

    sample_rate: int
    frame_rate: float


class WhisperFrontend:
    """Whisper encoder states + log-mel bands pooled to 50 Hz: (frames, 512 + n_mels) float32."""

    def __init__(self, mel: MelConfig, whisper=None):
        from ..speech.whisper import STATE_HOP, STATE_RATE

        if STATE_HOP % mel.hop:
            raise ValueError(f"log-mel hop {mel.hop} must divide Whisper's {STATE_HOP} samples")
        self.mel = LogMel(mel)
        self.pool = STATE_HOP // mel.hop
        self.config = FrontendConfig(mel.sample_rate, float(STATE_RATE))
        self._whisper = whisper
        self._silence: np.ndarray | None = None

    @property
    def whisper(self):
        if self._whisper is None:
            from ..speech.whisper import get_whisper

            self._whisper = get_whisper()
        return self._whisper

    @property
    def dim(self) -> int:
        return frontend_dim("whisper", self.mel.config)

    def _pool(self, mel: np.ndarray, count: int) -> np.ndarray:
        need = count * self.pool
        if mel.shape[0] < need:   # the last state may cover a partial log-mel frame pair
            mel = np.concatenate([mel, np.repeat(mel[-1:] if mel.shape[0] else self.mel.silence()[None],
                                                 need - mel.shape[0], 0)])
        return mel[:need].reshape(count, self.pool, mel.shape[1]).mean(1)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Features (ceil(N / 320), dim) for N samples of mono 16 kHz audio."""
        states = self.whisper.encode(audio)
        return np.concatenate([states, self._pool(self.mel(audio), states.shape[0])], 1).astype(np.float32)

    def silence(self) -> np.ndarray:
        """The feature frame of digital silence (a state from the middle of 10 s of zeros)."""
        if self._silence is None:
            from ..speech.whisper import WINDOW_S

            states = self.whisper.encode_window(np.zeros(WINDOW_S * self.config.sample_rate, np.float32))
            self._silence = np.concatenate([states[states.shape[0] // 2], self.mel.silence()]).astype(np.float32)
        return self._silence

    def stream(self) -> "WhisperFeatureStream":
        return WhisperFeatureStream(self)


class WhisperFeatureStream:
    """`WhisperFrontend` on a stream: frames are released once both the encoder and the log-mel have them."""

    def __init__(self, frontend: WhisperFrontend):
        self.f = frontend
        self.enc = frontend.whisper.encoder_stream()
        self.mel = frontend.mel.stream()
        self.states = np.zeros((0, frontend.dim - frontend.mel.config.n_mels), np.float32)
        self.mels = np.zeros((0, frontend.mel.config.n_mels), np.float32)

    def _release(self, final: bool) -> np.ndarray:
        p = self.f.pool
        count = self.states.shape[0] if final else min(self.states.shape[0], self.mels.shape[0] // p)
        out = np.concatenate([self.states[:count], self.f._pool(self.mels[: count * p], count)], 1)
        self.states, self.mels = self.states[count:], self.mels[count * p:]
        return out.astype(np.float32)

    def push(self, block: np.ndarray) -> np.ndarray:
        self.states = np.concatenate([self.states, self.enc.push(block)])
        self.mels = np.concatenate([self.mels, self.mel.push(block)])
        return self._release(final=False)

    def finish(self) -> np.ndarray:
        self.states = np.concatenate([self.states, self.enc.finish()])
        self.mels = np.concatenate([self.mels, self.mel.finish()])
        return self._release(final=True)


def make_frontend(kind: str, mel: MelConfig):
    """The front end of `kind` (see the module docstring)."""
    if kind == "logmel":
        return LogMel(mel)
    if kind == "whisper":
        return WhisperFrontend(mel)
    raise ValueError(f"unknown feature front end {kind!r}; known: {', '.join(FRONTENDS)}")


def frontend_dim(kind: str, mel: MelConfig) -> int:
    """Numbers per feature frame of `kind`."""
    if kind == "whisper":
        from ..speech.whisper import STATE_DIM

        return STATE_DIM + mel.n_mels
    return mel.n_mels


def frontend_rate(kind: str, mel: MelConfig) -> float:
    """Feature frames per second of `kind`."""
    if kind == "whisper":
        from ..speech.whisper import STATE_RATE

        return float(STATE_RATE)
    return mel.frame_rate
