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
    """A synthetic music bed: melodies or chords of harmonic tones, sustained or plucked, with percussion.

    Timbres range from soft (few, weak harmonics) to buzzy (sawtooth-like),
    because buzzy single melodies are what a speech model most easily
    mistakes for a voice.
    """
    t = np.arange(n) / sr
    out = np.zeros(n)
    tilt = rng.uniform(0.7, 2.0)                     # harmonic roll-off: 1 = sawtooth
    harmonics = int(rng.integers(3, 16))
    voices = int(rng.integers(1, 5))
    decay = rng.uniform(0.0, 6.0)                     # 0 = sustained, high = plucked
    drums = rng.random() < 0.6
    pos = 0
    while pos < n:
        seg = min(int(sr * rng.uniform(0.12, 1.0)), n - pos)
        root = 80 * 2 ** (rng.integers(0, 36) / 12)
        tt = t[pos:pos + seg] - t[pos]
        env = np.minimum(1, tt / 0.01) * np.exp(-tt * decay)
        for step in rng.choice([0, 3, 4, 7, 10, 12, 16], size=voices, replace=False):
            f = root * 2 ** (step / 12)
            for h in range(1, harmonics + 1):
                if f * h < 0.45 * sr:
                    out[pos:pos + seg] += env * np.sin(2 * np.pi * f * h * tt + rng.uniform(0, 6)) / h ** tilt
        if drums and rng.random() < 0.6:
            k = min(seg, int(0.08 * sr))
            hit = rng.standard_normal(k) if rng.random() < 0.5 else np.sin(2 * np.pi * 60 * tt[:k])
            out[pos:pos + k] += 2 * hit * np.exp(-np.arange(k) / (0.015 * sr))
        pos += seg
    return out


def non_speech(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A clip with no voice in it: music, noise, or near silence, at a random level."""
    r = rng.random()
    if r < 0.6:
        y = music_bed(n, sr, rng)
    elif r < 0.9:
        y = _noise(n, sr, rng)
    else:
        y = rng.standard_normal(n) * 1e-3
    y = y / (np.abs(y).max() + 1e-9) * 10 ** (rng.uniform(-35, -1) / 20)
    return y.astype(np.float32)


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
