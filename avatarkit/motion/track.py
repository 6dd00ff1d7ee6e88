"""`MotionTrack`: what the face does, one value per video frame per channel.

Channels are named controls that any renderer can reenact:

| channel | range | meaning |
| --- | --- | --- |
| jaw | 0..1 | mouth opening (1 = wide open vowel) |
| wide | -1..1 | lip spread (i, e) vs narrowing |
| round | 0..1 | lip rounding/protrusion (u, o, w) |
| press | 0..1 | lips pressed shut (p, b, m) |
| dental | 0..1 | lower lip tucked to the upper teeth (f, v) |
| blink | 0..1 | eyelid closure |
| brows | 0..1 | eyebrow raise |
| yaw, pitch, roll | radians | head rotation (turn, nod down +, tilt) |

Beside the channels a track may carry a `shape`: where some face-mesh
landmarks are, per frame, as (frames, len(shape_points), 2) offsets of the
mesh points `shape_points` from the face's own rest position with its mouth
closed (`FaceDeformer.shape_base`: a photo that shows its teeth has its own
opening closed first, so a zero shape is a closed mouth on every face), in
inter-ocular distances along the face's axes (u to the face's right in the
image, v down the face), before any head rotation. The usual set is
`face.landmarks.MOUTH_SHAPE` (every lip point, then the jaw line): the
channels say "how open", the shape says "which mouth" ("oo", "ee" and "mm"
at the same opening). A whole-mesh shape reenacts a measured face (the
evaluation drives a photo with a real video's own landmarks this way). A
renderer that understands shapes places those points exactly and lets the
channels move the rest of the face; renderers that do not, ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NUM_MESH = 468   # face-mesh landmarks a shape may place (the 10 iris points follow the eyes)


@dataclass(frozen=True)
class FaceShape:
    """One frame of a track's `shape`: `offsets` (len(points), 2), IODs along the face's (u, v), from the rest
    position of mesh landmarks `points`, before head rotation."""

    points: tuple[int, ...]
    offsets: np.ndarray

CHANNELS = ("jaw", "wide", "round", "press", "dental", "blink", "brows", "yaw", "pitch", "roll")


@dataclass
class MotionTrack:
    """Per-frame channel values for frames [start, start + len) of a video at `fps`."""

    fps: int
    start: int = 0
    values: dict[str, np.ndarray] = field(default_factory=dict)
    shape: np.ndarray | None = None
    shape_points: tuple[int, ...] = ()

    def __post_init__(self):
        n = len(self)
        if self.shape is not None:
            self.shape = np.asarray(self.shape, np.float32)
            self.shape_points = tuple(int(p) for p in self.shape_points)
            k = len(self.shape_points)
            if not k or len(set(self.shape_points)) != k or not all(0 <= p < NUM_MESH for p in self.shape_points):
                raise ValueError(f"shape_points must be distinct face-mesh landmarks (0..{NUM_MESH - 1})")
            if self.shape.shape != (n, k, 2):
                raise ValueError(f"shape is {self.shape.shape}, expected ({n}, {k}, 2)")
        for c in CHANNELS:
            v = self.values.get(c)
            self.values[c] = np.zeros(n, np.float32) if v is None else np.asarray(v, np.float32)
            if self.values[c].shape != (n,):
                raise ValueError(f"channel {c!r} has {self.values[c].shape[0]} frames, expected {n}")

    def __len__(self) -> int:
        for v in self.values.values():
            if v is not None:
                return int(np.asarray(v).shape[0])
        return 0

    @classmethod
    def zeros(cls, n: int, fps: int, start: int = 0) -> "MotionTrack":
        return cls(fps, start, {c: np.zeros(n, np.float32) for c in CHANNELS})

    def __getitem__(self, channel: str) -> np.ndarray:
        return self.values[channel]

    def frame(self, i: int) -> dict[str, float]:
        """Channel values of frame `i` (local index)."""
        return {c: float(v[i]) for c, v in self.values.items()}

    def frame_shape(self, i: int) -> FaceShape | None:
        """Frame `i`'s shape (local index), or None when the track carries none."""
        return None if self.shape is None else FaceShape(self.shape_points, self.shape[i])

    def as_array(self) -> np.ndarray:
        """(frames, channels) float32 in `CHANNELS` order."""
        return np.stack([self.values[c] for c in CHANNELS], axis=1)
