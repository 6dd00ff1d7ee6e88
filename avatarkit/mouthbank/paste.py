"""Warp a bank entry onto a target inner-lip contour, match its colour and blend it inside the lips."""

from __future__ import annotations

import cv2
import numpy as np

from .bank import INSET, RING, SPAN, outer_ring, polygon_mask, ring_stats

N = 20
# Fixed triangulation over 41 points: the contour (0..19), the ring outside it (20..39), the centroid (40).
_TRIS = np.array([t for i in range(N) for t in ((i, (i + 1) % N, N + i), ((i + 1) % N, N + (i + 1) % N, N + i),
                                                 (2 * N, i, (i + 1) % N))], np.int32)
FEATHER = 0.8      # Gaussian sigma (target pixels) of the blend edge
AB_SHIFT = 0.5     # share of the lip ring's a*, b* difference moved onto the pasted mouth
# Unsharp-mask amount (radius 1 target pixel) on the warped entry: the crop was resampled once when the bank
# was cut and again here, and each pass softens teeth edges.
SHARPEN = 1.0
ALIAS_SIGMA = 0.45   # Gaussian sigma (entry pixels, over the scale) of the low-pass before shrinking an entry
# How far past the target inner-lip contour the blend reaches, as a share of the lip ring: the entry's own
# inner lip edge then covers the band where the warp renderer's stretched lip would show beside it.
GROW = 0.0
# `INSET` (see the package): the entry's contour moved this far inward is what lands on the target contour,
# so its band of wet inner lip stays outside the blend and no second lower lip shows inside the warp's own.


def untangle(contour: np.ndarray) -> np.ndarray:
    """The (20, 2) inner-lip loop (`CONTOUR` order) with no lower-lip point above its upper-lip partner.

    A nearly closed target can put parts of the lower inner lip a pixel or two above the upper one (a
    warp's or a model's noise); the loop then crosses itself and the paste's triangles fold, which shows
    as a zig-zag. Crossed pairs are moved to their midpoint (lips touching), measured across the mouth's
    own corner-to-corner axis, so a tilted head is handled the same.
    """
    c = np.array(contour, np.float64)
    axis = c[10] - c[0]
    axis /= max(float(np.linalg.norm(axis)), 1e-9)
    down = np.array([-axis[1], axis[0]])
    if down[1] < 0:       # towards the chin (image y grows downward; a head is never rolled past 90 degrees)
        down = -down
    for k in range(1, 10):
        u, lo = c[k], c[N - k]
        d = (lo - u) @ down
        if d < 0:
            mid = 0.5 * (u + lo)
            c[k], c[N - k] = mid, mid
    return c


def _points(contour: np.ndarray, ring: float) -> np.ndarray:
    c = np.asarray(contour, np.float64)
    return np.concatenate([c, outer_ring(c, ring), c.mean(0, keepdims=True)])


def opening_strength(contour: np.ndarray) -> float:
    """Paste weight from the target's central inner-lip gap: 0 when the lips touch, 1 from 2.75 px open."""
    c = np.asarray(contour, np.float64)
    gap = float(np.linalg.norm(c[5] - c[15]))
    return float(np.clip((gap - 0.75) / 2.0, 0.0, 1.0))


