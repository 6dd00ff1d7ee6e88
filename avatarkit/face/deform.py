"""MotionTrack values to target landmark positions for one `FaceRig`.

This is the contract between motion and rendering: every channel is a
displacement field over the 478 landmarks, in the rig's pixels, scaled to
its face (the unit is the inter-ocular distance, IOD). Small head rotations
use the landmarks' depth, so the nose moves more than the cheeks when the
head turns. The combination is linear in the channel values, which lets the
warp renderer precompute one dense field per channel.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ..motion.track import FaceShape
from . import landmarks as lm
from .rig import FaceRig

# Largest inner-lip opening (jaw = 1), in IODs; a wide-open "ah" is ~0.45.
MAX_OPEN = 0.42


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


_RING_SOURCES = ((lm.LIP_RING_UPPER, lm.LIP_OUTER_UPPER, lm.LIP_MID_UPPER),
                 (lm.LIP_RING_LOWER, lm.LIP_OUTER_LOWER, lm.LIP_MID_LOWER))


def fill_rings(disp: np.ndarray, before: np.ndarray, shape: FaceShape) -> None:
    """Move the lip rings a shape leaves out (`lm.LIP_RING_*`) with the lips it places, in place on `disp`
    ((N >= 468, 2) positions or displacements from rest, pixels, the shape's points already placed): each ring
    point keeps its value in `before` (the channels alone) plus the mean of what the shape changed at its outer
    and middle neighbours, so a shape that repeats the channels changes nothing."""
    placed = set(shape.points)
    for ring, outer, mid in _RING_SOURCES:
        if placed.issuperset(outer) and placed.issuperset(mid) and not placed.issuperset(ring):
            o, m, r = list(outer), list(mid), list(ring)
            disp[r] = before[r] + 0.5 * ((disp[o] - before[o]) + (disp[m] - before[m]))


class FaceDeformer:
    """Per-channel landmark displacement bases for a rig; see module docstring."""

    def __init__(self, rig: FaceRig):
        self.rig = rig
        self.rest = rig.landmarks[:, :2].astype(np.float32)
        self.u, self.v = rig.axes
        self.d = rig.iod
        self.o_rest = min(1.0, rig.rest_gap / (MAX_OPEN * self.d))

    def _uv(self, origin) -> tuple[np.ndarray, np.ndarray]:
        rel = self.rest - origin
        return rel @ self.u, rel @ self.v

    def _vec(self, du, dv) -> np.ndarray:
        return (np.asarray(du)[:, None] * self.u[None] + np.asarray(dv)[:, None] * self.v[None]).astype(np.float32)

    @cached_property
    def pivot(self) -> np.ndarray:
        """Point the head tilts about: the top of the neck, below the chin."""
        chin = self.rest[lm.CHIN]
        return chin + self.v * 0.35 * self.d

    @cached_property
    def depth_pivot(self) -> float:
        """Depth (pixels) of the head's turning axis, behind the face surface."""
        z = self.rig.landmarks[:, 2]
        return float(z[list(lm.FACE_OVAL)].mean() + 0.6 * self.d)

    @cached_property
    def basis(self) -> dict[str, np.ndarray]:
        """Channel -> (478, 2) displacement per unit of that channel (pixels)."""
        n = self.rest.shape[0]
        d = self.d
        mc = self.rig.mouth_center
        du, dv = self._uv(mc)
        corners = self.rest[[lm.MOUTH_CORNERS[0], lm.MOUTH_CORNERS[1]]]
        half_w = max(4.0, float(abs((corners[1] - corners[0]) @ self.u)) / 2)
        chin_dv = float((self.rest[lm.CHIN] - mc) @ self.v)
        oval = self.rest[list(lm.FACE_OVAL)]
        face_half_w = float(np.ptp(oval @ self.u)) / 2

        # The whole lower lip rides on the jaw, its inner ring too: a lip point left behind folds the lip
        # into a striped band as the mouth opens or closes.
        lower_lip = set(lm.LIP_INNER_LOWER[1:-1] + lm.LIP_MID_LOWER[1:-1] + lm.LIP_RING_LOWER[1:-1]
                        + lm.LIP_OUTER_LOWER[1:-1])
        upper_inner = set(lm.LIP_INNER_UPPER[1:-1])
        corner_set = set(lm.MOUTH_CORNERS)
        lips = set(lm.LIP_INNER_UPPER + lm.LIP_INNER_LOWER + lm.LIP_OUTER_UPPER + lm.LIP_OUTER_LOWER
                   + lm.LIP_MID_UPPER + lm.LIP_MID_LOWER + lm.LIP_RING_UPPER + lm.LIP_RING_LOWER)

        # Jaw: everything on the mandible below the mouth moves down, fading
        # towards the jaw angles (the jaw hinges near the ears).
        lateral = np.clip(1.0 - np.abs(du) / (1.05 * face_half_w), 0.0, 1.0) ** 0.6
        below = _smoothstep((dv - 0.15 * d) / (0.35 * max(chin_dv, d * 0.5)))
        w_jaw = 0.92 * below * lateral
        w_jaw[list(lower_lip)] = 1.0
        w_jaw[list(corner_set)] = 0.45
        w_jaw[list(upper_inner)] = -0.08
        jaw = self._vec(np.zeros(n), w_jaw * MAX_OPEN * d)
        jaw[list(corner_set)] += self._vec(-np.sign(du[list(corner_set)]) * 0.03 * d, np.zeros(len(corner_set)))

        lip_idx = np.array(sorted(lips))
        rel_u = np.clip(du[lip_idx] / half_w, -1.2, 1.2)
        wide = np.zeros((n, 2), np.float32)
        wide[lip_idx] = self._vec(rel_u * 0.10 * d, -np.abs(rel_u) * 0.015 * d)
        rnd = np.zeros((n, 2), np.float32)
        rnd[lip_idx] = self._vec(-rel_u * 0.30 * half_w, np.sign(dv[lip_idx]) * 0.03 * d)
        press = np.zeros((n, 2), np.float32)
        press[list(lm.LIP_OUTER_UPPER[1:-1])] = self._vec(np.zeros(9), np.full(9, 0.02 * d))
        press[list(lm.LIP_OUTER_LOWER[1:-1])] = self._vec(np.zeros(9), np.full(9, -0.02 * d))
        dental = np.zeros((n, 2), np.float32)
        lower_idx = np.array(sorted(lower_lip))
        dental[lower_idx] = self._vec(np.zeros(len(lower_idx)), np.full(len(lower_idx), -0.07 * d))

        blink = np.zeros((n, 2), np.float32)
        for upper, lower, outer in ((lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER, lm.LEFT_LID_OUTER),
                                    (lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER, lm.RIGHT_LID_OUTER)):
            lo = self.rest[list(lower)]
            lo_u, lo_v = lo @ self.u, lo @ self.v
            order = np.argsort(lo_u)
            for i_up, i_out in zip(upper, outer):
                p = self.rest[i_up]
                target_v = np.interp(p @ self.u, lo_u[order], lo_v[order])
                gap = target_v - p @ self.v
                # The lids meet a little below the middle of the eye, with a
                # slight overlap so no sliver of the eye shows through.
                blink[i_up] = self.v * 0.97 * gap
                blink[i_out] = self.v * 0.35 * gap
            up_u, up_v = self.rest[list(upper)] @ self.u, self.rest[list(upper)] @ self.v
            o = np.argsort(up_u)
            for i_lo in lower:
                p = self.rest[i_lo]
                gap = p @ self.v - np.interp(p @ self.u, up_u[o], up_v[o])
                blink[i_lo] = -self.v * 0.08 * max(gap, 0.0)

        brows = np.zeros((n, 2), np.float32)
        bidx = list(lm.LEFT_BROW + lm.RIGHT_BROW)
        brows[bidx] = -self.v * 0.09 * d
        brow_v = float((self.rest[bidx] @ self.v).mean())
        pv = self.rest @ self.v
        above = (pv < brow_v) & (pv > brow_v - 0.8 * d)
        above[bidx] = False
        brows[above] = -self.v * 0.09 * d * (1 - (brow_v - pv[above]) / (0.8 * d))[:, None]

        # Small-angle head rotation: turn and nod displace by depth from the
        # axis (nose more than cheeks); tilt is a rotation about the neck.
        z = self.rig.landmarks[:, 2]
        depth = z - self.depth_pivot                     # negative: in front of the axis
        yaw = self._vec(-depth, np.zeros(n))
        pitch = self._vec(np.zeros(n), -depth) + self.v * 0.25 * d
        rel = self.rest - self.pivot
        roll = np.stack([-rel[:, 1], rel[:, 0]], 1).astype(np.float32)
        return {"jaw": jaw, "wide": wide, "round": rnd, "press": press, "dental": dental,
                "blink": blink, "brows": brows, "yaw": yaw, "pitch": pitch.astype(np.float32),
                "roll": roll}

    def weights(self, values: dict[str, float]) -> dict[str, float]:
        """Channel values -> basis weights (the jaw basis is relative to the photo's own opening)."""
        jaw = float(values.get("jaw", 0.0))
        press = float(values.get("press", 0.0))
        dental = float(values.get("dental", 0.0))
        opening = jaw * (1.0 - press) * (1.0 - 0.7 * dental)
        w = {c: float(values.get(c, 0.0)) for c in self.basis}
        w["jaw"] = opening - self.o_rest
        return w

    def targets(self, values: dict[str, float], shape: FaceShape | None = None) -> np.ndarray:
        """Target (478, 2) landmark positions for one frame's channel values (and shape, if given)."""
        out = self.rest.copy()
        for c, wt in self.weights(values).items():
            if wt:
                out += wt * self.basis[c]
        if shape is not None:
            idx = list(shape.points)
            before = out.copy()
            out[idx] = self.shape_base[idx] + self.rigid(values)[idx] + self.shape_pixels(shape.offsets)
            fill_rings(out, before, shape)
        return out

    @cached_property
    def shape_base(self) -> np.ndarray:
        """(478, 2) where a shape's offsets start: the face at rest with its own mouth opening closed by the
        jaw basis (a photo that shows its teeth still gets a closed mouth from a zero mouth shape)."""
        return self.rest - np.float32(self.o_rest) * self.basis["jaw"]

    def rigid(self, values: dict[str, float]) -> np.ndarray:
        """(478, 2) displacement (pixels) of the head's rotation alone: `yaw`, `pitch`, `roll`."""
        out = np.zeros_like(self.rest)
        for c in ("yaw", "pitch", "roll"):
            wt = float(values.get(c, 0.0))
            if wt:
                out += wt * self.basis[c]
        return out

    def shape_pixels(self, offsets: np.ndarray) -> np.ndarray:
        """Shape offsets (K, 2), IODs along (u, v), as pixel offsets (K, 2)."""
        m = np.asarray(offsets, np.float32)
        return (m[:, :1] * self.u[None] + m[:, 1:] * self.v[None]) * np.float32(self.d)

    def shape_of(self, points: np.ndarray, values: dict[str, float] | None = None,
                 which: tuple[int, ...] = lm.MOUTH_SHAPE) -> FaceShape:
        """The `FaceShape` of landmarks `which` that puts them on `points` ((478, 2) or (len(which), 2), pixels
        in this rig's image, head rotation `values` already applied): the inverse of `targets`' shape."""
        idx = list(which)
        p = np.asarray(points, np.float64)
        p = p[idx] if p.shape[0] != len(idx) else p
        off = p - self.shape_base[idx] - (self.rigid(values)[idx] if values else 0.0)
        return FaceShape(tuple(which), (np.stack([off @ self.u, off @ self.v], 1) / self.d).astype(np.float32))

    def opening(self, values: dict[str, float]) -> float:
        """Target inner-lip gap at the lip centre, pixels."""
        t = self.targets(values)
        return float(max(0.0, (t[lm.LOWER_LIP_CENTER] - t[lm.UPPER_LIP_CENTER]) @ self.v))
