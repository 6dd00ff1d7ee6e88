"""Footage dubbing: the person's own frames re-timed by a motion graph, their own mouths, the jaw warped.

`FootageRenderer` turns a prepared footage track (`face.footage.FootageTrack` with its per-frame
features), the frames of that footage (`FrameStore`) and the person's mouth bank
(`mouthbank.MouthBank`) into full output frames for a `MotionTrack` of new speech:

1. **Base frames** come from `motion.graph`: stretches of the footage played in order, cut only
   between similar head poses (cross-faded over a few frames), pulled towards head motion at the
   new speech's onsets, never the same stretch back to back.
2. **Target lips**: the track's jaw opening (moved `lead` frames earlier, see below) is mapped by
   its rank among the speaking frames onto the openings the footage itself shows (a frame at rest,
   `REST_JAW`, gets the footage's closed mouth), and its lip spread (`wide`) onto the
   footage's mouth widths; the footage frame that shows that mouth gives the target inner-lip
   shape (canonical, by its corners; `mouthbank.to_canonical`), smoothed over time and placed on
   the base frame's own lip corners. The person's mouths, in the person's proportions.
3. **Jaw warp**: the base frame's lips, chin and jaw line move to the target by a smooth local
   displacement (piecewise linear over the lip contours, the jaw line and fixed points on the
   nose, cheeks and a box around the lower face): the lower lip follows the target fully, the
   upper lip's outer edge half, the chin `chin_follow` of the lower lip's motion, fading to nothing
   at the ears. During a cross-fade both frames are warped to the same lips before they are mixed,
   so no second mouth shows.
4. **Mouth**: an entry of the person's own bank per frame, retrieved by the target lip shape with
   temporal smoothness (`mouthbank.retrieve`) and blended inside the target inner lips
   (`mouthbank.paste`).

Every pixel outside the warped lower-face box is the footage's own pixel of that frame (or the
cross-fade of two of them). This renderer draws whole frames from footage, so it does not fit
the one-image `render.base.Renderer` protocol (a `FaceRig` plus changed boxes); it is used by
`dub` and `eval footage` directly.

`lead` (1 frame) was measured on the dev clips (usgov_RD_Radio2_000, usgov_WDA_BobMenendez_000):
the learned audio-to-motion jaw correlates best with the filmed opening 1-2 frames earlier.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from ..face import landmarks as lm
from ..face.crop import JAW_LINE, NOSE_BASE
from ..media.writer import even_box, i420_box, put_i420_box, to_i420
from ..motion.graph import GraphConfig, GraphPlan, plan_footage
from ..motion.track import MotionTrack

# Zero-displacement points around the mouth: nose tip and base, cheeks, the sides of the face.
_FIXED = (lm.NOSE_TIP, *NOSE_BASE, 50, 280, 205, 425, 187, 411, 147, 376, 234, 454, 93, 323)
_CHIN_INDEX = JAW_LINE.index(lm.CHIN)


# A motion track's jaw at or below this is a mouth at rest (silence, a pause): the footage's closed mouth.
REST_JAW = 0.01


def ranks(x: np.ndarray) -> np.ndarray:
    """Each value's rank among `x` as a share 0..1, equal values sharing their mean rank."""
    from scipy.stats import rankdata

    return (rankdata(x, method="average") - 1) / max(len(x) - 1, 1)


@dataclass(frozen=True)
class FootageRenderConfig:
    """Tuning of the footage renderer (frames at the footage's rate)."""

    graph: GraphConfig = field(default_factory=GraphConfig)
    lead: int = 1                 # frames the target mouth runs ahead of the motion track's jaw
    chin_follow: float = 0.8      # share of the lower lip's motion the chin follows
    upper_follow: float = 0.5     # share of the inner upper lip's motion the outer upper lip follows
    smooth: float = 0.8           # Gaussian sigma (frames) of the target lip shapes over time
    width_weight: float = 0.3     # how much lip spread counts against opening when choosing a target mouth
    warp: bool = True             # move lips and jaw (False: paste only, as the replay+bank baseline)
    close: bool = True            # paint the lips shut where the warp presses a frame's open mouth shut
    seed: int = 0


