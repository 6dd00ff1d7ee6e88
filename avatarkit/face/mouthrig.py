"""A person's own mouth shapes: from `MotionTrack` channels to lip and jaw landmarks.

Fitted on a footage avatar's usable frames: each frame's lips and jaw line,
in unit crop coordinates (`face.crop` at size 1), are regressed on two
measurements of the same frame, the lip opening and the mouth width (both
in IOD). Motion channels map onto those two measurements through the
person's own range (rest, and the 5th and 95th percentiles): a jaw value
typical of loud vowels in running speech (`JAW_AT_P95`) opens the mouth
as wide as this person opens it for theirs, and no jaw value opens it more
than half as much again, beyond what the footage showed.

New landmarks are applied as a change to a frame's own landmarks: target
shape minus the shape predicted for the frame's current measurements, so
head pitch and the person's asymmetries in that frame are kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .crop import LOWER_FACE, crop_matrix, face_pose, from_crop, pose_iod, to_crop
from .footage import FootageTrack, mouth_gap

IDX = np.array(LOWER_FACE)
# In running speech the motion models' jaw channel reaches about 0.5 at its 95th percentile (learned
# model on real recordings: 0.47), so that value is mapped to this person's own 95th-percentile opening
# while talking, and louder vowels open further, up to half as much again.
JAW_AT_P95 = 0.5
MAX_OPEN_OVER_P95 = 1.5


def mouth_width(points: np.ndarray) -> float:
    pose = face_pose(points)
    return float(np.linalg.norm(points[61, :2] - points[291, :2]) / pose_iod(pose))


def _design(open_: np.ndarray, width: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(open_), open_, width, open_ * width], 1)


@dataclass
class MouthRig:
    """Linear lip/jaw shape model of one person; see the module docstring."""

    coef: np.ndarray          # (4, K*2) regression in unit crop coordinates
    open_range: tuple[float, float, float]     # rest, p5, p95 of the lip opening (IOD)
    width_range: tuple[float, float, float]    # rest, p5, p95 of the mouth width (IOD)

    @classmethod
    def fit(cls, track: FootageTrack, frames: np.ndarray | None = None) -> "MouthRig":
        """Fit on `frames` (default: every usable frame) of an intake track."""
        idx = np.flatnonzero(track.good) if frames is None else np.asarray(frames)
        L = track.landmarks[idx]
        o = np.array([mouth_gap(p) for p in L])
        w = np.array([mouth_width(p) for p in L])
        Y = np.stack([to_crop(p[IDX], crop_matrix(face_pose(p), 1)) for p in L]).reshape(len(L), -1)
        X = _design(o, w)
        ridge = 1e-4 * np.eye(X.shape[1])
        coef = np.linalg.solve(X.T @ X + ridge, X.T @ Y)
        closed = o <= np.percentile(o, 20)
        rest_w = float(np.median(w[closed]))
        return cls(coef, (float(np.percentile(o, 10)), float(np.percentile(o, 5)), float(np.percentile(o, 95))),
                   (rest_w, float(np.percentile(w, 5)), float(np.percentile(w, 95))))

    def measurements(self, channels: dict[str, float]) -> tuple[float, float]:
        """(opening, width) in IOD for motion channel values (jaw, wide, round, press, dental)."""
        o_rest, _, o_hi = self.open_range
        w_rest, w_lo, w_hi = self.width_range
        jaw = float(np.clip(channels.get("jaw", 0.0), 0, 1.2))
        press = float(np.clip(channels.get("press", 0.0), 0, 1))
        dental = float(np.clip(channels.get("dental", 0.0), 0, 1))
        opening = min(o_rest + jaw / JAW_AT_P95 * (o_hi - o_rest), MAX_OPEN_OVER_P95 * o_hi)
        opening *= (1 - press) * (1 - 0.6 * dental)
        wide = float(np.clip(channels.get("wide", 0.0), -1, 1))
        rnd = float(np.clip(channels.get("round", 0.0), 0, 1))
        width = w_rest + max(wide, 0) * (w_hi - w_rest) + min(wide, 0) * (w_rest - w_lo) - rnd * (w_rest - w_lo)
        return max(opening, 0.0), width

    def shape(self, opening: float, width: float) -> np.ndarray:
        """Lower-face landmarks (K, 2) in unit crop coordinates for the given measurements."""
        return (_design(np.array([opening]), np.array([width])) @ self.coef).reshape(-1, 2)

    def retarget(self, points: np.ndarray, channels: dict[str, float], pose: np.ndarray | None = None) -> np.ndarray:
        """A copy of a frame's (478, 2+) landmarks with lips and jaw moved to the shape of `channels`.

        `pose` is the (smoothed) `face_pose` the crop uses; default the frame's own.
        """
        pose = face_pose(points) if pose is None else pose
        m = crop_matrix(pose, 1)
        now = self.shape(mouth_gap(points), mouth_width(points))
        target = self.shape(*self.measurements(channels))
        own = to_crop(points[IDX], m)
        out = points[:, :2].astype(np.float64).copy()
        out[IDX] = from_crop(own + (target - now), m)
        return out

    def channels_of(self, points: np.ndarray) -> dict[str, float]:
        """Approximate motion channels (jaw, wide) measured from real landmarks, for comparisons."""
        o_rest, _, o_hi = self.open_range
        w_rest, w_lo, w_hi = self.width_range
        jaw = (mouth_gap(points) - o_rest) / max(o_hi - o_rest, 1e-6) * JAW_AT_P95
        w = mouth_width(points)
        wide = (w - w_rest) / max(w_hi - w_rest, 1e-6) if w >= w_rest else (w - w_rest) / max(w_rest - w_lo, 1e-6)
        return {"jaw": float(np.clip(jaw, 0, 1.2)), "wide": float(np.clip(wide, -1, 1))}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"coef": self.coef.tolist(), "open_range": self.open_range,
                                          "width_range": self.width_range}) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "MouthRig":
        d = json.loads(Path(path).read_text())
        return cls(np.array(d["coef"]), tuple(d["open_range"]), tuple(d["width_range"]))


__all__ = ["MouthRig", "mouth_width"]