def paste(frame: np.ndarray, contour: np.ndarray, crop: np.ndarray, shape: np.ndarray,
          light: np.ndarray | None = None, strength: float | None = None,
          grow: float | None = None, inset: float | None = None) -> tuple[int, int, int, int]:
    """Blend a canonical bank crop into `frame` (RGB uint8, in place) inside the target inner-lip `contour`.

    `contour` is the (20, 2) target inner-lip loop in frame pixels (`CONTOUR`
    order); `crop` and `shape` are the entry's canonical crop and contour,
    `light` its lip-ring Lab statistics (colour matching is skipped when
    None). `strength` scales the blend (default: from the lips' opening); `grow`
    is how far past the contour the blend reaches, in lip rings (default `GROW`); `inset` how far inside
    the entry's contour its visible lip edge lies (canonical pixels, default `INSET`; 0 for the person's
    own mouths, whose landmarks sit on their lips as the target's do).
    Returns the box (x0, y0, x1, y1) that may have changed ((0, 0, 0, 0) if none).
    """
    contour = np.asarray(contour, np.float64)
    if strength is None:
        strength = opening_strength(contour)
    if strength <= 0:
        return (0, 0, 0, 0)
    width = float(np.linalg.norm(contour[10] - contour[0]))
    ring_t = RING * max(width, 1.0)
    dst = _points(contour, ring_t)
    inset = INSET if inset is None else inset
    src = _points(outer_ring(shape, -inset) if inset else shape, RING * SPAN + inset)
    h, w = frame.shape[:2]
    x0, y0 = np.floor(dst.min(0)).astype(int) - 2
    x1, y1 = np.ceil(dst.max(0)).astype(int) + 3
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return (0, 0, 0, 0)
    bw, bh = x1 - x0, y1 - y0
    dloc = dst - [x0, y0]

    # Which triangle covers each box pixel, and the affine map from box to crop pixels per triangle.
    ids = np.zeros((bh, bw), np.uint8)
    A = np.zeros((len(_TRIS) + 1, 2, 3), np.float32)
    A[0] = [[0, 0, -10], [0, 0, -10]]   # no triangle: outside the crop
    for t, tri in enumerate(_TRIS, 1):
        d, s = dloc[tri], src[tri]
        area = (d[1, 0] - d[0, 0]) * (d[2, 1] - d[0, 1]) - (d[2, 0] - d[0, 0]) * (d[1, 1] - d[0, 1])
        if abs(area) < 1e-6:
            continue
        A[t] = cv2.getAffineTransform(d.astype(np.float32), s.astype(np.float32))
        cv2.fillConvexPoly(ids, np.round(d * 16).astype(np.int32), t, cv2.LINE_8, shift=4)
    xs, ys = np.meshgrid(np.arange(bw, dtype=np.float32), np.arange(bh, dtype=np.float32))
    M = A[ids]
    mx = M[..., 0, 0] * xs + M[..., 0, 1] * ys + M[..., 0, 2]
    my = M[..., 1, 0] * xs + M[..., 1, 1] * ys + M[..., 1, 2]
    scale = width / SPAN
    if scale < 0.9 and ALIAS_SIGMA > 0:   # shrinking: low-pass the crop first, or the remap aliases (jagged)
        crop = cv2.GaussianBlur(crop, (0, 0), ALIAS_SIGMA / scale)
    warped = cv2.remap(crop, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if SHARPEN > 0:
        warped = cv2.addWeighted(warped, 1.0 + SHARPEN, cv2.GaussianBlur(warped, (0, 0), 1.0), -SHARPEN, 0)

    region = frame[y0:y1, x0:x1]
    if light is not None:
        tgt = ring_stats(region, contour - [x0, y0], ring_t)
        lab = cv2.cvtColor(warped, cv2.COLOR_RGB2LAB).astype(np.float32)
        gain = float(np.clip(tgt[0] / max(float(light[0]), 1.0), 0.6, 1.6))
        lab[..., 0] *= gain
        lab[..., 1:] += AB_SHIFT * (tgt[1:3] - np.asarray(light[1:3], np.float32))
        warped = cv2.cvtColor(np.clip(lab + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)

    grow = GROW if grow is None else grow
    edge = outer_ring(dloc[:N], grow * ring_t) if grow > 0 else dloc[:N]
    alpha = polygon_mask(edge, (bh, bw)).astype(np.float32) / 255.0
    alpha = cv2.GaussianBlur(alpha, (0, 0), FEATHER) * np.float32(strength)
    a = alpha[..., None]
    out = region.astype(np.float32) * (1 - a) + warped.astype(np.float32) * a
    changed = alpha > 1e-3
    region[changed] = np.clip(out + 0.5, 0, 255).astype(np.uint8)[changed]
    return (x0, y0, x1, y1)
