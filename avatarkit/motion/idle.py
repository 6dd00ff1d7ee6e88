"""Idle motion: blinks and head sway as pure functions of the global frame index.

Because nothing here carries state from one frame to the next, any stretch
of a video (one phrase, one scene, one cluster job) computes exactly the same
idle motion as a render of the whole, and pieces join without jumps.
"""

from __future__ import annotations

import numpy as np

BLINK_PERIOD_S = 3.6          # about 17 blinks a minute, a calm speaker's rate
# A blink closes in about 80 ms, stays shut for 50 ms (so at least one frame at 25 fps shows the eye
# closed whatever the blink's phase) and opens more slowly.
BLINK_SHAPE_S = np.array([0.0, 0.04, 0.08, 0.13, 0.17, 0.21, 0.25, 0.3, 0.36])
BLINK_SHAPE = np.array([0.0, 0.55, 1.0, 1.0, 0.7, 0.42, 0.2, 0.06, 0.0])


def _hash01(seed: int, k: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic uniform [0, 1) numbers for integer keys `k` (splitmix-style)."""
    x = (k.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
         + np.uint64((seed * 1_000_003 + salt * 7919) & 0xFFFFFFFF))
    x ^= x >> np.uint64(31)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(29)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def blink(frames: np.ndarray, fps: int, seed: int = 0) -> np.ndarray:
    """Eyelid closure (0..1) for global frame indices `frames` at `fps`.

    Time is cut into blocks of `BLINK_PERIOD_S`; each block holds one blink at
    a hashed offset (sometimes two in quick succession), giving irregular,
    human-looking intervals of roughly 1.5-6 s.
    """
    t = np.asarray(frames, np.float64) / fps
    out = np.zeros_like(t)
    block = np.floor(t / BLINK_PERIOD_S).astype(np.int64)
    for back in (0, 1):
        k = np.maximum(block - back, 0)
        start = (k + 0.15 + 0.7 * _hash01(seed, k, 1)) * BLINK_PERIOD_S
        for extra, salt in ((0.0, None), (0.45, 2)):
            s = start + extra
            if salt is not None:
                s = np.where(_hash01(seed, k, salt) < 0.15, s, -1e9)  # occasional double blink
            out = np.maximum(out, np.interp(t - s, BLINK_SHAPE_S, BLINK_SHAPE, left=0.0, right=0.0))
    return out.astype(np.float32)


def sway(frames: np.ndarray, fps: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Slow head drift (radians) for yaw, pitch and roll: a few incommensurate sines.

    Amplitudes are about 1 degree; callers scale them down in pauses.
    """
    t = np.asarray(frames, np.float64) / fps
    out = {}
    for ci, (name, amp) in enumerate((("yaw", 0.018), ("pitch", 0.012), ("roll", 0.008))):
        v = np.zeros_like(t)
        for j, f in enumerate((0.07, 0.13, 0.23)):
            phase = 2 * np.pi * _hash01(seed, np.array([ci * 10 + j]), 3)[0]
            v += np.sin(2 * np.pi * f * (1 + 0.1 * ci) * t + phase) / (j + 1)
        out[name] = (amp * v / 1.83).astype(np.float32)
    return out
