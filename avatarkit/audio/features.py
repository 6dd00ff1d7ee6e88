"""Log-mel features on a sample-exact clock, whole or streamed.

Frame j describes the audio around sample (j + 0.5) * hop: its window of
`n_fft` samples is centred there, with zeros before the start and after the
end of the recording. A recording of N samples has ceil(N / hop) frames, so
frame j covers exactly samples [j * hop, (j + 1) * hop), the same way a
video frame covers its share of the audio track. `MelStream` produces
bit-for-bit the frames `LogMel.__call__` produces, block by block, for
inputs of any length.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

LOG_FLOOR = 1e-8


@dataclass(frozen=True)
class MelConfig:
    """Feature settings: rate (Hz), hop and FFT size (samples), mel band count and range (Hz)."""

    sample_rate: int = 16000
    hop: int = 160
    n_fft: int = 512
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 7600.0

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def to_dict(self) -> dict:
        return asdict(self)


def n_frames(num_samples: int, hop: int) -> int:
    """Frames for `num_samples` samples: ceil(N / hop)."""
    return -(-num_samples // hop)


class LogMel:
    """Natural-log mel power spectrogram, (frames, n_mels) float32."""

    def __init__(self, config: MelConfig | None = None):
        import librosa

        self.config = c = config or MelConfig()
        self.basis = librosa.filters.mel(sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels,
                                         fmin=c.fmin, fmax=c.fmax).astype(np.float32)
        self.window = np.hanning(c.n_fft + 1)[:-1].astype(np.float32)
        # Window j starts `left` samples before frame j's first sample.
        self.left = c.n_fft // 2 - c.hop // 2

    def silence(self) -> np.ndarray:
        """The feature vector of digital silence."""
        return np.full(self.config.n_mels, np.log(LOG_FLOOR), np.float32)

    def _frames(self, padded: np.ndarray, count: int) -> np.ndarray:
        c = self.config
        if count <= 0:
            return np.zeros((0, c.n_mels), np.float32)
        idx = np.lib.stride_tricks.sliding_window_view(padded, c.n_fft)[::c.hop][:count]
        spec = np.fft.rfft(idx * self.window, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        return np.log(power @ self.basis.T + LOG_FLOOR).astype(np.float32)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Features of a whole mono recording at `config.sample_rate`."""
        c = self.config
        x = np.asarray(audio, np.float32).reshape(-1)
        count = n_frames(x.size, c.hop)
        right = count * c.hop + c.n_fft - self.left - x.size
        padded = np.concatenate([np.zeros(self.left, np.float32), x, np.zeros(max(0, right), np.float32)])
        return self._frames(padded, count)

    def stream(self) -> "MelStream":
        return MelStream(self)


class MelStream:
    """Incremental `LogMel`: `push` blocks of samples, then `finish`."""

    def __init__(self, mel: LogMel):
        self.mel = mel
        self.buf = np.zeros(mel.left, np.float32)
        self.samples = 0
        self.emitted = 0

    def push(self, block: np.ndarray) -> np.ndarray:
        """Frames whose windows are complete after `block`."""
        c = self.mel.config
        block = np.asarray(block, np.float32).reshape(-1)
        self.samples += block.size
        self.buf = np.concatenate([self.buf, block])
        ready = (self.buf.size - c.n_fft) // c.hop + 1 if self.buf.size >= c.n_fft else 0
        # Frames past the end of the audio are only known at `finish`.
        ready = min(ready, n_frames(self.samples, c.hop) - self.emitted)
        out = self.mel._frames(self.buf, ready)
        self.emitted += max(ready, 0)
        if ready > 0:
            self.buf = self.buf[ready * c.hop:]
        return out

    def finish(self) -> np.ndarray:
        """The remaining frames, with zeros after the last sample."""
        c = self.mel.config
        count = n_frames(self.samples, c.hop) - self.emitted
        need = (count - 1) * c.hop + c.n_fft if count > 0 else 0
        padded = np.concatenate([self.buf, np.zeros(max(0, need - self.buf.size), np.float32)])
        out = self.mel._frames(padded, count)
        self.emitted += max(count, 0)
        self.buf = np.zeros(0, np.float32)
        return out


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling of a mono float array (exact length N * to / from, rounded up)."""
    if from_rate == to_rate:
        return np.asarray(audio, np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(from_rate, to_rate)
    return resample_poly(np.asarray(audio, np.float32), to_rate // g, from_rate // g).astype(np.float32)
