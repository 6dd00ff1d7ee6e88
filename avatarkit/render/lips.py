"""The lips moved triangle by triangle: an exact piecewise-affine warp of the mouth box.

The warp renderer's field is smooth by design (`warp.py`: half-resolution,
inverted by fixed-point iteration), which suits cheeks and brows but not
the lips, whose two edges move apart or together across a gap of a few
pixels. There the smooth field blurs the two lips into each other (a
stretched, ragged fringe along the inner lips as the mouth opens) and,
where a photo's open mouth closes, folds them (a striped band). So the
mouth box is drawn again here, exactly: the landmarks around the mouth are
triangulated once with the mouth wide open (so no triangle spans the two
lips), and every frame each triangle is filled from its own triangle of the
photo. The inside of the mouth goes down first, the lower face next and the
upper lip last, so lips pressed together overlap the way real ones do; a
triangle that turns over is left out. Past the outer lips the result fades
into the smooth field's, which agrees with it there. Only the box around
the lips is mapped (about 1 ms a frame at 720p); a face at rest is left to
the smooth field, which gives the photo back exactly.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

from ..face import landmarks as lm
from ..face.deform import FaceDeformer

REACH = 0.75        # IODs from the mouth's centre: the landmarks this box moves exactly
FEATHER = 0.2       # IODs past the outer lips over which the box fades into the smooth field
SQUEEZE = 0.15      # a triangle squeezed below this share of its area in the photo is left out
_SHIFT = 4          # fixed-point bits for the triangles' sub-pixel corners
_INNER = list(dict.fromkeys(lm.LIP_INNER_UPPER + tuple(reversed(lm.LIP_INNER_LOWER[1:-1]))))
_SHARED = set(lm.MOUTH_CORNERS)
_LIPS = set(lm.LIP_INNER_UPPER + lm.LIP_INNER_LOWER + lm.LIP_MID_UPPER + lm.LIP_MID_LOWER + lm.LIP_RING_UPPER
             + lm.LIP_RING_LOWER + lm.LIP_OUTER_UPPER + lm.LIP_OUTER_LOWER)
_OUTER = list(lm.LIP_OUTER_UPPER) + list(lm.LIP_OUTER_LOWER[::-1][1:-1])
_UPPER = (set(lm.LIP_INNER_UPPER + lm.LIP_MID_UPPER + lm.LIP_RING_UPPER + lm.LIP_OUTER_UPPER) - _SHARED)


class ExactLips:
    """The mouth box of one rig, drawn exactly (see the module docstring); `draw` runs per frame."""

    def __init__(self, deformer: FaceDeformer):
        rig = deformer.rig
        d = rig.iod
        rest = deformer.rest[: lm.NUM_MESH].astype(np.float64)
        dist = np.linalg.norm(rest - rig.mouth_center, axis=1)
        keep = np.nonzero(dist < REACH * d)[0]
        keep = np.union1d(keep, sorted(_LIPS))
        # Triangulate with the mouth wide open: then no triangle joins the upper lip to the lower one.
        opened = deformer.targets({"jaw": 1.0})[keep].astype(np.float64)
        tris = Delaunay(opened).simplices
        inner_poly = opened[np.searchsorted(keep, _INNER)].astype(np.float32)
        mid = opened[tris].mean(1)
        inside = np.array([cv2.pointPolygonTest(inner_poly, (float(x), float(y)), False) >= 0 for x, y in mid])
        # The hull's long slivers reach past the box, and a sliver (open, or in the photo) smears its few
        # source pixels along a line: leave both to the smooth field. The inside of a closed mouth is a
        # sliver in the photo by nature, and is kept.
        src = rest[keep]
        ok = (_fatness(opened[tris]) > 0.04) & (inside | (_fatness(src[tris]) > 0.04))
        ok &= _longest(src[tris]) < 0.35 * d
        tris, inside = tris[ok], inside[ok]
        upper = np.isin(keep, list(_UPPER))[tris].any(1)
        layer = np.where(inside, 0, np.where(upper, 2, 1))
        order = np.argsort(layer, kind="stable")
        self.tris, self.keep = tris[order], keep
        self.source = src
        self.sign = np.sign(_area(opened[self.tris]))
        self.area = np.abs(_area(self.source[self.tris]))
        # Only the triangles that reach within FEATHER of the lips: beyond them the smooth field is as good,
        # and smooths the noise of measured landmarks that drive a frame.
        outer = rest[list(lm.LIP_OUTER_UPPER + lm.LIP_OUTER_LOWER)]
        reach = np.linalg.norm(rest[keep][:, None] - outer[None], axis=2).min(1)
        near = np.isin(keep, list(_LIPS)) | (reach < FEATHER * d)
        used = near[self.tris].any(1)
        self.tris, self.sign, self.area = self.tris[used], self.sign[used], self.area[used]
        self.feather = FEATHER * d
        # Per triangle: its affine map's six coefficients (filled per frame) and its source box (x0, y0, x1, y1
        # in the photo, 1 px margin); one more row for pixels no triangle covers.
        self._table = np.zeros((len(self.tris) + 1, 10), np.float32)
        self._table[:-1, 6:8] = self.source[self.tris].min(1) - 1.0
        self._table[:-1, 8:10] = self.source[self.tris].max(1) + 1.0
        self.image = rig.image

    def draw(self, crop: np.ndarray, origin: tuple[int, int], target: np.ndarray) -> None:
        """Redraw the mouth box into `crop` (uint8 RGB, in place); `origin` is the crop's top-left and
        `target` the frame's (478, 2) landmarks, both in the photo's pixels."""
        if np.abs(target[self.keep] - self.source).max() < 0.25:
            return      # the face at rest: the smooth field leaves the photo as it is, exactly
        o = np.asarray(origin, np.float64)
        t = target[self.keep].astype(np.float64) - o
        h, w = crop.shape[:2]
        # The box: the target's outer lips and the feather around them.
        rim = target[_OUTER].astype(np.float64) - o
        x0, y0 = np.maximum(np.floor(rim.min(0) - self.feather).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(rim.max(0) + self.feather).astype(int) + 1, [w, h])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        tri_t = t[self.tris]
        # A triangle squeezed nearly flat would smear its whole source along a line: leave it out too.
        area = _area(tri_t) * self.sign
        live = (area > 1e-3) & (area > SQUEEZE * self.area)      # (a near-empty triangle has no pixels, and no inverse)
        live &= (tri_t[:, :, 0].max(1) >= x0) & (tri_t[:, :, 0].min(1) < x1) & (tri_t[:, :, 1].max(1) >= y0) \
            & (tri_t[:, :, 1].min(1) < y1)
        owner = np.full((y1 - y0, x1 - x0), -1, np.int32)
        corners = np.round((tri_t - [x0, y0]) * (1 << _SHIFT)).astype(np.int32)
        ids = np.nonzero(live)[0]
        for k, c in zip(ids.tolist(), corners[ids]):
            cv2.fillConvexPoly(owner, c, k, cv2.LINE_8, shift=_SHIFT)
        # Full weight inside the target's outer lips, fading to nothing `feather` pixels past them; only the
        # pixels with some weight are mapped.
        lips = np.zeros(owner.shape, np.uint8)
        outer = np.round((rim - [x0, y0]) * (1 << _SHIFT)).astype(np.int32)
        cv2.fillPoly(lips, [outer], 1, cv2.LINE_8, shift=_SHIFT)
        dist = cv2.distanceTransform(1 - lips, cv2.DIST_L2, 3)
        alpha = np.clip(1.0 - dist / self.feather, 0.0, 1.0)
        alpha[owner < 0] = 0.0
        if not (alpha > 0).any():
            return
        # One affine map per live triangle (frame pixel -> photo pixel), solved in one batch; every box pixel
        # then reads its triangle's map and source bounds from one table (the last row: no triangle).
        corners3 = np.concatenate([tri_t[ids], np.ones((len(ids), 3, 1))], 2)
        table = self._table
        table[:, :6] = 0.0
        table[ids, :6] = np.linalg.solve(corners3, self.source[self.tris[ids]]).reshape(len(ids), 6)
        owner[owner < 0] = len(self.tris)
        c = table[owner]
        px = np.arange(x0, x1, dtype=np.float32)[None]
        py = np.arange(y0, y1, dtype=np.float32)[:, None]
        # A triangle's edge pixels can lie just outside it, where its map still holds; a thin triangle's map
        # reaches far there, so no pixel fetches from beyond its triangle's box in the photo (1 px margin).
        map_x = np.clip(px * c[..., 0] + py * c[..., 2] + c[..., 4], c[..., 6], c[..., 8])
        map_y = np.clip(px * c[..., 1] + py * c[..., 3] + c[..., 5], c[..., 7], c[..., 9])
        drawn = cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        region = crop[y0:y1, x0:x1]
        region[:] = cv2.blendLinear(drawn, region, alpha, 1.0 - alpha)


def _longest(tri: np.ndarray) -> np.ndarray:
    """Longest edge (n,) of triangles (n, 3, 2)."""
    return np.max([np.linalg.norm(tri[:, a] - tri[:, b], axis=1) for a, b in ((0, 1), (1, 2), (2, 0))], axis=0)


def _fatness(tri: np.ndarray) -> np.ndarray:
    """Area over the longest edge squared (n,): 0.43 for an equilateral triangle, 0 for a flat one."""
    return np.abs(_area(tri)) / 2 / np.maximum(_longest(tri), 1e-6) ** 2


def _area(tri: np.ndarray) -> np.ndarray:
    """Signed areas (n,) of triangles (n, 3, 2)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
