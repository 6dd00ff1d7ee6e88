"""Timed overlays: text and images stamped over the composited frame.

Captions, bullet points, lower thirds, titles, the logo and the
AI-generated label are all `Overlay`s: an RGB patch with an alpha, a place
in the frame and a span of frames with fades. The compositor asks the stack
for its `state` each frame and repaints the whole frame only when that
state changes (a caption appears, a fade steps); otherwise it only
restamps overlays that cross the avatar's changed box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEVER = 1 << 60


@dataclass
class Overlay:
    """`rgb` (h, w, 3) uint8 with `alpha` (h, w) float32 0..1 at frame pixel (`x`, `y`).

    Shown over frames [`start`, `end`), fading in over `fade_in` frames and
    out over `fade_out` frames; `slide` pixels of upward travel while fading
    in (lower thirds and bullets ease into place).
    """

    rgb: np.ndarray
    alpha: np.ndarray
    x: int
    y: int
    start: int = 0
    end: int = NEVER
    fade_in: int = 0
    fade_out: int = 0
    slide: int = 0

    @classmethod
    def from_rgba(cls, rgba: np.ndarray, x: int, y: int, **timing) -> "Overlay":
        """An overlay from a straight-alpha RGBA uint8 patch."""
        return cls(np.ascontiguousarray(rgba[..., :3]), rgba[..., 3].astype(np.float32) / 255.0, x, y, **timing)

    @property
    def box(self) -> tuple[int, int, int, int]:
        h, w = self.alpha.shape
        return self.x, self.y - self.slide, self.x + w, self.y + h

    def level(self, i: int) -> float:
        """Opacity factor at frame `i` (0 hidden, 1 fully shown)."""
        if i < self.start or i >= self.end:
            return 0.0
        a = 1.0
        if self.fade_in and i < self.start + self.fade_in:
            a = (i - self.start + 1) / (self.fade_in + 1)
        if self.fade_out and i >= self.end - self.fade_out:
            a = min(a, (self.end - i) / (self.fade_out + 1))
        return a * a * (3 - 2 * a)

    def offset(self, level: float) -> int:
        return int(round(self.slide * (1.0 - level))) if level < 1.0 else 0

    def stamp(self, frame: np.ndarray, level: float, clip: tuple[int, int, int, int] | None = None) -> None:
        """Blend into `frame` (in place) at opacity `level`, only inside `clip` (x0, y0, x1, y1) if given."""
        if level <= 0.0:
            return
        h, w = self.alpha.shape
        x0, y0 = self.x, self.y + self.offset(level)
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + w, frame.shape[1]), min(y0 + h, frame.shape[0])
        if clip is not None:
            fx0, fy0, fx1, fy1 = max(fx0, clip[0]), max(fy0, clip[1]), min(fx1, clip[2]), min(fy1, clip[3])
        if fx1 <= fx0 or fy1 <= fy0:
            return
        a = self.alpha[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        if level < 1.0:
            a = a * level
        region = frame[fy0:fy1, fx0:fx1]
        rgb = self.rgb[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        a3 = a[..., None]
        region[:] = (region * (1.0 - a3) + rgb * a3 + 0.5).astype(np.uint8)


class OverlayStack:
    """Overlays in drawing order, asked frame by frame."""

    def __init__(self):
        self.items: list[Overlay] = []

    def add(self, overlay: Overlay) -> Overlay:
        self.items.append(overlay)
        return overlay

    def drop_before(self, frame: int) -> None:
        """Forget overlays that ended before `frame` (captions of past phrases)."""
        self.items = [o for o in self.items if o.end > frame]

    def state(self, i: int) -> tuple:
        """What is shown at frame `i`: equal states draw identical pixels."""
        return tuple((id(o), round(lv, 4)) for o in self.items if (lv := o.level(i)) > 0.0)

    def stamp(self, frame: np.ndarray, i: int, clip: tuple[int, int, int, int] | None = None) -> None:
        for o in self.items:
            lv = o.level(i)
            if lv > 0.0:
                o.stamp(frame, lv, clip)
