"""The warp renderer: reenact target landmarks by deforming the photo (CPU, fast).

At bind time the face mesh (468 landmarks) plus two rings of anchor points
around the head and the border of a crop box are triangulated, and every
motion channel's landmark displacement (from `FaceDeformer`) is spread over
the crop as a dense displacement field by barycentric interpolation, on a
half-resolution grid. Per frame the renderer only sums those fields with the
frame's channel weights, inverts the forward field by fixed-point iteration
(x - F(x - F(x))), upsamples it and remaps the crop and its matte with
OpenCV, redraws the mouth box exactly, triangle by triangle (`lips.py`: the
smooth field would blur or fold the two lips), then paints the mouth
interior and, in a blink, the lid skin that covers the eye (`eyes.py`). Pixels outside the crop box never
change, and the outer anchor ring pins the neck and background, so there is
no seam; the field is a smooth function of smooth channels, so there is no
flicker.
"""

from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np
from scipy.sparse import csr_matrix
from scipy.spatial import Delaunay

from ..face import landmarks as lm
from ..face.deform import FaceDeformer, fill_rings
from ..face.rig import FaceRig
from ..motion.track import CHANNELS, FaceShape, MotionTrack
from .base import AvatarFrame, register_renderer
from .eyes import lid_tones, paint_lids
from .lips import ExactLips
from .mouth import paint_mouth, teeth_from_photo

RIGID = ("yaw", "pitch", "roll")


@register_renderer("warp")
class WarpRenderer:
    """Mesh-warp renderer; `grid` is the field resolution relative to the crop."""

    kind = "warp"

    def __init__(self, grid: float = 0.5, iterations: int = 2):
        self.grid = grid
        self.iterations = iterations

    def bind(self, rig: FaceRig) -> "BoundWarp":
        return BoundWarp(rig, self.grid, self.iterations)


