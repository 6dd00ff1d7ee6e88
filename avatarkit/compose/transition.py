"""Transitions between scenes: `cut`, `crossfade` and `slide` (the new scene pushes the old one out).

A transition holds the last frame of the outgoing scene and blends it with
the first frames of the incoming one as they are composited, so scenes
still stream one after the other. The incoming scene starts with silence
as long as the transition (see `pipeline`), so no word is spoken while the
picture changes, and the sound never jumps: speech is silent at both sides
of the seam and the music bed runs on underneath.

A crossfade keeps text off faces. The incoming scene shows no text until
the crossfade has ended (its compositor holds it; see `compose.scene`),
so the next slide's title never lies over the previous presenter; and the
incoming presenter (`front`, their alpha in the frame) comes in ahead of
the rest of the picture, in the first third of the crossfade, so the
previous slide's words leave their face at once instead of ghosting over
it for the whole blend.
"""

from __future__ import annotations

import cv2
import numpy as np


def _ease(t: float) -> float:
    return t * t * (3 - 2 * t)


FRONT_SHARE = 1 / 3     # the incoming presenter is fully in after this share of a crossfade


class TransitionRun:
    """Blend `previous` (the outgoing scene's last RGB frame) into the next `frames` frames.

    `front` (uint8 alpha of the frame, 255 where the incoming presenter is) makes a crossfade bring the
    presenter in ahead of the rest (see the module docstring).
    """

    def __init__(self, kind: str, previous: np.ndarray, frames: int, front: np.ndarray | None = None):
        self.kind, self.prev, self.frames = kind, previous, max(int(frames), 0)
        self.i = 0
        self.out = np.empty_like(previous)
        self.front = None
        if kind == "crossfade" and front is not None and front.shape == previous.shape[:2] and front.any():
            # Feathered a little, so the presenter's edge does not show as a seam while the two rates differ.
            k = max(3, int(round(min(previous.shape[:2]) * 0.01)) | 1)
            self.front = cv2.GaussianBlur(front.astype(np.float32) / 255.0, (k, k), 0)[..., None]
            self.prev_f = previous.astype(np.float32)

    @property
    def done(self) -> bool:
        return self.kind == "cut" or self.i >= self.frames

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """The frame to write in place of the incoming `frame` (which is left untouched)."""
        if self.done:
            return frame
        lin = (self.i + 1) / (self.frames + 1)
        t = _ease(lin)
        self.i += 1
        if self.kind == "crossfade" and self.front is not None:
            # Per pixel: the plain crossfade's weight, raised to the presenter's faster one where they stand.
            w = t + self.front * (_ease(min(lin / FRONT_SHARE, 1.0)) - t)
            np.copyto(self.out, np.clip(self.prev_f + w * (frame.astype(np.float32) - self.prev_f) + 0.5, 0, 255),
                      casting="unsafe")
        elif self.kind == "crossfade":
            cv2.addWeighted(frame, t, self.prev, 1.0 - t, 0.0, dst=self.out)
        else:   # slide: the new scene comes in from the right and pushes the old one out
            w = frame.shape[1]
            k = int(round(w * t))
            self.out[:, :w - k] = self.prev[:, k:]
            self.out[:, w - k:] = frame[:, :k]
        return self.out
