"""Paint the inside of the mouth where the warped lips part.

Warping alone would stretch the lip line into a smear when the jaw opens.
Inside the target inner-lip contour we paint a dark oral cavity with a
warmer tongue tone towards the lower lip, and upper teeth hanging from the
upper lip: the photo's own teeth when they show in it (so identity is kept),
otherwise a soft synthetic band.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..face import landmarks as lm

CAVITY_TOP = np.array([48, 18, 18], np.float32)
CAVITY_BOTTOM = np.array([160, 78, 74], np.float32)
TEETH = np.array([226, 222, 212], np.float32)
LOWER_TEETH = np.array([205, 196, 186], np.float32)
_POLY = list(lm.LIP_INNER_UPPER) + list(reversed(lm.LIP_INNER_LOWER[1:-1]))
_SHIFT = 3  # fixed-point bits for sub-pixel polygon edges


@dataclass
class TeethTexture:
    """The photo's visible teeth (RGB and alpha), with their rest width and gap in pixels."""

    rgb: np.ndarray
    alpha: np.ndarray
    width: float
    offset: tuple[float, float]   # texture top-left minus the upper-lip centre, rest pixels


def _polygon_mask(poly: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Anti-aliased uint8 mask (0..255) of a polygon given in sub-pixel coordinates."""
    mask = np.zeros(shape, np.uint8)
    pts = np.round(poly * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA, shift=_SHIFT)
    return mask


def teeth_from_photo(image: np.ndarray, landmarks: np.ndarray, rest_gap: float) -> TeethTexture | None:
    """Cut the teeth region between the photo's inner lips, if the mouth shows them (>= 2 px)."""
    if rest_gap < 2.0:
        return None
    poly = landmarks[_POLY, :2]
    x0, y0 = np.floor(poly.min(0)).astype(int) - 1
    x1, y1 = np.ceil(poly.max(0)).astype(int) + 2
    x0, y0 = max(x0, 0), max(y0, 0)
    rgb = image[y0:y1, x0:x1].astype(np.float32)
    mask = _polygon_mask(poly - [x0, y0], rgb.shape[:2])
    # Keep the bright part (teeth), not the dark gaps or the lip edge.
    lum = rgb.mean(2)
    bright = np.clip((lum - 90) / 60.0, 0, 1)
    alpha = cv2.erode(mask, np.ones((2, 2), np.uint8)).astype(np.float32) / 255.0 * bright
    if alpha.sum() < 4:
        return None
    width = float(np.linalg.norm(landmarks[lm.LIP_INNER_UPPER[-1], :2] - landmarks[lm.LIP_INNER_UPPER[0], :2]))
    anchor = landmarks[lm.UPPER_LIP_CENTER, :2]
    return TeethTexture(rgb, alpha, width, (float(x0 - anchor[0]), float(y0 - anchor[1])))


def _box(points: np.ndarray, pad: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """The pixel box (x0, y0, x1, y1) around `points` grown by `pad` pixels (one more past the far edge, so
    the anti-aliased rim fits), clipped to an image of `shape` (h, w)."""
    h, w = shape
    x0, y0 = np.floor(points.min(0)).astype(int) - pad
    x1, y1 = np.ceil(points.max(0)).astype(int) + pad + 1
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)


SEAM_GAP = 3.0      # pixels: below this lip gap a photo that showed its teeth gets a drawn lip seam
SEAM_ALPHA = 0.6    # the seam's opacity at its centre, fully closed


def _paint_seam(crop: np.ndarray, origin: tuple[int, int], target: np.ndarray, iod: float, strength: float) -> None:
    """Draw the line where closing lips meet, for a photo that shows its teeth: nearly closed, the photo's
    teeth are squeezed into a bright sliver between the lips, which reads (to a viewer and to MediaPipe) as
    a mouth still open, and closed, the upper lip lies over the lower one along a stair-stepped edge
    (`lips.py`). The line is the lips' own colour darkened, anti-aliased, `strength` 0..1 opaque."""
    o = np.array(origin, np.float32)
    upper = target[list(lm.LIP_INNER_UPPER)] - o
    lower = target[list(lm.LIP_INNER_LOWER)] - o
    # Lips pressed together overlap, the upper one in front: then its edge is where they meet.
    seam = np.where((lower[:, 1] > upper[:, 1])[:, None], (upper + lower) / 2, upper)
    x0, y0, x1, y1 = _box(seam, 4, crop.shape[:2])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return
    region = crop[y0:y1, x0:x1]
    # The lips' colour: just above the upper inner lip and below the lower one, away from the sliver.
    probe = np.concatenate([upper[2:-2] - [0, 0.03 * iod], lower[2:-2] + [0, 0.03 * iod]]) - [x0, y0]
    px = np.clip(np.round(probe).astype(int), 0, [x1 - x0 - 1, y1 - y0 - 1])
    colour = region[px[:, 1], px[:, 0]].astype(np.float32).mean(0) * 0.55
    mask = np.zeros(region.shape[:2], np.uint8)
    pts = np.round((seam - [x0, y0]) * (1 << _SHIFT)).astype(np.int32)
    cv2.polylines(mask, [pts], False, 255, max(1, int(round(0.02 * iod))), cv2.LINE_AA, shift=_SHIFT)
    a = (mask.astype(np.float32) / 255.0 * (SEAM_ALPHA * strength))[:, :, None]
    region[:] = np.clip(region * (1 - a) + colour * a + 0.5, 0, 255).astype(np.uint8)


def paint_mouth(crop: np.ndarray, origin: tuple[int, int], target: np.ndarray, iod: float,
                teeth: TeethTexture | None) -> None:
    """Paint the mouth interior into `crop` (uint8 RGB, modified in place).

    `origin` is the crop's top-left in the coordinates of `target`, the
    (478, 2) target landmarks in pixels; `iod` sets the synthetic teeth size.
    """
    poly = target[_POLY] - np.array(origin, np.float32)
    up, lo = target[lm.UPPER_LIP_CENTER], target[lm.LOWER_LIP_CENTER]
    gap = float(np.linalg.norm(lo - up))
    if teeth is not None and gap < SEAM_GAP:
        _paint_seam(crop, origin, target, iod, float(np.clip((SEAM_GAP - gap) / (SEAM_GAP - 0.75), 0.0, 1.0)))
    if gap < 0.75:
        return
    x0, y0, x1, y1 = _box(poly, 1, crop.shape[:2])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    bw, bh = x1 - x0, y1 - y0
    mask = _polygon_mask(poly - [x0, y0], (bh, bw))
    alpha = mask.astype(np.float32) / 255.0
    alpha *= float(np.clip((gap - 0.75) / 2.5, 0.0, 1.0))

    top = float(up[1] - origin[1] - y0)
    bottom = float(lo[1] - origin[1] - y0)
    ys = (np.arange(bh, dtype=np.float32) - top) / max(bottom - top, 1.0)
    t = np.clip(ys, 0, 1)[:, None, None] ** 1.5
    inside = CAVITY_TOP * (1 - t) + CAVITY_BOTTOM * t
    inside = np.broadcast_to(inside, (bh, bw, 3)).copy()

    cx = float((target[lm.LIP_INNER_UPPER[0], 0] + target[lm.LIP_INNER_UPPER[-1], 0]) / 2 - origin[0] - x0)
    mouth_w = float(np.linalg.norm(target[lm.LIP_INNER_UPPER[-1]] - target[lm.LIP_INNER_UPPER[0]]))
    if teeth is not None:
        sx = max(0.3, mouth_w / max(teeth.width, 1.0))
        tw = max(1, int(round(teeth.rgb.shape[1] * sx)))
        th = teeth.rgb.shape[0]
        trgb = cv2.resize(teeth.rgb, (tw, th), interpolation=cv2.INTER_LINEAR)
        ta = cv2.resize(teeth.alpha, (tw, th), interpolation=cv2.INTER_LINEAR)
        # Keep the teeth where they sit relative to the upper lip in the photo.
        ux = float(up[0] - origin[0] - x0)
        tx0 = int(round(ux + teeth.offset[0] * sx))
        ty0 = int(round(top + teeth.offset[1]))
    else:
        th = max(2, int(round(0.11 * iod)))
        tw = max(2, int(round(mouth_w * 0.9)))
        shade = np.linspace(0.8, 1.0, th, dtype=np.float32)[:, None, None]
        trgb = np.broadcast_to(TEETH * shade, (th, tw, 3)).astype(np.float32)
        ta = np.full((th, tw), 0.9, np.float32)
        tx0 = int(round(cx - tw / 2))
        ty0 = int(round(top))
    # Clip the teeth rectangle to the box and blend it over the cavity.
    ax0, ay0 = max(tx0, 0), max(ty0, 0)
    ax1, ay1 = min(tx0 + tw, bw), min(ty0 + th, bh)
    if ax1 > ax0 and ay1 > ay0:
        a = ta[ay0 - ty0:ay1 - ty0, ax0 - tx0:ax1 - tx0, None]
        inside[ay0:ay1, ax0:ax1] = inside[ay0:ay1, ax0:ax1] * (1 - a) + trgb[ay0 - ty0:ay1 - ty0, ax0 - tx0:ax1 - tx0] * a
    # A hint of the lower teeth just inside the lower lip once the mouth is
    # well open (they are mostly hidden by the lip, so keep it faint).
    if bottom - top > 0.12 * iod:
        lh = max(1, int(round(0.05 * iod)))
        ly1 = int(round(bottom)) - 1
        lx0, lx1 = int(round(cx - 0.3 * mouth_w)), int(round(cx + 0.3 * mouth_w))
        lx0, lx1, ly0, ly1 = max(lx0, 0), min(lx1, bw), max(ly1 - lh, 0), min(ly1, bh)
        if lx1 > lx0 and ly1 > ly0:
            strength = 0.45 * float(np.clip((bottom - top - 0.12 * iod) / (0.1 * iod), 0, 1))
            xs = np.linspace(-1, 1, lx1 - lx0, dtype=np.float32)
            fade = (strength * (1 - xs ** 2))[None, :, None]
            inside[ly0:ly1, lx0:lx1] = inside[ly0:ly1, lx0:lx1] * (1 - fade) + LOWER_TEETH * fade
    region = crop[y0:y1, x0:x1].astype(np.float32)
    a = alpha[:, :, None]
    crop[y0:y1, x0:x1] = np.clip(region * (1 - a) + inside * a + 0.5, 0, 255).astype(np.uint8)
