"""Make clean synthetic speech sound like a recording people actually bring.

Each step is drawn at random: a room (reverb from a synthetic impulse
response with a direct path at lag 0, so the speech does not move in time),
a microphone and channel colour (high-pass, low-pass, peaking filters), a
telephone line (8 kHz, 300-3400 Hz, mu-law), background noise of several
colours or a synthetic music bed, a recording level and, sometimes,
clipping. None of these shifts the audio in time, so the phoneme-derived
targets stay aligned sample for sample.
"""

from __future__ import annotations

import numpy as np
from scipy import signal


def _rir(sr: int, rng: np.random.Generator) -> np.ndarray:
    rt60 = rng.uniform(0.12, 0.9)
    n = int(sr * min(1.2, rt60 * 1.2))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[: int(sr * rng.uniform(0.002, 0.015))] = 0          # gap before the first reflections
    tail *= 10 ** (-rng.uniform(3, 18) / 20) / (np.sqrt((tail ** 2).sum()) + 1e-9)
    tail[0] = 1.0
    return tail.astype(np.float32)


def _colour(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.7:
        sos = signal.butter(2, rng.uniform(50, 350), "highpass", fs=sr, output="sos")
        x = signal.sosfilt(sos, x)
    if rng.random() < 0.5:
        sos = signal.butter(4, rng.uniform(2500, 0.47 * sr), "lowpass", fs=sr, output="sos")
        x = signal.sosfilt(sos, x)
    for _ in range(int(rng.integers(0, 4))):
        f0, q, gain = rng.uniform(150, 0.4 * sr), rng.uniform(0.5, 3), rng.uniform(-10, 10)
        b, a = _peaking(f0, q, gain, sr)
        x = signal.lfilter(b, a, x)
    return x


def _peaking(f0, q, gain_db, sr):
    a_ = 10 ** (gain_db / 40)
    w = 2 * np.pi * f0 / sr
    alpha = np.sin(w) / (2 * q)
    b = np.array([1 + alpha * a_, -2 * np.cos(w), 1 - alpha * a_])
    a = np.array([1 + alpha / a_, -2 * np.cos(w), 1 - alpha / a_])
    return b / a[0], a / a[0]


def _telephone(x: np.ndarray, sr: int) -> np.ndarray:
    sos = signal.butter(4, [300, 3400], "bandpass", fs=sr, output="sos")
    y = signal.sosfilt(sos, x)
    y = signal.resample_poly(y, 1, sr // 8000) if sr % 8000 == 0 else y
    mu = 255.0
    peak = np.abs(y).max() + 1e-9
    q = np.sign(y / peak) * np.log1p(mu * np.abs(y / peak)) / np.log1p(mu)
    q = np.round(q * 127) / 127
    y = np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu * peak
    if sr % 8000 == 0:
        y = signal.resample_poly(y, sr // 8000, 1)[: x.size]
    return y


def _noise(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    kind = rng.integers(0, 4)
    if kind == 0:
        return white
    spec = np.fft.rfft(white)
    f = np.maximum(np.fft.rfftfreq(n, 1 / sr), 20.0)
    slope = {1: 0.5, 2: 1.0, 3: rng.uniform(0, 1.5)}[int(kind)]
    y = np.fft.irfft(spec / f ** slope, n)
    if rng.random() < 0.3:            # hum
        t = np.arange(n) / sr
        hz = rng.choice([50.0, 60.0])
        y = y / (y.std() + 1e-9) + 2 * sum(np.sin(2 * np.pi * hz * k * t) / k for k in (1, 2, 3))
    return y


def music_bed(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic music bed: chords of harmonic tones with note changes and soft percussion."""
    t = np.arange(n) / sr
    out = np.zeros(n)
    pos = 0
    while pos < n:
        seg = int(sr * rng.uniform(0.25, 1.2))
        root = 110 * 2 ** (rng.integers(0, 24) / 12)
        tt = t[pos:pos + seg] - t[pos]
        env = np.minimum(1, tt / 0.02) * np.exp(-tt * rng.uniform(0.5, 4))
        for step in rng.choice([0, 3, 4, 7, 10, 12], size=3, replace=False):
            f = root * 2 ** (step / 12)
            for h in range(1, 5):
                out[pos:pos + seg] += env * np.sin(2 * np.pi * f * h * tt + rng.uniform(0, 6)) / h ** 1.5
        if rng.random() < 0.5:
            k = min(seg, int(0.05 * sr), n - pos)
            out[pos:pos + k] += rng.standard_normal(k) * np.exp(-np.arange(k) / (0.01 * sr)) * 2
        pos += seg
    return out


def _mix(x: np.ndarray, bed: np.ndarray, snr_db: float) -> np.ndarray:
    px = np.mean(x ** 2) + 1e-12
    pb = np.mean(bed ** 2) + 1e-12
    return x + bed * np.sqrt(px / pb / 10 ** (snr_db / 10))


def augment(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A randomly degraded copy of mono `x` (float, `sr` Hz), same length, same timing."""
    y = np.asarray(x, np.float64)
    if rng.random() < 0.5:
        y = signal.fftconvolve(y, _rir(sr, rng))[: y.size]
    if rng.random() < 0.7:
        y = _colour(y, sr, rng)
    if rng.random() < 0.1:
        y = _telephone(y, sr)
    r = rng.random()
    if r < 0.5:
        y = _mix(y, _noise(y.size, sr, rng), rng.uniform(3, 40))
    elif r < 0.65:
        y = _mix(y, music_bed(y.size, sr, rng), rng.uniform(0, 18))
    peak = np.abs(y).max() + 1e-9
    y = y / peak * 10 ** (rng.uniform(-35, -1) / 20)
    if rng.random() < 0.07:
        y = np.clip(y * 10 ** (rng.uniform(3, 12) / 20), -1, 1)
    return y.astype(np.float32)