class BoundWarp:
    """A `WarpRenderer` prepared for one rig; see the module docstring."""

    def __init__(self, rig: FaceRig, grid: float, iterations: int):
        self.rig = rig
        self.deformer = FaceDeformer(rig)
        self.iterations = iterations
        h, w = rig.image.shape[:2]
        mesh = rig.landmarks[: lm.NUM_MESH, :2]
        oval = rig.landmarks[list(lm.FACE_OVAL), :2]
        center = oval.mean(0)
        d = rig.iod

        ring1 = center + (oval - center) * 1.45
        ring2 = center + (oval - center) * 2.1
        lo = np.floor(np.minimum(ring2.min(0), mesh.min(0)) - 0.2 * d).astype(int)
        hi = np.ceil(np.maximum(ring2.max(0), mesh.max(0)) + 0.2 * d).astype(int)
        x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
        x1, y1 = min(int(hi[0]), w), min(int(hi[1]), h)
        self.box = (x0, y0, x1, y1)
        cw, ch = x1 - x0, y1 - y0
        step = max(8.0, 0.5 * d)
        border = np.concatenate([
            np.stack([np.linspace(x0, x1, max(2, int(cw / step))), np.full(max(2, int(cw / step)), y0)], 1),
            np.stack([np.linspace(x0, x1, max(2, int(cw / step))), np.full(max(2, int(cw / step)), y1)], 1),
            np.stack([np.full(max(2, int(ch / step)), x0), np.linspace(y0, y1, max(2, int(ch / step)))], 1),
            np.stack([np.full(max(2, int(ch / step)), x1), np.linspace(y0, y1, max(2, int(ch / step)))], 1),
        ])
        # Anchors outside the crop would drag its border: keep only those inside.
        inside = lambda r: r[(r[:, 0] > x0 + 2) & (r[:, 0] < x1 - 2) & (r[:, 1] > y0 + 2) & (r[:, 1] < y1 - 2)]
        ring1, ring2 = inside(ring1), inside(ring2)
        verts = np.concatenate([mesh, ring1, ring2, border]).astype(np.float64)
        n_mesh, n_r1 = mesh.shape[0], ring1.shape[0]

        # Vertex bases: expression moves only the mesh; the head's rigid part
        # also carries the inner anchor ring (hair, ears) and fades out below
        # the chin so the neck stays put.
        basis = self.deformer.basis
        _, v = rig.axes
        chin_v = float(rig.landmarks[lm.CHIN, :2] @ v)
        w_ring1 = np.clip(1.0 - (ring1 @ v - chin_v) / (0.6 * d), 0.0, 1.0)
        self._vbasis = {}
        oval_idx = list(lm.FACE_OVAL)
        for c in CHANNELS:
            b = np.zeros((verts.shape[0], 2), np.float32)
            b[:n_mesh] = basis[c][: lm.NUM_MESH]
            if c in RIGID:
                if c == "roll":
                    rel = ring1 - self.deformer.pivot
                    rigid = np.stack([-rel[:, 1], rel[:, 0]], 1)
                else:
                    rigid = np.broadcast_to(basis[c][oval_idx].mean(0), ring1.shape)
                b[n_mesh:n_mesh + n_r1] = rigid * w_ring1[:, None]
            self._vbasis[c] = b

        # Barycentric weights of the half-resolution grid in the triangulation.
        gw, gh = max(4, int(round(cw * grid))), max(4, int(round(ch * grid)))
        self.grid_size = (gw, gh)
        gx = x0 + (np.arange(gw) + 0.5) * cw / gw - 0.5
        gy = y0 + (np.arange(gh) + 0.5) * ch / gh - 0.5
        gxx, gyy = np.meshgrid(gx, gy)
        pts = np.stack([gxx.ravel(), gyy.ravel()], 1)
        tri = Delaunay(verts)
        simplex = tri.find_simplex(pts)
        inside = simplex >= 0
        T = tri.transform[simplex[inside]]
        r = pts[inside] - T[:, 2]
        bary2 = np.einsum("nij,nj->ni", T[:, :2], r)
        bary = np.concatenate([bary2, 1 - bary2.sum(1, keepdims=True)], 1)
        rows = np.repeat(np.nonzero(inside)[0], 3)
        cols = tri.simplices[simplex[inside]].ravel()
        # The field is linear in the vertices' displacement: a frame mixes the
        # channels' vertex bases (a few hundred points) and spreads the mix
        # over the grid with one sparse product, instead of mixing whole fields.
        self._spread = csr_matrix((bary.ravel(), (rows, cols)), shape=(pts.shape[0], verts.shape[0]),
                                  dtype=np.float32)

        # Grid points in grid coordinates (for the inverse lookup), and pixels per grid step along x and y.
        self._grid_xy = np.dstack([(gxx - x0 + 0.5) * gw / cw - 0.5, (gyy - y0 + 0.5) * gh / ch - 0.5]
                                  ).astype(np.float32)
        self._step = (cw / gw, ch / gh)
        self._crop_size = (cw, ch)
        ix, iy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        self._ixy = np.dstack([ix, iy])
        self._rgba = np.dstack([rig.image, np.round(np.clip(rig.matte, 0, 1) * 255).astype(np.uint8)])
        self.lips = ExactLips(self.deformer)
        self.teeth = teeth_from_photo(rig.image, rig.landmarks, rig.rest_gap)
        self.lid_tones = lid_tones(rig.image, rig.landmarks, rig.iod)
        self.static_rgb = rig.image[y0:y1, x0:x1]
        self.static_matte = rig.matte[y0:y1, x0:x1]

    def field(self, values: dict[str, float], shape: FaceShape | None = None) -> np.ndarray:
        """Forward displacement (grid h, grid w, 2) in pixels for one frame (`shape`: see `MotionTrack`)."""
        v = np.zeros_like(self._vbasis["jaw"])
        for c, wt in self.deformer.weights(values).items():
            if abs(wt) > 1e-5:
                v += np.float32(wt) * self._vbasis[c]
        if shape is not None:
            # The shape places its points exactly; the channels still move the mesh points it leaves out
            # (with a mouth shape: the cheeks and chin between lips and jaw line), so the field stays smooth.
            idx = list(shape.points)
            d = self.deformer
            before = v[: lm.NUM_MESH].copy()
            v[idx] = (d.shape_base - d.rest)[idx] + d.rigid(values)[idx] + d.shape_pixels(shape.offsets)
            fill_rings(v, before, shape)
        gw, gh = self.grid_size
        return (self._spread @ v).reshape(gh, gw, 2)

    def render_frame(self, values: dict[str, float], shape: FaceShape | None = None) -> AvatarFrame:
        """Render one frame from channel values (see `MotionTrack.frame`) and, if given, its shape."""
        x0, y0, x1, y1 = self.box
        cw, ch = self._crop_size
        F = self.field(values, shape)
        # Invert the forward field: the source of output pixel x is s with
        # s + F(s) = x, found by iterating s <- x - F(s), F read at s. The
        # iteration runs in grid steps; OpenCV scales the two channels (numpy
        # broadcasting over a trailing axis of 2 is twenty times slower).
        sx, sy = self._step
        Fg = cv2.multiply(F, (1.0 / sx, 1.0 / sy, 0.0, 0.0))
        Fs = Fg
        for _ in range(self.iterations):
            Fs = cv2.remap(Fg, self._grid_xy - Fs, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # Upsample the displacement, not the positions: it is zero at the box
        # edge, so the edge maps exactly onto the untouched photo (no seam).
        shift = cv2.resize(cv2.multiply(Fs, (sx, sy, 0.0, 0.0)), (cw, ch), interpolation=cv2.INTER_LINEAR)
        np.subtract(self._ixy, shift, out=shift)
        # The photo and its matte (8 bits, as the fourth channel) move in one remap: four channels remap
        # faster than three, and one pass is cheaper than two.
        rgba = cv2.remap(self._rgba, shift, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        rgb = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
        matte = cv2.extractChannel(rgba, 3).astype(np.float32)
        matte *= 1.0 / 255.0
        target = self.deformer.targets(values, shape)
        self.lips.draw(rgb, (x0, y0), target)
        paint_mouth(rgb, (x0, y0), target, self.rig.iod, self.teeth)
        if values.get("blink", 0.0) > 0.02:
            # The lids' open place comes from the channels alone: a shape that places the lids (a measured
            # face) says where they are now, and the lid skin is painted over the difference.
            opened = self.deformer.targets({**values, "blink": 0.0})
            paint_lids(rgb, (x0, y0), opened, target, self.rig.iod, self.lid_tones)
        return AvatarFrame(self.box, rgb, matte, target)

    def frames(self, track: MotionTrack) -> Iterator[AvatarFrame]:
        for i in range(len(track)):
            yield self.render_frame(track.frame(i), track.frame_shape(i))