class FrameStore:
    """Frames of the footage by index: as I420 planes (what the encoder takes) from a video file, or RGB.

    From a video file (`from_video`) the frames are kept as I420, half the bytes of RGB and no colour
    conversion on the way to the encoder: in memory up to `budget` bytes, else in an unlinked temporary
    file read back by offset (the page cache keeps it warm; no per-frame image decoding, unlike JPEG),
    else, with no room on the temporary disk, as JPEG q95 in memory. `from_frames` keeps RGB frames given
    in memory (evaluation). `frame(i)`/`store[i]` is a whole RGB frame, `yuv(i, out)` the I420 frame and
    `rgb_box(i, box)` the RGB pixels of an even-aligned box only."""

    def __init__(self, frames: dict[int, np.ndarray | bytes | int], kind: str, width: int, height: int,
                 file=None):
        self._frames, self.kind, self.width, self.height, self._file = frames, kind, width, height, file
        self._recent: dict[int, np.ndarray] = {}     # the last frames read back from the file

    @classmethod
    def from_frames(cls, frames: Sequence[np.ndarray], keep: np.ndarray | None = None) -> "FrameStore":
        kept = {i: f for i, f in enumerate(frames) if keep is None or keep[i]}
        h, w = (frames[0].shape[:2]) if len(frames) else (0, 0)
        return cls(kept, "rgb", w, h)

    @classmethod
    def from_video(cls, path: str | Path, keep: np.ndarray, budget: int = 512 << 20) -> "FrameStore":
        """Decode `path` once, keeping the frames where `keep` is True."""
        import shutil
        import tempfile

        from ..face.footage import video_frames, video_info

        _, w, h, _ = video_info(path)
        size = w * h * 3 // 2
        need = int(np.count_nonzero(keep)) * size
        kind, file = "raw", None
        if need > budget:
            tmp = tempfile.gettempdir()
            if shutil.disk_usage(tmp).free > need + (1 << 30):
                kind, file = "file", tempfile.TemporaryFile(prefix="avatarkit-frames-")
            else:
                kind = "jpeg"
        out: dict[int, np.ndarray | bytes | int] = {}
        try:
            for i, f in enumerate(video_frames(path, format="i420" if kind != "jpeg" else "rgb24")):
                if i >= len(keep):
                    break
                if not keep[i]:
                    continue
                if kind == "raw":
                    out[i] = f
                elif kind == "file":
                    out[i] = len(out) * size
                    file.write(memoryview(f).cast("B"))
                else:
                    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
                    out[i] = buf.tobytes()
            if file is not None:
                file.flush()
        except BaseException:
            if file is not None:
                file.close()
            raise
        return cls(out, kind, w, h, file)

    def close(self) -> None:
        """Drop the temporary file (also done when the store is collected)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._recent.clear()

    def __contains__(self, i: int) -> bool:
        return int(i) in self._frames

    def __getitem__(self, i: int) -> np.ndarray:
        return self.frame(i)

    def frame(self, i: int) -> np.ndarray:
        """Frame `i` as a whole RGB uint8 frame."""
        f = self._frames[int(i)]
        if self.kind == "rgb":
            return f
        if self.kind == "jpeg":
            return cv2.cvtColor(cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return cv2.cvtColor(self._i420(int(i)), cv2.COLOR_YUV2RGB_I420)

    def _i420(self, i: int) -> np.ndarray:
        if self.kind == "raw":
            return self._frames[i]
        if self.kind == "file":
            if i not in self._recent:
                if len(self._recent) >= 3:     # a frame and the one it cross-fades with, and the next
                    self._recent.pop(next(iter(self._recent)))
                buf = np.empty((self.height * 3 // 2, self.width), np.uint8)
                got = os.preadv(self._file.fileno(), [buf], self._frames[i])
                if got != buf.nbytes:
                    raise OSError(f"frame {i}: read {got} of {buf.nbytes} bytes from the frame store")
                self._recent[i] = buf
            return self._recent[i]
        return to_i420(self.frame(i))

    def yuv(self, i: int, out: np.ndarray | None = None) -> np.ndarray:
        """Frame `i` as I420 (H * 3 / 2, W) uint8; copied into `out` when given."""
        f = self._i420(int(i))
        if out is None:
            return f
        np.copyto(out, f)
        return out

    def rgb_box(self, i: int, box: tuple[int, int, int, int]) -> np.ndarray:
        """The RGB pixels of an even-aligned `box` (x0, y0, x1, y1) of frame `i` (a view or a new array)."""
        x0, y0, x1, y1 = box
        if self.kind in ("rgb", "jpeg"):
            return self.frame(i)[y0:y1, x0:x1]
        return i420_box(self._i420(int(i)), box)


def _place(canonical: np.ndarray, corners_from: np.ndarray) -> np.ndarray:
    """A canonical (20, 2) inner-lip contour placed on the corners of the (20, 2) contour `corners_from`."""
    from ..mouthbank import corner_similarity

    m = corner_similarity(np.asarray(corners_from, np.float64))
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    return np.asarray(canonical, np.float64) @ inv[:, :2].T + inv[:, 2]


def _lower(j: int) -> int:
    """`CONTOUR` index of the j-th point (0..10, corner to corner) of `LIP_INNER_LOWER`."""
    return 0 if j == 0 else (10 if j == 10 else 20 - j)


@dataclass(frozen=True)
class _Warp:
    """A jaw warp's displacement over its box: output pixel p shows the input at p - (dx, dy)."""

    box: tuple[int, int, int, int]    # x0, y0, x1, y1: pixels outside it do not move
    dx: np.ndarray                    # (y1 - y0, x1 - x0) float32
    dy: np.ndarray
    reach: int                        # how far (pixels) outside the box the warp may read


