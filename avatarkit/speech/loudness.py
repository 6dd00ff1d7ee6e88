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
