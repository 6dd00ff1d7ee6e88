"""Paint the closing eyelid where the warped upper lid comes down.

Warping alone cannot close an eye: it pulls the lid skin down and squeezes
the iris and the white of the eye into a dark smear along the lid line, so
a blink stops half way. Between where the upper lid would be with the eye
open and where it is now, a real eye shows only lid skin. We paint that
band with the person's own lid tone (sampled at bind time from the skin
between the upper lid and the brow), shaded darker towards the lash line,
and draw the lashes along the lid's edge, so a full blink shows a closed
lid and half a blink shows half a lid.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..face import landmarks as lm
from .mouth import _polygon_mask

EYES = ((lm.LEFT_EYE_CORNERS, lm.LEFT_EYE_UPPER), (lm.RIGHT_EYE_CORNERS, lm.RIGHT_EYE_UPPER))
LASH = np.array([38, 28, 26], np.float32)


def _lid(corners, upper, pts: np.ndarray) -> np.ndarray:
    """The upper lid line from corner to corner (9, 2), ordered along the eye."""
    a, b = pts[corners[0], :2], pts[corners[1], :2]
    line = pts[list(upper), :2]
    if np.linalg.norm(line[0] - a) > np.linalg.norm(line[0] - b):
        a, b = b, a
    return np.concatenate([a[None], line, b[None]])


def lid_tones(image: np.ndarray, landmarks: np.ndarray, iod: float) -> np.ndarray:
    """Each eye's lid skin colour (2, 3) float32: the median of the band 0.08-0.2 IOD above the upper lid
    (above the lash line and the crease's shadow, below the brow)."""
    tones = []
    h, w = image.shape[:2]
    for corners, upper in EYES:
        line = _lid(corners, upper, landmarks)
        poly = np.concatenate([line - [0, 0.08 * iod], (line - [0, 0.2 * iod])[::-1]])
        x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + 1, [w, h])
        patch = image[y0:y1, x0:x1].reshape(-1, 3)
        mask = _polygon_mask(poly - [x0, y0], (y1 - y0, x1 - x0)).reshape(-1) > 127
        tones.append(np.median(patch[mask], 0) if mask.any() else np.median(patch, 0))
    return np.asarray(tones, np.float32)


def paint_lids(rgb: np.ndarray, origin: tuple[int, int], open_pts: np.ndarray, now_pts: np.ndarray,
               iod: float, tones: np.ndarray) -> None:
    """Paint lid skin into `rgb` (a crop whose top-left is `origin` in landmark pixels), in place.

    `open_pts` are the frame's target landmarks with the eyes open and
    `now_pts` with the frame's blink; the band between the two upper lids
    becomes lid skin, darker towards the lash line, which gets a lash
    stroke. Nothing is painted where the lids have not moved.
    """
    ox, oy = origin
    h, w = rgb.shape[:2]
    for (corners, upper), tone in zip(EYES, tones):
        top = _lid(corners, upper, open_pts) - [ox, oy]
        now = _lid(corners, upper, now_pts) - [ox, oy]
        drop = float(np.max((now - top)[:, 1]))
        if drop < 0.5:
            continue
        poly = np.concatenate([top - [0, 0.01 * iod], now[::-1] + [0, 0.02 * iod]])
        x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int) - 2, 0)
        x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + 3, [w, h])
        if x1 <= x0 or y1 <= y0:
            continue
        region = rgb[y0:y1, x0:x1].astype(np.float32)
        alpha = _polygon_mask(poly - [x0, y0], region.shape[:2]).astype(np.float32) / 255.0
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.5, 0.012 * iod))[..., None]
        # Shade: the lid rounds away from the light towards its edge.
        yy = np.arange(y0, y1, dtype=np.float32)[:, None, None]
        t = np.clip((yy - top[:, 1].min()) / max(float(now[:, 1].max() - top[:, 1].min()), 1.0), 0, 1)
        skin = tone[None, None, :] * (1.0 - 0.15 * t ** 2)
        out = region * (1 - alpha) + skin * alpha
        # Lashes along the lid's edge, as strong as the lid is far down.
        lash = np.zeros(region.shape[:2], np.float32)
        edge = np.round((now - [x0, y0]) * 8).astype(np.int32)
        cv2.polylines(lash, [edge], False, 1.0, max(1, int(round(0.025 * iod))), cv2.LINE_AA, shift=3)
        lash = cv2.GaussianBlur(lash, (0, 0), 0.6)
        strength = np.clip(drop / max(0.08 * iod, 1.0), 0, 1) * 0.75
        lash = lash[..., None] * strength
        out = out * (1 - lash) + LASH * lash
        rgb[y0:y1, x0:x1] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