def warp_field(points: np.ndarray, target: np.ndarray, size: tuple[int, int], chin_follow: float = 0.8,
               upper_follow: float = 0.5) -> _Warp | None:
    """The displacement that moves a frame's lips and jaw so its inner lips lie on `target` (20, 2, pixels).

    `points` are the frame's own (478, 2+) landmarks, `size` its (width, height). None when nothing moves.
    The lower lip follows the target fully, the upper lip's outer edge `upper_follow` of it, the chin
    `chin_follow` of the lower lip's drop, fading along the jaw line; nose, cheeks and the box's border stay.
    The displacement is piecewise linear between those points, evaluated every 3 pixels and enlarged."""
    from ..face.crop import face_pose, pose_iod
    from ..mouthbank import CONTOUR

    P = np.asarray(points, np.float64)[:, :2]
    base = P[list(CONTOUR)]
    delta = np.asarray(target, np.float64) - base
    src, dis = [], []

    def add(idx, d):
        src.append(P[idx])
        dis.append(d)

    for j in range(11):
        du, dl = delta[j], delta[_lower(j)]
        add(lm.LIP_INNER_UPPER[j], du)
        add(lm.LIP_MID_UPPER[j], (1 + upper_follow) / 2 * du)
        add(lm.LIP_OUTER_UPPER[j], upper_follow * du)
        if 0 < j < 10:
            add(lm.LIP_INNER_LOWER[j], dl)
            add(lm.LIP_MID_LOWER[j], dl)
            add(lm.LIP_OUTER_LOWER[j], dl)
    drop = delta[15]
    half = max(_CHIN_INDEX, len(JAW_LINE) - 1 - _CHIN_INDEX)
    for i, k in enumerate(JAW_LINE):
        add(k, chin_follow * drop * max(0.0, 1 - abs(i - _CHIN_INDEX) / half) ** 1.5)
    for k in _FIXED:
        add(k, np.zeros(2))
    src_a, dis_a = np.array(src), np.array(dis)
    iod = pose_iod(face_pose(P))
    w, h = size
    lo = src_a.min(0) - [0.15 * iod, 0.1 * iod]
    hi = src_a.max(0) + [0.15 * iod, 0.35 * iod]
    x0, y0 = max(0, int(np.floor(lo[0]))), max(0, int(np.floor(lo[1])))
    x1, y1 = min(w, int(np.ceil(hi[0])) + 1), min(h, int(np.ceil(hi[1])) + 1)
    if x1 - x0 < 4 or y1 - y0 < 4 or not np.isfinite(dis_a).all() or np.abs(dis_a).max() < 0.05:
        return None
    border = [(x, y) for x in np.linspace(x0, x1 - 1, 6) for y in (y0, y1 - 1)] + \
             [(x, y) for y in np.linspace(y0, y1 - 1, 6)[1:-1] for x in (x0, x1 - 1)]
    dst = np.concatenate([src_a + dis_a, np.array(border)])
    vals = np.concatenate([dis_a, np.zeros((len(border), 2))])
    step = 3
    gw, gh = len(range(x0, x1 + step, step)), len(range(y0, y1 + step, step))
    d = _piecewise_linear((dst - [x0, y0]) / step, vals, (gh, gw)).astype(np.float32)
    bw, bh = x1 - x0, y1 - y0
    dx = cv2.resize(d[..., 0], (gw * step, gh * step), interpolation=cv2.INTER_LINEAR)[:bh, :bw]
    dy = cv2.resize(d[..., 1], (gw * step, gh * step), interpolation=cv2.INTER_LINEAR)[:bh, :bw]
    return _Warp((x0, y0, x1, y1), dx, dy, int(np.ceil(np.abs(dis_a).max())) + 3)


