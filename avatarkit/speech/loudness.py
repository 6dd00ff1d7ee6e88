"""Loudness normalisation to a fixed target (EBU R128 style, -16 LUFS).

-16 LUFS integrated is the usual target for speech published online (and
for e-learning, which is watched on laptop speakers); peaks are kept below
-1 dBFS. Each phrase is measured on its own (phrases are what avatarkit
streams); phrases too short to measure (< 0.4 s) reuse the previous gain.
"""

from __future__ import annotations

import numpy as np

TARGET_LUFS = -16.0
# Limit at -1.5 dBFS so that after AAC encoding (which overshoots a little)
# decoded peaks stay below -1 dBFS.
PEAK_DBFS = -1.5


class LoudnessNormalizer:
    """Stateful per-phrase normaliser: `__call__(audio) -> audio` at `sample_rate` Hz."""

    def __init__(self, sample_rate: int, target_lufs: float = TARGET_LUFS, peak_dbfs: float = PEAK_DBFS):
        import pyloudnorm

        self.meter = pyloudnorm.Meter(sample_rate)
        self.sample_rate = sample_rate
        self.target = target_lufs
        self.peak = 10 ** (peak_dbfs / 20)
        self.gain = 1.0

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        measurable = audio.size >= int(0.4 * self.sample_rate) and np.abs(audio).max() > 1e-4
        if measurable:
            loud = self.meter.integrated_loudness(audio.astype(np.float64))
            if np.isfinite(loud):
                self.gain = 10 ** ((self.target - loud) / 20)
        out = limit(audio * self.gain, self.peak, self.sample_rate)
        if measurable:
            # Limiting peaky speech lowers its loudness; make up the difference
            # once (the second limit pass changes little).
            loud = self.meter.integrated_loudness(out.astype(np.float64))
            if np.isfinite(loud) and loud < self.target - 0.2:
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
        q = np.asarray(self.squares)
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
