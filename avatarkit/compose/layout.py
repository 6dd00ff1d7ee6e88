"""Layouts: where the avatar sits in the frame, and the per-frame compositing.

`full` frames the presenter head-and-shoulders in the centre of the frame;
`pip` puts them in a round picture-in-picture bubble in the lower right
corner, leaving the rest of the frame to the background (and, later, slides)
with the video title. With a generated background the person is matted out
by MediaPipe selfie segmentation; with `background: photo` the photo itself
fills the avatar's area.

Everything that does not move is composited once into `base`; per frame
only the renderer's changed box is blended, as under + (avatar - under) * a.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..face import landmarks as lm
from ..face.rig import FaceRig
from ..render.base import AvatarFrame
from ..script.model import Background
from .background import make_background
from .text import AI_LABEL, LabelStamp, draw_title


@dataclass(frozen=True)
class Placement:
    """The avatar image scaled by `scale` with its top-left at (`x`, `y`) frame pixels."""

    scale: float
    x: int
    y: int


def place(rig: FaceRig, layout: str, width: int, height: int, photo_bg: bool) -> Placement:
    """Choose scale and position of the avatar photo for a layout (frame pixels)."""
    L = rig.landmarks[:, :2]
    oval = L[list(lm.FACE_OVAL)]
    face_h = float(L[lm.CHIN, 1] - oval[:, 1].min())
    face_cx = float(oval[:, 0].mean())
    eyes_y = float(np.mean([c[1] for c in rig.eye_centers]))
    ih, iw = rig.image.shape[:2]
    if layout == "pip":
        diameter = 0.42 * height
        scale = 0.42 * diameter / face_h
        cx = width - 0.05 * height - diameter / 2
        cy = height - 0.05 * height - diameter / 2
        return Placement(scale, int(round(cx - face_cx * scale)), int(round(cy - 0.12 * diameter - eyes_y * scale)))
    scale = 0.30 * height / face_h
    if photo_bg:
        scale = max(scale, width / iw, height / ih)
    x = width / 2 - face_cx * scale
    y = 0.40 * height - eyes_y * scale
    # The body continues below the photo's edge: never leave a gap under it.
    y = max(y, height - ih * scale)
    if photo_bg:
        x = min(0.0, max(x, width - iw * scale))
        y = min(0.0, max(y, height - ih * scale))
    return Placement(scale, int(round(x)), int(round(y)))


def decontaminate(image: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """Replace the photo's old background showing through the matte's soft edge.

    Edge pixels (matte below ~0.95) mix the person with the original
    backdrop, which shows as a light halo on a new background. They are
    pulled towards the local colour of the person (a normalised blur of the
    pixels well inside the matte), more so the more transparent they are.
    """
    k = max(5, int(round(min(image.shape[:2]) * 0.02)) | 1)
    inner = (matte > 0.97).astype(np.float32)
    img = image.astype(np.float32)
    num = cv2.blur(img * inner[..., None], (k, k))
    den = cv2.blur(inner, (k, k))[..., None]
    local = np.where(den > 1e-3, num / np.maximum(den, 1e-3), img)
    w = np.clip((matte - 0.55) / 0.4, 0.0, 1.0)[..., None]
    w = w * w * (3 - 2 * w)
    return np.clip(img * w + local * (1 - w) + 0.5, 0, 255).astype(np.uint8)


class SceneCompositor:
    """Composites a bound avatar over a scene's background for one layout."""

    def __init__(self, rig: FaceRig, background: Background, layout: str, width: int, height: int,
                 title: str = ""):
        self.width, self.height = width, height
        photo_bg = background.kind == "photo"
        self.placement = place(rig, layout, width, height, photo_bg)
        bg = make_background(background if not photo_bg else Background("studio"), width, height)
        under = bg.astype(np.float32)
        clip = np.ones((height, width), np.float32)
        if layout == "pip":
            d = 0.42 * height
            cx, cy = width - 0.05 * height - d / 2, height - 0.05 * height - d / 2
            yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
            dist = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
            clip = np.clip((d / 2 - dist) / 1.5 + 0.5, 0, 1)
            ring = np.clip(1.0 - np.abs(dist - d / 2 - 2.5) / 2.5, 0, 1)[..., None]
            inner = make_background(Background("studio", ("#d9dde3", "#ffffff")), width, height)
            under = under * (1 - clip[..., None]) + inner.astype(np.float32) * clip[..., None]
            under = under * (1 - ring) + 255.0 * ring
            if title:
                tmp = under.astype(np.uint8)
                draw_title(tmp, title, (int(0.07 * width), int(0.1 * height),
                                        int(cx - d / 2 - 0.05 * width), int(0.62 * height)))
                under = tmp.astype(np.float32)
        self.under = np.clip(under, 0, 255).astype(np.uint8)
        self.clip = clip
        self.photo_bg = photo_bg
        self.rig = rig.scaled(self.placement.scale)
        if not photo_bg:
            self.rig = replace(self.rig, image=decontaminate(self.rig.image, self.rig.matte))
        # Static composite of the whole (unanimated) avatar layer.
        self.base = self.under.copy()
        ih, iw = self.rig.image.shape[:2]
        box = (0, 0, iw, ih)
        matte = np.ones((ih, iw), np.float32) if photo_bg else self.rig.matte
        self._blend_into(self.base, box, self.rig.image, matte)
        self.label = LabelStamp(width, height, AI_LABEL)
        self.label(self.base)

    def _blend_into(self, frame: np.ndarray, box, rgb: np.ndarray, matte: np.ndarray) -> None:
        p = self.placement
        x0, y0 = box[0] + p.x, box[1] + p.y
        h, w = rgb.shape[:2]
        fx0, fy0 = max(x0, 0), max(y0, 0)
        fx1, fy1 = min(x0 + w, self.width), min(y0 + h, self.height)
        if fx1 <= fx0 or fy1 <= fy0:
            return
        sub_rgb = rgb[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        a = matte[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0] * self.clip[fy0:fy1, fx0:fx1]
        under = self.under[fy0:fy1, fx0:fx1]
        frame[fy0:fy1, fx0:fx1] = cv2.blendLinear(sub_rgb, under, np.ascontiguousarray(a, np.float32),
                                                  np.ascontiguousarray(1.0 - a, np.float32))

    def compose(self, avatar: AvatarFrame, out: np.ndarray | None = None, *, fresh: bool = True
                ) -> np.ndarray:
        """The final RGB frame (height, width, 3) for one avatar frame.

        With `out` and `fresh=False` only the avatar's box is redrawn: valid
        when `out` holds this compositor's previous frame (the box is the same
        every frame), and it saves copying the whole frame.
        """
        frame = self.base.copy() if out is None else out
        if out is not None and fresh:
            np.copyto(frame, self.base)
        matte = np.ones_like(avatar.matte) if self.photo_bg else avatar.matte
        self._blend_into(frame, avatar.box, avatar.rgb, matte)
        x, _, _, y1 = self.label.box
        p = self.placement
        bx0, by0, bx1, by1 = avatar.box
        if bx1 + p.x > x and by0 + p.y < y1:
            self.label(frame)
        return frame