def _piecewise_linear(points: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`values` (N, 2) at `points` (N, 2, in grid pixels) interpolated linearly over their Delaunay
    triangles at every pixel of a (rows, cols) grid, 0 outside them (what scipy's `LinearNDInterpolator`
    gives).

    scipy's point location walks from triangle to triangle and, on some frames' sliver triangles
    between the lip contours, gave up and searched them all for thousands of grid points (0.1-0.8 s of
    CPU instead of 2 ms). Here each triangle is filled into the grid, and only the grid points that the
    fill's rounding gave a triangle not holding them are tested against every triangle."""
    from scipy.spatial import Delaunay

    tri = Delaunay(points)
    simplices = tri.simplices
    M = np.concatenate([points[simplices], np.ones((len(simplices), 3, 1))], 2)    # rows: x, y, 1
    T = len(M)
    # Per triangle (row 0: none) as affine maps of (x, y, 1): two barycentric coordinates, and the values.
    inv = np.zeros((T + 1, 3, 3))
    ok = np.abs(np.linalg.det(M)) > 1e-9
    inv[1:][ok] = np.linalg.inv(M[ok])            # a degenerate triangle holds no point
    B = inv[:, :, :2].reshape(T + 1, 6)
    coef = (inv @ np.concatenate([np.zeros((1, 3, 2)), values[simplices]])).reshape(T + 1, 6)
    neighbours = np.concatenate([[[-1, -1, -1]], tri.neighbors]) + 1            # same numbering, 0: none
    corners = np.round(M[:, :, :2] * 16).astype(np.int32)
    ids = np.zeros(shape, np.int32)
    for t in np.flatnonzero(ok):
        cv2.fillConvexPoly(ids, corners[t], int(t) + 1, cv2.LINE_8, 4)
    ids = ids.ravel()
    rows, cols = shape
    gx = np.tile(np.arange(cols, dtype=np.float64), rows)
    gy = np.repeat(np.arange(rows, dtype=np.float64), cols)
    tol = -1e-9

    def holds(x, y, tris):        # whether triangles `tris` hold the points (x, y)
        b = B[tris]
        l0 = x * b[..., 0] + y * b[..., 2] + b[..., 4]
        l1 = x * b[..., 1] + y * b[..., 3] + b[..., 5]
        return (l0 >= tol) & (l1 >= tol) & (l0 + l1 <= 1 - tol) & (tris > 0)

    lo, hi = points.min(0), points.max(0)
    inside_box = (gx >= lo[0]) & (gx <= hi[0]) & (gy >= lo[1]) & (gy <= hi[1])
    wrong = np.flatnonzero(inside_box & ~holds(gx, gy, ids))
    if wrong.size:   # mostly on an edge the fill gave the triangle beyond it: try that triangle's neighbours
        near = neighbours[ids[wrong]]                                                  # (F, 3)
        h = holds(gx[wrong, None], gy[wrong, None], near)
        found = h.any(1)
        ids[wrong[found]] = near[found, h[found].argmax(1)]
        wrong = wrong[~found]
    if wrong.size:
        h = holds(gx[wrong, None], gy[wrong, None], np.broadcast_to(np.arange(1, T + 1), (wrong.size, T)))
        ids[wrong] = np.where(h.any(1), h.argmax(1) + 1, 0)
    ids[~inside_box] = 0
    c = coef[ids]
    out = np.empty((ids.size, 2))
    out[:, 0] = gx * c[:, 0] + gy * c[:, 2] + c[:, 4]
    out[:, 1] = gx * c[:, 1] + gy * c[:, 3] + c[:, 5]
    return out.reshape(rows, cols, 2)


def apply_warp(warp: _Warp, src: np.ndarray, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The RGB pixels of `warp.box`, warped, read from `src`: the frame's pixels from `origin` (x, y) on,
    covering the box and `warp.reach` around it (or up to the frame's edge). Returns a new array."""
    x0, y0, x1, y1 = warp.box
    ox, oy = origin
    mx = np.arange(x0 - ox, x1 - ox, dtype=np.float32)[None, :] - warp.dx
    my = np.arange(y0 - oy, y1 - oy, dtype=np.float32)[:, None] - warp.dy
    # Where the displacement is 0 (the box's border and beyond the points) the cubic kernel sits on whole
    # pixels and returns them exactly, so the box joins the untouched frame without a seam.
    return cv2.remap(src, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


CLOSE_PX = 1.5      # a frame's lips part this many pixels wider than the target's ...
CLOSED = 0.04       # ... and the target's part by at most this share of the mouth's width: close its seam
SEAM_SHADE = 0.4    # the closed lips' seam, as a share of the lips' brightness


def needs_closing(source: np.ndarray, target: np.ndarray) -> bool:
    """Whether warping inner lips `source` onto `target` ((20, 2) loops, `CONTOUR` order, pixels) presses an
    open mouth (nearly) shut (see `close_seam`). A target that stays open is left to the mouth pasted
    inside it: closing there too took the dark cavity out of the lip ring the paste matches its colour
    to, and the pasted teeth came out too bright (looked at on a dub)."""
    gap = float(np.linalg.norm(target[5] - target[15]))
    return (float(np.linalg.norm(source[5] - source[15])) > gap + CLOSE_PX
            and gap <= CLOSED * float(np.linalg.norm(target[10] - target[0])))


def close_seam(out: np.ndarray, warp: _Warp, source: np.ndarray, target: np.ndarray, shape: tuple[int, int],
               origin: tuple[int, int] = (0, 0)) -> None:
    """Where a warp has pressed an open mouth shut, paint the lips shut: `out` (the warped pixels of
    `warp.box`, RGB uint8) in place.

    The warp moves the inner-lip landmarks onto the target, but the teeth and dark cavity between them are
    squeezed, not removed: they show as a jagged band along a closed target's seam. That band (the source's
    inner-lip area, moved by the same warp) is filled from the lips around it (`cv2.inpaint`), and a soft
    seam is drawn along the middle of the target's inner lips. `source` and `target` are (20, 2) inner-lip
    loops (`CONTOUR` order) in frame pixels; `shape` (height, width) and `origin` (x, y) describe the image
    the warp read (`apply_warp`).
    """
    x0, y0, x1, y1 = warp.box
    width = float(np.linalg.norm(target[10] - target[0]))
    # The band can only land near both loops: warp the source's inner-lip area over that part of the box.
    pad = 0.15 * width + 4
    lo = np.floor(np.minimum(source.min(0), target.min(0)) - pad).astype(int)
    hi = np.ceil(np.maximum(source.max(0), target.max(0)) + pad).astype(int)
    sx0, sy0 = max(lo[0], x0), max(lo[1], y0)
    sx1, sy1 = min(hi[0], x1), min(hi[1], y1)
    if sx1 <= sx0 or sy1 <= sy0:
        return
    part = _Warp((sx0, sy0, sx1, sy1), warp.dx[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0],
                 warp.dy[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0], warp.reach)
    inside = np.zeros(shape, np.uint8)
    cv2.fillPoly(inside, [np.round((source - origin) * 8).astype(np.int32)], 255, cv2.LINE_AA, shift=3)
    moved = np.zeros(out.shape[:2], np.uint8)
    moved[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = apply_warp(part, inside, origin)
    # Grown by 3 px or 2 % of the mouth's width: the landmarks sit on the wet inner lip, and teeth show
    # just past them on the way in and out of the squeeze.
    r = max(3, round(width / 45))
    mask = cv2.dilate((moved > 32).astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8))
    ys, xs = np.nonzero(mask)
    if not ys.size:
        return
    seam = 0.5 * (target[:11] + np.concatenate([target[:1], target[19:10:-1], target[10:11]])) - [x0, y0]
    sigma = max(0.8, width / 150)       # softened with the mouth's size, so a large mouth gets no pen line
    # Only the rectangle around the band and the seam is touched (inpainting the whole warp box cost
    # 0.05 s per second of 1080p dub).
    m = int(np.ceil(3 * sigma)) + 4
    h, w = out.shape[:2]
    xa, ya = max(int(min(xs.min(), seam[:, 0].min())) - m, 0), max(int(min(ys.min(), seam[:, 1].min())) - m, 0)
    xb = min(int(max(xs.max(), seam[:, 0].max())) + m + 1, w)
    yb = min(int(max(ys.max(), seam[:, 1].max())) + m + 1, h)
    sub = out[ya:yb, xa:xb]
    sub[:] = cv2.inpaint(sub, mask[ya:yb, xa:xb], 3, cv2.INPAINT_TELEA)
    shade = np.zeros(sub.shape[:2], np.uint8)
    cv2.polylines(shade, [np.round((seam - [xa, ya]) * 8).astype(np.int32)], False, 255,
                  max(1, round(width / 120)), cv2.LINE_AA, shift=3)
    a = cv2.GaussianBlur(shade, (0, 0), sigma).astype(np.float32)[..., None] / 255.0
    a *= (1 - SEAM_SHADE) / max(float(a.max()), 1e-6)
    sub[:] = np.clip(sub.astype(np.float32) * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def jaw_warp(frame: np.ndarray, points: np.ndarray, target: np.ndarray, chin_follow: float = 0.8,
             upper_follow: float = 0.5) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """`frame` (RGB uint8) with its lips and jaw moved so the inner lips lie on `target` (20, 2, pixels).

    `points` are the frame's own (478, 2+) landmarks. Returns a new frame and the box (x0, y0, x1, y1)
    that may differ from `frame`; pixels outside it are `frame`'s own (see `warp_field`)."""
    h, w = frame.shape[:2]
    warp = warp_field(points, target, (w, h), chin_follow, upper_follow)
    if warp is None:
        return frame, (0, 0, 0, 0)
    out = frame.copy()
    x0, y0, x1, y1 = warp.box
    out[y0:y1, x0:x1] = apply_warp(warp, frame)
    return out, warp.box


def _paste_box(contour: np.ndarray) -> tuple[int, int, int, int]:
    """A box holding every pixel `mouthbank.paste` may change for the target inner lips `contour`: the
    contour grown by its lip ring (`RING` mouth widths) and a few pixels."""
    from ..mouthbank import RING

    c = np.asarray(contour, np.float64)
    m = RING * max(float(np.linalg.norm(c[10] - c[0])), 1.0) + 6
    lo, hi = c.min(0) - m, c.max(0) + m
    return int(np.floor(lo[0])), int(np.floor(lo[1])), int(np.ceil(hi[0])), int(np.ceil(hi[1]))


@dataclass
class FramePatch:
    """One output frame as the footage frames mixed outside a box and the pixels inside it.

    Outside `box` the frame is `sum(weight * footage frame)` over `parts`; inside it is `rgb`."""

    parts: list[tuple[int, float]]        # (footage frame, weight); the weights sum to 1
    box: tuple[int, int, int, int]        # x0, y0, x1, y1, even-aligned
    rgb: np.ndarray                       # (y1 - y0, x1 - x0, 3) uint8


class FootageRenderer:
    """Whole output frames for new speech from prepared footage (see the module)."""

    kind = "footage"

    def __init__(self, track, frames: FrameStore, bank, config: FootageRenderConfig | None = None):
        self.track, self.store, self.bank = track, frames, bank
        self.cfg = config or FootageRenderConfig()
        f = track.features
        if "lips" not in f or "opening" not in f:
            raise ValueError("the footage track has no per-frame lip features; prepare it with `FrameFeatures`")
        self.lips = np.asarray(f["lips"], np.float64)
        ok = np.asarray(track.good, bool) & np.isfinite(f["opening"]) & np.isfinite(self.lips).all(axis=(1, 2))
        self.mouth_frames = np.flatnonzero(ok)
        from ..mouthbank import to_canonical

        self.canonical = {int(k): to_canonical(self.lips[k]) for k in self.mouth_frames}

    def targets(self, motion: MotionTrack) -> tuple[np.ndarray, np.ndarray]:
        """(canonical target inner-lip contours (n, 20, 2), target openings (n,) IOD) for a track."""
        from scipy.ndimage import gaussian_filter1d

        n = len(motion)
        lead = self.cfg.lead
        jaw = np.asarray(motion["jaw"], np.float64)
        wide = np.asarray(motion["wide"], np.float64)
        if lead > 0 and n > lead:
            jaw = np.concatenate([jaw[lead:], np.repeat(jaw[-1:], lead)])
            wide = np.concatenate([wide[lead:], np.repeat(wide[-1:], lead)])
        f = self.track.features
        ks = self.mouth_frames
        if len(ks) > 3000:        # long footage: an even subsample is plenty of mouths to choose from
            ks = ks[np.linspace(0, len(ks) - 1, 3000).astype(int)]
        op = np.asarray(f["opening"], np.float64)[ks]
        width = np.linalg.norm(self.lips[ks, 10] - self.lips[ks, 0], axis=1)
        iod = np.hypot(f["pose"][ks, 2], f["pose"][ks, 3]).astype(np.float64)
        width = width / np.maximum(iod, 1e-6)

        # The speaking frames' jaw, by its rank among them, picks an opening of the footage's own (the same
        # rank among its openings); a frame at rest (the speech gate's silence, pauses) gets its closed mouth
        # and its middle width. Ranks among equal values are equal: before, a track of silence (all zeros)
        # was ranked by position, and the mouth opened wider and wider through it.
        speaking = jaw > REST_JAW
        q_op, q_w = np.zeros(n), np.full(n, 0.5)
        if speaking.any():
            q_op[speaking] = ranks(jaw[speaking])
            q_w[speaking] = ranks(wide[speaking])
        want_op = np.quantile(op, q_op) if n else np.zeros(0)
        want_w = np.quantile(width, q_w) if n else np.zeros(0)
        so, sw = max(float(op.std()), 1e-6), max(float(width.std()), 1e-6)
        pick = np.zeros(n, np.int64)
        for a in range(0, n, 512):
            c = ((op[None] - want_op[a:a + 512, None]) / so) ** 2 \
                + self.cfg.width_weight * ((width[None] - want_w[a:a + 512, None]) / sw) ** 2
            pick[a:a + 512] = ks[np.argmin(c, axis=1)]
        shapes = np.stack([self.canonical[int(k)] for k in pick]) if n else np.zeros((0, 20, 2))
        if n > 1 and self.cfg.smooth > 0:
            shapes = gaussian_filter1d(shapes, self.cfg.smooth, axis=0, mode="nearest")
        return shapes, want_op

    def plan(self, n: int, onsets: np.ndarray | None = None) -> GraphPlan:
        return plan_footage(self.track, n, onsets, seed=self.cfg.seed, config=self.cfg.graph)

    def patches(self, motion: MotionTrack, onsets: np.ndarray | None = None,
                plan: GraphPlan | None = None) -> Iterator[FramePatch]:
        """One `FramePatch` per frame of `motion`, in order: only the lower-face box is drawn."""
        from ..mouthbank import CONTOUR, descriptor, paste, retrieve

        n = len(motion)
        plan = plan if plan is not None else self.plan(n, onsets)
        shapes, _ = self.targets(motion)
        path = retrieve(self.bank, np.stack([descriptor(s) for s in shapes])) if n else np.zeros(0, np.int64)
        L = self.track.landmarks
        size = (self.store.width, self.store.height)
        for t in range(n):
            parts = [(int(plan.source[t]), 1.0 - float(plan.blend_weight[t]))]
            if plan.blend_from[t] >= 0 and plan.blend_weight[t] > 0:
                parts.append((int(plan.blend_from[t]), float(plan.blend_weight[t])))
            targets = [_place(shapes[t], self.lips[k]) for k, _ in parts]
            contour = sum(wk * tg for (_, wk), tg in zip(parts, targets))
            warps = [warp_field(L[k], tg, size, self.cfg.chin_follow, self.cfg.upper_follow) if self.cfg.warp
                     else None for (k, _), tg in zip(parts, targets)]
            boxes = [_paste_box(contour)] + [w.box for w in warps if w is not None]
            box = even_box((min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                            max(b[3] for b in boxes)), *size)
            reach = max([w.reach for w in warps if w is not None], default=0)
            # What the warps read: the box and their reach around it.
            crop = even_box((box[0] - reach, box[1] - reach, box[2] + reach, box[3] + reach), *size)
            bx, by = box[0] - crop[0], box[1] - crop[1]
            regions = []
            for (k, wk), warp, tg in zip(parts, warps, targets):
                src = self.store.rgb_box(k, crop)
                region = src[by:by + box[3] - box[1], bx:bx + box[2] - box[0]].copy()
                if warp is not None:
                    wx0, wy0, wx1, wy1 = warp.box
                    moved = region[wy0 - box[1]:wy1 - box[1], wx0 - box[0]:wx1 - box[0]]
                    moved[:] = apply_warp(warp, src, (crop[0], crop[1]))
                    inner = L[k][list(CONTOUR), :2]
                    if self.cfg.close and needs_closing(inner, tg):
                        close_seam(moved, warp, inner, tg, src.shape[:2], (crop[0], crop[1]))
                regions.append((region, wk))
            if len(regions) == 1:
                out = regions[0][0]
            else:
                # Both frames are warped to the same lips before they are mixed, so no second mouth shows.
                acc = sum(r.astype(np.float32) * wk for r, wk in regions)
                out = np.clip(acc + 0.5, 0, 255).astype(np.uint8)
            e = int(path[t])
            # The person's own mouths: their landmarks sit on their lips as the target's do, so no inset.
            paste(out, contour - [box[0], box[1]], self.bank.crop(e), self.bank.shapes[e], self.bank.light[e],
                  inset=0.0 if self.bank.meta.get("source") == "own" else None)
            yield FramePatch(parts, box, out)

    def frames(self, motion: MotionTrack, onsets: np.ndarray | None = None,
               plan: GraphPlan | None = None) -> Iterator[np.ndarray]:
        """One RGB uint8 frame of the footage's size per frame of `motion`, in order."""
        for p in self.patches(motion, onsets, plan):
            if len(p.parts) == 1:
                out = np.array(self.store.frame(p.parts[0][0]), copy=True)
            else:
                acc = sum(self.store.frame(k).astype(np.float32) * wk for k, wk in p.parts)
                out = np.clip(acc + 0.5, 0, 255).astype(np.uint8)
            x0, y0, x1, y1 = p.box
            out[y0:y1, x0:x1] = p.rgb
            yield out

    def frames_i420(self, motion: MotionTrack, onsets: np.ndarray | None = None, plan: GraphPlan | None = None,
                    buffer=None) -> Iterator[np.ndarray]:
        """The frames of `frames` as I420 (H * 3 / 2, W) uint8, each drawn into `buffer()` (a new array by
        default; an encoder's frame buffer in `dub`): the footage's own planes are copied or cross-faded
        as they are, and only the box is converted from RGB."""
        h, w = self.store.height, self.store.width
        new = buffer or (lambda: np.empty((h * 3 // 2, w), np.uint8))
        scratch = [np.empty((h * 3 // 2, w), np.uint8) for _ in range(2)]
        for p in self.patches(motion, onsets, plan):
            out = new()
            if len(p.parts) == 1:
                self.store.yuv(p.parts[0][0], out)
            else:
                (ka, wa), (kb, wb) = p.parts
                cv2.addWeighted(self.store.yuv(ka, scratch[0]), wa, self.store.yuv(kb, scratch[1]), wb, 0.0, dst=out)
            put_i420_box(out, p.box, p.rgb)
            yield out
