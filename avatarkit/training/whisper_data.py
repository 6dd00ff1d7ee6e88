"""Training data for the Whisper-fed audio-to-motion model: synthetic speech and real faces.

Synthetic examples (`data.py`) are made in worker processes with their
targets on the 50 Hz clock, then packed in random runs of one to four
utterances into recordings (each padded with silence to whole frames), so
the model hears both short clips and continuous speech through the
encoder's windows, as it will at run time. Real clips (`real.py`) are
heard clean and as `copies - 1` degraded copies: a room, a microphone,
noise (`augment.py`) and a tape-speed change of up to ±8 %, with the
measured targets stretched in time to match.

Every dataset is (features (T, D) float16, targets (T, 7), mask (T, 7),
starts): rows of all examples end to end, `starts` where each begins.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
from scipy import signal

from ..models.frontends import WhisperFrontend
from ..speech.whisper import STATE_HOP
from . import real as R
from .augment import augment
from .data import Spec, example_audio

SR = 16_000


def _synth(spec: Spec):
    import torch

    torch.set_num_threads(1)
    audio, y = example_audio(spec, SR, STATE_HOP)
    pad = y.shape[0] * STATE_HOP - audio.size
    return np.concatenate([audio, np.zeros(pad, np.float32)]), y


def _stack(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]):
    starts = np.cumsum([0] + [r[0].shape[0] for r in rows])
    return (np.concatenate([r[0] for r in rows]).astype(np.float16), np.concatenate([r[1] for r in rows]),
            np.concatenate([r[2] for r in rows]), starts)


def synthetic(specs: list[Spec], frontend: WhisperFrontend, seed: int, workers: int = 2, label: str = "synthetic"):
    """Features, targets, mask and starts for `specs` (all channels supervised)."""
    t0 = time.perf_counter()
    made = []
    with mp.get_context("fork").Pool(workers) as pool:
        for i, ex in enumerate(pool.imap(_synth, specs, chunksize=8)):
            made.append(ex)
            if (i + 1) % max(1, len(specs) // 10) == 0:
                print(f"  {label}: spoke {i + 1}/{len(specs)}, {time.perf_counter() - t0:.0f} s", flush=True)
    rng = np.random.default_rng(seed)
    rows, i = [], 0
    while i < len(made):
        run = made[i:i + int(rng.integers(1, 5))]
        i += len(run)
        audio = np.concatenate([a for a, _ in run])
        y = np.concatenate([t for _, t in run])
        x = frontend(audio)
        rows.append((x, y, np.ones_like(y)))
        if len(rows) % 100 == 0:
            print(f"  {label}: heard {i}/{len(made)}, {time.perf_counter() - t0:.0f} s", flush=True)
    return _stack(rows)


def speed(audio: np.ndarray, up: int, down: int = 50) -> np.ndarray:
    """Audio played up / down times as long (tape speed: the pitch moves with it)."""
    return signal.resample_poly(audio, up, down).astype(np.float32) if up != down else audio


def real(clips: list[R.RealClip], ranges: dict, frontend: WhisperFrontend, copies: int, seed: int):
    """Features, measured targets and mask for real clips: each clean, plus `copies - 1` degraded copies."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in clips:
        y, m = R.channel_targets(c, ranges[c.speaker])
        for k in range(copies):
            up = 50 if k == 0 else int(rng.integers(46, 55))
            stretch = up / 50
            audio = c.audio if k == 0 else augment(speed(c.audio, up), SR, rng)
            x = frontend(audio.astype(np.float32))
            yt, mt = R.resample_targets(y, m, c.fps, frontend.config.frame_rate, x.shape[0], stretch)
            rows.append((x, yt, mt))
    return _stack(rows)


def save(path: Path, data) -> None:
    np.savez(path, x=data[0], y=data[1], m=data[2], starts=data[3])


def load(path: Path):
    d = np.load(path)
    return d["x"], d["y"], d["m"], d["starts"]

