"""Loudness normalisation to a fixed target (EBU R128 style, -16 LUFS).

-16 LUFS integrated is the usual target for speech published online (and
for e-learning, which is watched on laptop speakers); peaks are kept below
-1 dBFS. Each phrase is measured on its own (phrases are what avatarkit
streams); phrases too short to measure (< 0.4 s) reuse the previous gain.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np

TARGET_LUFS = -16.0
# Limit at -1.7 dBFS so that after AAC encoding (which overshoots a little)
# decoded peaks stay below -1 dBFS: at -1.5 a Piper voice's decoded peaks
# reached -0.95 dBFS on one CPU model (its samples differ between models).
PEAK_DBFS = -1.7


class LoudnessNormalizer:
    """Stateful per-phrase normaliser: `__call__(audio) -> audio` at `sample_rate` Hz."""

    def __init__(self, sample_rate: int, target_lufs: float = TARGET_LUFS, peak_dbfs: float = PEAK_DBFS):
        if sample_rate == StreamLoudness.RATE:
            self.measure = phrase_loudness
        else:
            import pyloudnorm

            self.measure = pyloudnorm.Meter(sample_rate).integrated_loudness
        self.sample_rate = sample_rate
        self.target = target_lufs
        self.peak = 10 ** (peak_dbfs / 20)
        self.gain = 1.0

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        measurable = audio.size >= int(0.4 * self.sample_rate) and np.abs(audio).max() > 1e-4
        if measurable:
            loud = self.measure(audio.astype(np.float64))
            if np.isfinite(loud):
                self.gain = 10 ** ((self.target - loud) / 20)
        out = limit(audio * self.gain, self.peak, self.sample_rate)
        if measurable:
            # Limiting peaky speech lowers its loudness; make up the difference (each limit pass takes some
            # of the make-up back, so up to four passes, until within 0.2 dB).
            for _ in range(4):
                loud = self.measure(out.astype(np.float64))
                if not np.isfinite(loud) or loud >= self.target - 0.2:
                    break
                self.gain *= 10 ** ((self.target - loud) / 20)
                out = limit(audio * self.gain, self.peak, self.sample_rate)
        return out.astype(np.float32)


def limit(audio: np.ndarray, ceiling: float, sample_rate: int, window_s: float = 0.005) -> np.ndarray:
    """Look-ahead peak limiter: keep |audio| <= `ceiling` without clipping distortion.

    The gain each sample needs is spread over a `window_s` window on both
    sides (a minimum filter, then smoothing), so it ramps down before a peak
    and back up after it instead of flattening the waveform.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    mag = np.abs(audio)
    if mag.size == 0 or mag.max() <= ceiling:
        return audio
    need = np.minimum(1.0, ceiling / np.maximum(mag, 1e-12))
    w = max(3, int(window_s * sample_rate) | 1)
    gain = uniform_filter1d(minimum_filter1d(need, 2 * w + 1), w)
    out = audio * np.minimum(gain, need)  # the smoothing may leave a sliver over; never exceed
    return out


