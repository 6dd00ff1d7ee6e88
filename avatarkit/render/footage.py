"""Footage dubbing: the person's own frames re-timed by a motion graph, their own mouths, the jaw warped.

`FootageRenderer` turns a prepared footage track (`face.footage.FootageTrack` with its per-frame
features), the frames of that footage (`FrameStore`) and the person's mouth bank
(`mouthbank.MouthBank`) into full output frames for a `MotionTrack` of new speech:

1. **Base frames** come from `motion.graph`: stretches of the footage played in order, cut only
   between similar head poses (cross-faded over a few frames), pulled towards head motion at the
   new speech's onsets, never the same stretch back to back.
2. **Target lips**: the track's jaw opening (moved `lead` frames earlier, see below) is mapped by
   its rank onto the openings the footage itself shows, and its lip spread (`wide`) onto the
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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from ..face import landmarks as lm
from ..face.crop import JAW_LINE, NOSE_BASE
from ..motion.graph import GraphConfig, GraphPlan, plan_footage
from ..motion.track import MotionTrack

# Zero-displacement points around the mouth: nose tip and base, cheeks, the sides of the face.
_FIXED = (lm.NOSE_TIP, *NOSE_BASE, 50, 280, 205, 425, 187, 411, 147, 376, 234, 454, 93, 323)
_CHIN_INDEX = JAW_LINE.index(lm.CHIN)


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
    seed: int = 0


class FrameStore:
    """Frames of the footage by index, kept raw when they fit `budget` bytes, else as JPEG (quality 95)."""

    def __init__(self, frames: dict[int, np.ndarray | bytes], encoded: bool):
        self._frames, self.encoded = frames, encoded

    @classmethod
    def from_frames(cls, frames: Sequence[np.ndarray], keep: np.ndarray | None = None) -> "FrameStore":
        return cls({i: f for i, f in enumerate(frames) if keep is None or keep[i]}, False)

    @classmethod
    def from_video(cls, path: str | Path, keep: np.ndarray, budget: int = 768 << 20) -> "FrameStore":
        """Decode `path` once, keeping the frames where `keep` is True."""
        from ..face.footage import video_frames, video_info

        _, w, h, _ = video_info(path)
        encoded = int(np.count_nonzero(keep)) * w * h * 3 > budget
        out: dict[int, np.ndarray | bytes] = {}
        for i, f in enumerate(video_frames(path)):
            if i >= len(keep):
                break
            if keep[i]:
                if encoded:
                    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
                    out[i] = buf.tobytes()
                else:
                    out[i] = f
        return cls(out, encoded)

    def __contains__(self, i: int) -> bool:
        return int(i) in self._frames

    def __getitem__(self, i: int) -> np.ndarray:
        f = self._frames[int(i)]
        if isinstance(f, bytes):
            return cv2.cvtColor(cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return f


def _place(canonical: np.ndarray, corners_from: np.ndarray) -> np.ndarray:
    """A canonical (20, 2) inner-lip contour placed on the corners of the (20, 2) contour `corners_from`."""
    from ..mouthbank import corner_similarity

    m = corner_similarity(np.asarray(corners_from, np.float64))
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    return np.asarray(canonical, np.float64) @ inv[:, :2].T + inv[:, 2]


def _lower(j: int) -> int:
    """`CONTOUR` index of the j-th point (0..10, corner to corner) of `LIP_INNER_LOWER`."""
    return 0 if j == 0 else (10 if j == 10 else 20 - j)


def jaw_warp(frame: np.ndarray, points: np.ndarray, target: np.ndarray, chin_follow: float = 0.8,
             upper_follow: float = 0.5) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """`frame` (RGB uint8) with its lips and jaw moved so the inner lips lie on `target` (20, 2, pixels).

    `points` are the frame's own (478, 2+) landmarks. Returns a new frame and the box (x0, y0, x1, y1)
    that may differ from `frame`; pixels outside it are `frame`'s own."""
    from scipy.interpolate import LinearNDInterpolator

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
    h, w = frame.shape[:2]
    lo = src_a.min(0) - [0.15 * iod, 0.1 * iod]
    hi = src_a.max(0) + [0.15 * iod, 0.35 * iod]
    x0, y0 = max(0, int(np.floor(lo[0]))), max(0, int(np.floor(lo[1])))
    x1, y1 = min(w, int(np.ceil(hi[0])) + 1), min(h, int(np.ceil(hi[1])) + 1)
    if x1 - x0 < 4 or y1 - y0 < 4 or not np.isfinite(dis_a).all() or np.abs(dis_a).max() < 0.05:
        return frame, (0, 0, 0, 0)
    border = [(x, y) for x in np.linspace(x0, x1 - 1, 6) for y in (y0, y1 - 1)] + \
             [(x, y) for y in np.linspace(y0, y1 - 1, 6)[1:-1] for x in (x0, x1 - 1)]
    dst = np.concatenate([src_a + dis_a, np.array(border)])
    vals = np.concatenate([dis_a, np.zeros((len(border), 2))])
    field_ = LinearNDInterpolator(dst, vals, fill_value=0.0)
    step = 3
    gx, gy = np.meshgrid(np.arange(x0, x1 + step, step, dtype=np.float64), np.arange(y0, y1 + step, step, dtype=np.float64))
    d = field_(gx, gy).astype(np.float32)
    d = np.nan_to_num(d)
    bw, bh = x1 - x0, y1 - y0
    dx = cv2.resize(d[..., 0], (gx.shape[1] * step, gx.shape[0] * step), interpolation=cv2.INTER_LINEAR)[:bh, :bw]
    dy = cv2.resize(d[..., 1], (gx.shape[1] * step, gx.shape[0] * step), interpolation=cv2.INTER_LINEAR)[:bh, :bw]
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    warped = cv2.remap(frame, xs - dx, ys - dy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    out = frame.copy()
    moved = (np.abs(dx) + np.abs(dy)) > 0.02
    region = out[y0:y1, x0:x1]
    region[moved] = warped[moved]
    return out, (x0, y0, x1, y1)


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

        def rank(x):
            return np.argsort(np.argsort(x, kind="stable"), kind="stable") / max(len(x) - 1, 1)

        want_op = np.quantile(op, rank(jaw)) if n else np.zeros(0)
        want_w = np.quantile(width, rank(wide)) if n else np.zeros(0)
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

    def frames(self, motion: MotionTrack, onsets: np.ndarray | None = None,
               plan: GraphPlan | None = None) -> Iterator[np.ndarray]:
        """One RGB uint8 frame of the footage's size per frame of `motion`, in order."""
        from ..mouthbank import descriptor, paste, retrieve

        n = len(motion)
        plan = plan if plan is not None else self.plan(n, onsets)
        shapes, _ = self.targets(motion)
        path = retrieve(self.bank, np.stack([descriptor(s) for s in shapes])) if n else np.zeros(0, np.int64)
        L = self.track.landmarks
        for t in range(n):
            parts = [(int(plan.source[t]), 1.0 - float(plan.blend_weight[t]))]
            if plan.blend_from[t] >= 0 and plan.blend_weight[t] > 0:
                parts.append((int(plan.blend_from[t]), float(plan.blend_weight[t])))
            imgs, contour = [], np.zeros((20, 2))
            for k, wk in parts:
                target = _place(shapes[t], self.lips[k])
                img = self.store[k]
                if self.cfg.warp:
                    img, _ = jaw_warp(img, L[k], target, self.cfg.chin_follow, self.cfg.upper_follow)
                imgs.append((img, wk))
                contour += wk * target
            if len(imgs) == 1:
                out = np.array(imgs[0][0], copy=True)
            else:
                acc = sum(img.astype(np.float32) * wk for img, wk in imgs)
                out = np.clip(acc + 0.5, 0, 255).astype(np.uint8)
            e = int(path[t])
            # The person's own mouths: their landmarks sit on their lips as the target's do, so no inset.
            paste(out, contour, self.bank.crop(e), self.bank.shapes[e], self.bank.light[e],
                  inset=0.0 if self.bank.meta.get("source") == "own" else None)
            yield out
