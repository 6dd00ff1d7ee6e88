"""Transitions between scenes: `cut`, `crossfade` and `slide` (the new scene pushes the old one out).

A transition holds the last frame of the outgoing scene and blends it with
the first frames of the incoming one as they are composited, so scenes
still stream one after the other. The incoming scene starts with silence
as long as the transition (see `pipeline`), so no word is spoken while the
picture changes, and the sound never jumps: speech is silent at both sides
of the seam and the music bed runs on underneath.
"""

from __future__ import annotations

import cv2
import numpy as np


def _ease(t: float) -> float:
    return t * t * (3 - 2 * t)


class TransitionRun:
    """Blend `previous` (the outgoing scene's last RGB frame) into the next `frames` frames."""

    def __init__(self, kind: str, previous: np.ndarray, frames: int):
        self.kind, self.prev, self.frames = kind, previous, max(int(frames), 0)
        self.i = 0
        self.out = np.empty_like(previous)

    @property
    def done(self) -> bool:
        return self.kind == "cut" or self.i >= self.frames

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """The frame to write in place of the incoming `frame` (which is left untouched)."""
        if self.done:
            return frame
        t = _ease((self.i + 1) / (self.frames + 1))
        self.i += 1
        if self.kind == "crossfade":
            cv2.addWeighted(frame, t, self.prev, 1.0 - t, 0.0, dst=self.out)
        else:   # slide: the new scene comes in from the right and pushes the old one out
            w = frame.shape[1]
            k = int(round(w * t))
            self.out[:, :w - k] = self.prev[:, k:]
            self.out[:, w - k:] = frame[:, :k]
        return self.out
