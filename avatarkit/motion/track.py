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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CHANNELS = ("jaw", "wide", "round", "press", "dental", "blink", "brows", "yaw", "pitch", "roll")


@dataclass
class MotionTrack:
    """Per-frame channel values for frames [start, start + len) of a video at `fps`."""

    fps: int
    start: int = 0
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        n = len(self)
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

    def as_array(self) -> np.ndarray:
        """(frames, channels) float32 in `CHANNELS` order."""
        return np.stack([self.values[c] for c in CHANNELS], axis=1)