# ITU-R BS.1770 K-weighting at 48 kHz: a high shelf (head effects) then a high pass (RLB).
_K_SOS_48K = np.array([
    [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
    [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
])


class StreamLoudness:
    """Integrated loudness (LUFS, BS.1770 gating) of 48 kHz audio pushed in blocks of any size.

    Only one mean square per 100 ms is kept, so an hour costs 36 000 floats.
    """

    RATE = 48_000

    def __init__(self):
        from scipy.signal import sosfilt_zi

        self.zi = sosfilt_zi(_K_SOS_48K) * 0.0
        self.rest = np.zeros(0)
        self.squares: list[float] = []
        self.peak = 0.0

    def push(self, block: np.ndarray) -> None:
        from scipy.signal import sosfilt

        x = np.asarray(block, np.float64)
        if x.size:
            self.peak = max(self.peak, float(np.abs(x).max()))
        y, self.zi = sosfilt(_K_SOS_48K, x, zi=self.zi)
        y = np.concatenate([self.rest, y])
        step = self.RATE // 10
        n = y.size // step
        if n:
            self.squares += list((y[: n * step].reshape(n, step) ** 2).mean(1))
        self.rest = y[n * step:]

    def integrated(self) -> float:
        """Gated integrated loudness in LUFS (-inf for silence or under 0.4 s)."""
        return _gated(np.asarray(self.squares))


def phrase_loudness(audio: np.ndarray) -> float:
    """Integrated loudness (LUFS, BS.1770 gating) of a whole 48 kHz phrase; -inf for silence or under 0.4 s.

    The same measure as `StreamLoudness`, for audio that is all at hand: the
    K-weighting is applied in the frequency domain (the filters' exact
    response, zero-padded past their 8192-sample memory), which needs only
    numpy, so speaking a phrase does not wait for SciPy's signal module to
    import (a second, on the first frame's path).
    """
    x = np.asarray(audio, np.float64)
    step = StreamLoudness.RATE // 10
    if x.size < 4 * step:
        return float("-inf")
    size = 1 << int(np.ceil(np.log2(x.size + 8192)))
    y = np.fft.irfft(np.fft.rfft(x, size) * _k_response(size), size)[:x.size]
    n = y.size // step
    return _gated((y[: n * step].reshape(n, step) ** 2).mean(1))


_K_RESPONSES: dict[int, np.ndarray] = {}


def _k_response(size: int) -> np.ndarray:
    """The K-weighting filters' frequency response at the bins of a real FFT of `size` samples."""
    if size not in _K_RESPONSES:
        z1 = np.exp(-1j * np.pi * np.arange(size // 2 + 1) / (size // 2))   # z^-1 on the unit circle
        h = np.ones(size // 2 + 1, np.complex128)
        for b0, b1, b2, a0, a1, a2 in _K_SOS_48K:
            h *= (b0 + b1 * z1 + b2 * z1 * z1) / (a0 + a1 * z1 + a2 * z1 * z1)
        _K_RESPONSES[size] = h
    return _K_RESPONSES[size]


def _gated(q: np.ndarray) -> float:
    """BS.1770 gated loudness (LUFS) from mean squares of consecutive 100 ms blocks of K-weighted audio."""
    if q.size < 4:
        return float("-inf")
    blocks = np.convolve(q, np.ones(4) / 4, "valid")           # 400 ms windows, 75 % overlap
    lufs = -0.691 + 10 * np.log10(np.maximum(blocks, 1e-20))
    keep = blocks[lufs > -70]
    if keep.size == 0:
        return float("-inf")
    rel = -0.691 + 10 * np.log10(keep.mean()) - 10
    keep = blocks[(lufs > -70) & (lufs > rel)]
    return float(-0.691 + 10 * np.log10(keep.mean()))


def stream_gain(loudness: StreamLoudness, target_lufs: float = TARGET_LUFS) -> float:
    """The linear gain that brings a measured stream to `target_lufs` (1.0 for silence)."""
    loud = loudness.integrated()
    if not np.isfinite(loud):
        return 1.0
    return float(10 ** ((target_lufs - loud) / 20))


def limit_stream(blocks, gain: float, sample_rate: int, peak_dbfs: float = PEAK_DBFS):
    """Apply `gain` to a stream of blocks and `limit` the peaks, block for block (one block of delay).

    Each block is limited with 10 ms of its neighbours on both sides, so the
    limiter's 5 ms ramps do not stop at block edges; every output block has
    the size of its input block.
    """
    ceiling = 10 ** (peak_dbfs / 20)
    ctx = sample_rate // 100
    prev, tail = None, np.zeros(0, np.float32)
    for cur in blocks:
        cur = np.asarray(cur, np.float32) * gain
        if prev is not None:
            seg = limit(np.concatenate([tail, prev, cur[:ctx]]), ceiling, sample_rate)
            yield seg[tail.size:tail.size + prev.size].astype(np.float32)
            tail = prev[-ctx:]
        prev = cur
    if prev is not None:
        seg = limit(np.concatenate([tail, prev]), ceiling, sample_rate)
        yield seg[tail.size:].astype(np.float32)


def limited_gain(blocks, target_lufs: float = TARGET_LUFS, sample_rate: int = StreamLoudness.RATE) -> float:
    """The gain that brings 48 kHz audio to `target_lufs` once its peaks are limited (`limit_stream`).

    `blocks()` yields the audio in blocks, afresh on every call (a file stream, or slices of an array);
    the audio is read once to measure it and up to twice more to make up what the limiter takes (until
    within 0.2 dB), so memory does not grow with its length.
    """
    meter = StreamLoudness()
    for b in blocks():
        meter.push(b)
    gain = stream_gain(meter, target_lufs)
    for _ in range(2):
        limited = StreamLoudness()
        for b in limit_stream(blocks(), gain, sample_rate):
            limited.push(b)
        loud = limited.integrated()
        if not np.isfinite(loud) or loud >= target_lufs - 0.2:
            break
        gain *= float(10 ** ((target_lufs - loud) / 20))
    return gain


class NormalizedSpeech:
    """48 kHz mono speech brought to `target_lufs` with its peaks limited, read afresh from its source in
    blocks each time (`blocks`), so that an hour of it is never held at once.

    `source()` yields the raw audio in blocks (a recording decoded from its file, or slices of an array).
    The gain is measured on construction (`limited_gain`: one pass over the source, up to two more to make
    up what the limiter takes); `blocks()` applies it and the limiter block by block (`limit_stream`).
    `samples` is the source's length, counted on the first pass.
    """

    def __init__(self, source: Callable[[], Iterable[np.ndarray]], target_lufs: float = TARGET_LUFS):
        self._source = source
        self.samples = 0
        first = True

        def measured():
            nonlocal first
            if not first:
                return source()
            first = False
            return self._counted(source())

        self.gain = limited_gain(measured, target_lufs)

    def _counted(self, blocks):
        for b in blocks:
            self.samples += b.size
            yield b

    @classmethod
    def from_array(cls, x: np.ndarray, block: int = StreamLoudness.RATE,
                   target_lufs: float = TARGET_LUFS) -> "NormalizedSpeech":
        x = np.asarray(x, np.float32)
        return cls(lambda: (x[a:a + block] for a in range(0, x.size, block)), target_lufs)

    def blocks(self, size: int = StreamLoudness.RATE, total: int | None = None) -> Iterator[np.ndarray]:
        """The normalised speech in blocks of `size` samples, padded with silence (or cut) to `total`."""
        from ..audio.io import rechunk

        return rechunk(limit_stream(self._source(), self.gain, StreamLoudness.RATE), size, total)

    def array(self, total: int | None = None) -> np.ndarray:
        """The whole normalised speech (padded or cut to `total` samples)."""
        return np.concatenate(list(self.blocks(StreamLoudness.RATE, total)) or [np.zeros(0, np.float32)])


def normalize_recording(audio: np.ndarray, target_lufs: float = TARGET_LUFS, block_s: float = 10.0) -> np.ndarray:
    """A whole 48 kHz recording brought to `target_lufs` with its peaks limited, block by block.

    `LoudnessNormalizer` holds several float64 copies of what it is given at once (an hour of speech would
    take gigabytes); here `NormalizedSpeech` measures the gain and limits the peaks over blocks, so memory
    beyond the input and the output does not grow with length. Returns float32 of the input's length.
    """
    x = np.asarray(audio, np.float32)
    return NormalizedSpeech.from_array(x, int(block_s * StreamLoudness.RATE), target_lufs).array(x.size)
