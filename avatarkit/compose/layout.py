"""Layouts: where the presenter, the slide, the captions and the lower third go in a frame.

A layout kind names an arrangement; `frame_layout` turns it into pixel
rectangles for one frame size, adapting to the frame's shape:

* `full`: the presenter alone, head and shoulders in the middle (intros, talks).
* `beside`: the slide on one side and the presenter on the other; in a
  portrait or square frame the slide goes on top and the presenter below.
* `pip`: the slide fills the frame; the presenter, cut out, stands in the
  lower right corner.
* `circle`: the slide fills the frame; the presenter is in a round bubble.

Sizes are fractions of the frame's short side, so a layout looks the same
at 720p, 1080p and 4K; the presenter's size is set by their face height,
which keeps every photo framed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..face import landmarks as lm
from ..face.rig import FaceRig


@dataclass(frozen=True)
class Rect:
    """A rectangle of frame pixels: top-left (`x`, `y`), width `w`, height `h`."""

    x: int
    y: int
    w: int
    h: int

    @property
    def x1(self) -> int:
        return self.x + self.w

    @property
    def y1(self) -> int:
        return self.y + self.h

    def fit(self, aspect: float) -> "Rect":
        """The largest rectangle of `aspect` (width / height) centred inside this one."""
        w, h = self.w, int(round(self.w / aspect))
        if h > self.h:
            w, h = int(round(self.h * aspect)), self.h
        return Rect(self.x + (self.w - w) // 2, self.y + (self.h - h) // 2, w, h)


@dataclass(frozen=True)
class Placement:
    """The avatar image scaled by `scale` with its top-left at (`x`, `y`) frame pixels."""

    scale: float
    x: int
    y: int


@dataclass(frozen=True)
class FrameLayout:
    """One layout at one frame size, in frame pixels.

    `face_h` / `eyes` / `face_x`: the presenter's face height and where their
    eye line and face centre go; `bubble`: (cx, cy, radius) of a round
    presenter window, or None; `panel`: where the slide goes, or None;
    `captions`: the band burned-in captions are centred in; `band`: where a
    lower third or a title band starts (its left edge and baseline region).
    """

    kind: str
    width: int
    height: int
    face_h: float
    face_x: float
    eyes: float
    panel: Rect | None
    captions: Rect
    band: Rect
    bubble: tuple[float, float, float] | None = None

    @property
    def orientation(self) -> str:
        return orientation(self.width, self.height)


def orientation(width: int, height: int) -> str:
    """`landscape`, `portrait` or `square` (within 20 %) for a frame size in pixels."""
    if width >= 1.2 * height:
        return "landscape"
    if height >= 1.2 * width:
        return "portrait"
    return "square"


def frame_layout(kind: str, width: int, height: int, top: int = 0) -> FrameLayout:
    """The rectangles of layout `kind` for a `width` x `height` frame (pixels).

    `top` keeps the slide panel below that many pixels (a logo in a top corner).
    """
    fl = _frame_layout(kind, width, height)
    if fl.panel is not None and top > fl.panel.y:
        p = fl.panel
        fl = replace(fl, panel=Rect(p.x, top, p.w, max(p.h - (top - p.y), p.h // 2)))
    return fl


def _frame_layout(kind: str, width: int, height: int) -> FrameLayout:
    W, H = width, height
    u = min(W, H)
    o = orientation(W, H)
    m = int(round(0.04 * u))               # outer margin
    cap_h = int(round(0.15 * u))

    def r(x, y, w, h) -> Rect:
        return Rect(int(round(x)), int(round(y)), int(round(w)), int(round(h)))

    if kind == "full":
        face_h = 0.30 * H if o == "landscape" else 0.36 * u
        eyes = 0.40 * H if o == "landscape" else 0.42 * H
        return FrameLayout(kind, W, H, face_h, W / 2, eyes, None,
                           r(m, H - m - cap_h, W - 2 * m, cap_h), r(m * 1.5, 0.70 * H, 0.6 * W, 0.16 * H))
    if kind == "beside":
        if o == "landscape":
            panel = r(m, 1.5 * m, 0.63 * W - m, H - 1.5 * m - cap_h - 1.5 * m)
            return FrameLayout(kind, W, H, 0.27 * H, 0.815 * W, 0.36 * H, panel,
                               r(m, panel.y1 + 0.3 * m, panel.w, cap_h), r(0.655 * W, 0.74 * H, 0.33 * W, 0.14 * H))
        top = 1.5 * m if o == "portrait" else m
        ph = (W - 2 * m) * 9 / 16 if o == "portrait" else 0.54 * H
        panel = r(m, top, W - 2 * m, ph)
        eyes = panel.y1 + (0.30 * H if o == "portrait" else 0.17 * H)
        face_h = 0.17 * H if o == "portrait" else 0.19 * H
        return FrameLayout(kind, W, H, face_h, W / 2 if o == "portrait" else 0.72 * W, eyes, panel,
                           r(m, H - m - cap_h, W - 2 * m, cap_h),
                           r(m, panel.y1 + 0.04 * H, 0.5 * W, 0.12 * H))
    # pip and circle: the slide takes the frame, the presenter a corner.
    panel = r(m, m, W - 2 * m, H - 2 * m)
    corner = 0.36 * u if o != "portrait" else 0.42 * u
    cx, cy = W - m - corner / 2, H - m - corner / 2
    cap_w = W - 3 * m - corner if o == "landscape" else W - 2 * m
    cap_y = H - m - cap_h if o == "landscape" else cy - corner / 2 - cap_h - m
    captions = r(m, cap_y, cap_w, cap_h)
    band = r(m * 1.5, cap_y - 0.2 * H, 0.5 * W, 0.12 * H)
    if o != "landscape":
        # The slide ends above the captions, which sit above the presenter; a lower third goes beside them.
        panel = r(m, m, W - 2 * m, cap_y - 2 * m)
        band = r(m * 1.5, cy - corner / 2 + m, W - corner - 3.5 * m, 0.12 * H)
    if kind == "circle":
        return FrameLayout(kind, W, H, 0.42 * corner, cx, cy - 0.12 * corner, panel, captions, band,
                           bubble=(cx, cy, corner / 2))
    return FrameLayout(kind, W, H, 0.40 * corner, cx, H - 0.78 * corner, panel, captions, band)


def place(rig: FaceRig, layout: FrameLayout, photo_bg: bool = False) -> Placement:
    """Scale and position of the avatar photo in a frame layout (frame pixels).

    The face is scaled to the layout's face height and its eyes put on the
    layout's eye line. The body continues below the photo's edge, so the
    photo is never left floating above the frame's bottom. With
    `photo_bg` the photo itself is the backdrop and must cover the frame.
    """
    L = rig.landmarks[:, :2]
    oval = L[list(lm.FACE_OVAL)]
    face_h = float(L[lm.CHIN, 1] - oval[:, 1].min())
    face_cx = float(oval[:, 0].mean())
    eyes_y = float(np.mean([c[1] for c in rig.eye_centers]))
    ih, iw = rig.image.shape[:2]
    W, H = layout.width, layout.height
    scale = layout.face_h / face_h
    if layout.bubble is None and ih > eyes_y:
        # A short photo would end above the frame's bottom: enlarge it (up to 1.6x) so the body reaches it.
        scale = max(scale, min((H - layout.eyes) / (ih - eyes_y), 1.6 * scale))
    if photo_bg and layout.kind == "full":
        scale = max(scale, W / iw, H / ih)
    x = layout.face_x - face_cx * scale
    y = layout.eyes - eyes_y * scale
    if layout.bubble is None:
        y = max(y, H - ih * scale)
    if photo_bg and layout.kind == "full":
        x = min(0.0, max(x, W - iw * scale))
        y = min(0.0, max(y, H - ih * scale))
    return Placement(scale, int(round(x)), int(round(y)))
