"""Whole lip shapes measured on filmed faces: the targets of Audio2Motion v3.

Every frame of a real clip is measured with MediaPipe (the harness's own
`eval.clips.read_clip`). Its `MOUTH_SHAPE` points (every lip point and the
jaw line, 75) become offsets in the contract of `MotionTrack.shape`:

1. **Face axes, IOD units.** A least-squares similarity on the rigid points
   (eye corners, nose bridge, forehead: `eval.metrics.STABLE`) maps each
   frame onto the speaker's own template, a canonical frame with the eye
   centres at (-0.5, 0) and (0.5, 0); so x runs along u (to the face's right
   in the image), y along v (down the face), and one unit is the
   inter-ocular distance (IOD). Head rotation in the image plane, scale and
   position are gone; turning the head (yaw) is not undone.
2. **Minus the speaker's neutral.** The median shape of the speaker's
   closed-mouth frames (inner-lip gap at or below its 20th percentile) is
   subtracted, so offsets say how the mouth moves away from this person's
   rest, whatever their lips look like at rest.
3. **Over the speaker's range.** Offsets are divided by the speaker's
   opening range (95th minus 10th percentile of the inner-lip gap, IOD), so
   a speaker who barely opens their mouth teaches as much as one who opens
   it wide. The model predicts these normalised offsets; `AudioMotion`
   multiplies them back by one person-independent range (the median over
   the training speakers), so the shape is retargeted to any face.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..face import landmarks as lm

POINTS = lm.MOUTH_SHAPE
# Rows of the central inner-lip pairs (upper, lower) and of the corners within POINTS (the landmark contract's).
UPPER_ROWS, LOWER_ROWS, CORNER_ROWS = lm.SHAPE_UPPER_ROWS, lm.SHAPE_LOWER_ROWS, lm.SHAPE_CORNER_ROWS
opening, width = lm.shape_opening, lm.shape_width


@dataclass
class MeasuredClip:
    """One clip: 16 kHz audio, fps, and the aligned `POINTS` per frame ((frames, 75, 2) IOD, NaN = no face)."""

    stem: str
    speaker: str
    audio: np.ndarray
    fps: float
    points: np.ndarray


def measure(path: str | Path, cache: Path | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """(audio, fps, landmarks (frames, 478, 2) pixels, NaN = no face) of a clip, cached as `<cache>/<stem>.npz`."""
    path = Path(path)
    f = Path(cache) / f"{path.stem}.npz" if cache else None
    if f is not None and f.exists():
        d = np.load(f)
        return d["audio"], float(d["fps"]), d["real"].astype(np.float64)
    from ..eval.clips import read_clip

    clip = read_clip(path, max_seconds=600.0)
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(f, audio=clip.audio, fps=clip.fps, real=clip.real.astype(np.float32))
    return clip.audio, clip.fps, clip.real


def aligned_points(real: np.ndarray) -> np.ndarray:
    """`POINTS` of every frame in the face's axes, IOD units, on the sequence's own template (see module docs)."""
    from ..eval import metrics as M

    real = np.asarray(real, np.float64)
    ok = np.flatnonzero(M.valid_frames(real))
    out = np.full((real.shape[0], len(POINTS), 2), np.nan)
    if not ok.size:
        return out
    template = M.canonical(real[ok[0]])
    idx = list(M.STABLE)
    for _ in range(2):   # refine the template as the mean of the aligned frames (its eyes kept canonical)
        al = np.stack([M.align_similarity(real[t], template) for t in ok])
        template = M.canonical(np.median(al, 0))
    for t in ok:
        s = M.fit_similarity(real[t][idx], template[idx])
        out[t] = s.apply(real[t])[list(POINTS)]
    return out


@dataclass(frozen=True)
class SpeakerNorm:
    """A speaker's neutral shape (75, 2) and opening range (IOD)."""

    neutral: np.ndarray
    range: float


def speaker_norm(points: list[np.ndarray]) -> SpeakerNorm:
    """Neutral (median of closed-mouth frames) and range (p95 - p10 of the gap) over all of a speaker's clips."""
    P = np.concatenate([p for p in points])
    P = P[np.isfinite(P).all((1, 2))]
    o = opening(P)
    closed = o <= np.percentile(o, 20)
    rng = float(np.percentile(o, 95) - np.percentile(o, 10))
    return SpeakerNorm(np.median(P[closed], 0), max(rng, 1e-3))


def normalised(points: np.ndarray, norm: SpeakerNorm) -> np.ndarray:
    """Offsets from the neutral over the range: (frames, 75, 2), NaN where no face."""
    return (np.asarray(points) - norm.neutral[None]) / norm.range
