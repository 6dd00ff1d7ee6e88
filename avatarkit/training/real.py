"""Real talking faces as teachers: motion targets measured on filmed mouths.

Each clip of real footage with its own sound is measured with MediaPipe, the
same code the evaluation harness uses (`eval.clips.read_clip`). Two
measurements per frame become motion channels, through the speaker's own
range (all their clips pooled, so a speaker who barely opens their mouth is
not stretched to look like one who shouts):

* `jaw` = (opening - rest) / (p95 - rest) * `JAW_AT_P95`, clipped to 0..1,
  where opening is the inner-lip gap in inter-ocular distances (IOD), rest
  its 10th percentile and p95 its 95th: the mapping the footage avatar's
  `MouthRig` uses the other way round, so a jaw value means the same
  opening to the model as to the renderers;
* `wide` = mouth-corner distance (IOD) against its median at rest: from
  0 (rest) to 1 at the 95th percentile, and down to -1 at the 5th.

Rounding, lip press, the lip-to-teeth channel and the speech cues are not
measured on real lips; their targets are masked (weight 0), so the
synthetic corpus, where they are known, teaches them alone.

`SPLITS` assigns every clip of `../shared/media/talking` to `train`, `dev`
(for choices while training) or `test` (held out: scored once, never tuned
on), by speaker, so no dev or test speaker is heard in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..face.mouthrig import JAW_AT_P95
from ..models.audio2motion import OUTPUTS
from .speakers import V2, splits

# file stem -> (speaker, split): the speaker table of `speakers.py` with v2's assignment.
SPLITS: dict[str, tuple[str, str]] = splits(V2)
MEASURED = ("jaw", "wide")


@dataclass
class RealClip:
    """One measured clip: 16 kHz audio, per-video-frame opening and width (IOD, NaN = no face), fps."""

    path: Path
    speaker: str
    split: str
    audio: np.ndarray
    fps: float
    opening: np.ndarray
    width: np.ndarray


def clips_in(folder: str | Path, split: str | None = None) -> list[Path]:
    """The clips of `folder` named in `SPLITS` (of `split`, if given), sorted by name."""
    folder = Path(folder)
    out = [p for p in sorted(folder.iterdir()) if p.stem in SPLITS and (split is None or SPLITS[p.stem][1] == split)]
    if not out:
        raise FileNotFoundError(f"{folder}: no talking-face clips named in avatarkit.training.real.SPLITS")
    return out


def measure(path: str | Path) -> RealClip:
    """Decode a clip, run MediaPipe on every frame, and measure its mouth."""
    from ..eval import metrics as M
    from ..eval.clips import read_clip

    clip = read_clip(path, max_seconds=600.0)
    real = clip.real
    speaker, split = SPLITS.get(Path(path).stem, (Path(path).stem, "train"))
    return RealClip(Path(path), speaker, split, clip.audio, clip.fps, M.mouth_opening(real), M.mouth_width(real))


def speaker_ranges(clips: list[RealClip]) -> dict[str, tuple[float, float, float, float, float]]:
    """Per speaker: (opening rest, opening p95, width rest, width p5, width p95), all clips pooled."""
    out = {}
    for spk in sorted({c.speaker for c in clips}):
        o = np.concatenate([c.opening for c in clips if c.speaker == spk])
        w = np.concatenate([c.width for c in clips if c.speaker == spk])
        ok = np.isfinite(o) & np.isfinite(w)
        o, w = o[ok], w[ok]
        closed = o <= np.percentile(o, 20)
        out[spk] = (float(np.percentile(o, 10)), float(np.percentile(o, 95)), float(np.median(w[closed])),
                    float(np.percentile(w, 5)), float(np.percentile(w, 95)))
    return out


def channel_targets(clip: RealClip, ranges: tuple[float, float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(targets, mask) per video frame, both (frames, len(OUTPUTS)); see the module docstring for the mapping."""
    o_rest, o_hi, w_rest, w_lo, w_hi = ranges
    jaw = np.clip((clip.opening - o_rest) / max(o_hi - o_rest, 1e-6) * JAW_AT_P95, 0, 1)
    d = clip.width - w_rest
    wide = np.clip(np.where(d >= 0, d / max(w_hi - w_rest, 1e-6), d / max(w_rest - w_lo, 1e-6)), -1, 1)
    n = clip.opening.size
    y = np.zeros((n, len(OUTPUTS)), np.float32)
    m = np.zeros((n, len(OUTPUTS)), np.float32)
    found = np.isfinite(jaw) & np.isfinite(wide)
    for k, v in (("jaw", jaw), ("wide", wide)):
        i = OUTPUTS.index(k)
        y[:, i] = np.where(found, v, 0)
        m[:, i] = found
    return y, m


def resample_targets(y: np.ndarray, m: np.ndarray, fps: float, rate: float, count: int,
                     stretch: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Targets at `count` frames of `rate` Hz (centres (j + 0.5) / rate s) from video frames at `fps`.

    `stretch` > 1 means the audio was slowed by that factor (time t of the
    new audio is t / stretch of the original). Frames between two video
    frames interpolate linearly; a frame next to a masked one, or outside the
    video, is masked.
    """
    t = (np.arange(count) + 0.5) / rate / stretch * fps - 0.5
    i0 = np.clip(np.floor(t).astype(int), 0, y.shape[0] - 1)
    i1 = np.clip(i0 + 1, 0, y.shape[0] - 1)
    f = np.clip(t - i0, 0, 1)[:, None]
    out = y[i0] * (1 - f) + y[i1] * f
    mask = np.minimum(m[i0], m[i1]) * ((t >= -0.5) & (t <= y.shape[0] - 0.5))[:, None]
    return out.astype(np.float32), mask.astype(np.float32)
