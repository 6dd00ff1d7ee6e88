"""Footage intake: a talking video becomes landmarks, usable frames, neutral frames and idle loops.

One pass decodes the video (PyAV) and runs MediaPipe's face mesh in
tracking mode on every frame. A frame is rejected when tracking is not to
be trusted: no face or several, a face too small to animate, cut off by
the edge, turned far from the camera, or a landmark jump no real head
makes in one frame. From the usable frames it picks neutral frames (mouth
closed, facing the camera) and idle loops: stretches of 2-6 seconds whose
last frame is close to their first in head pose, so a scene longer than
the footage plays a loop again and again without a freeze or a jump.
With a `FrameFeatures` hook the same single decoding pass also measures
every frame (head pose, eyes and blinks, inner lips, teeth, mouth
sharpness) and keeps the open-mouth crops for the person's own mouth bank
(`own_mouths`).

All positions are pixels of the footage frame; frame indices count from 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import FaceError
from . import landmarks as lm
from .crop import POSE_SIZE, face_pose, pose_iod
from .intake import footage_checks

MIN_IOD_PX = 20
MAX_JUMP_IOD = 0.25      # stable points moving more than this in one frame: a tracking glitch
MAX_TURN = 0.45          # nose offset from the eye midline, in IOD: turned too far
LOOP_SECONDS = (2.0, 6.0)
STABLE = lm.LEFT_EYE_CORNERS + lm.RIGHT_EYE_CORNERS + (lm.NOSE_TIP, 168, 6)


@dataclass
class FootageTrack:
    """What intake learned about a video; `landmarks` is NaN on rejected frames."""

    fps: float
    width: int
    height: int
    landmarks: np.ndarray                  # (N, 478, 3) float32 pixels
    good: np.ndarray                       # (N,) bool
    rejected: dict[str, int] = field(default_factory=dict)
    neutral: list[int] = field(default_factory=list)
    loops: list[tuple[int, int]] = field(default_factory=list)   # [start, end) frame ranges
    warnings: list[str] = field(default_factory=list)   # intake checks it passed only with a warning
    # Per frame (NaN where no face was found; see `FrameFeatures`): head pose, eyes, inner lips, teeth, sharpness.
    features: dict[str, np.ndarray] = field(default_factory=dict)
    # Per frame, why it is unusable (None: usable), from intake; not saved with the track.
    reasons: list = field(default_factory=list)

    def unusable(self, limit: int = 6) -> str:
        """The unusable parts as seconds with their reasons, e.g. "3.0-4.2 s (several faces)"; "" if none."""
        if len(self.reasons) == self.frames:
            return reason_spans(self.reasons, self.fps, limit)
        return seconds_spans(~np.asarray(self.good, bool), self.fps, limit)

    @property
    def frames(self) -> int:
        return int(self.good.shape[0])

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, fps=self.fps, size=np.array([self.width, self.height]),
                            landmarks=self.landmarks.astype(np.float32), good=self.good,
                            neutral=np.array(self.neutral, np.int64),
                            loops=np.array(self.loops, np.int64).reshape(-1, 2),
                            rejected_keys=np.array(list(self.rejected), dtype=str),
                            rejected_counts=np.array(list(self.rejected.values()), np.int64),
                            **{f"f_{k}": v for k, v in self.features.items()})

    @classmethod
    def load(cls, path: str | Path) -> "FootageTrack":
        with np.load(path) as z:
            return cls(float(z["fps"]), int(z["size"][0]), int(z["size"][1]), z["landmarks"], z["good"],
                       dict(zip(z["rejected_keys"].tolist(), z["rejected_counts"].tolist())),
                       z["neutral"].tolist(), [tuple(r) for r in z["loops"].tolist()],
                       features={k[2:]: z[k] for k in z.files if k.startswith("f_")})


def video_frames(path: str | Path, start: int = 0, format: str = "rgb24") -> Iterator[np.ndarray]:
    """Yield the frames of a video file from frame `start` on (decoded in order): RGB uint8 (H, W, 3), or with
    `format="i420"` I420 planes (H * 3 / 2, W) uint8 in BT.601 limited range, as `media.writer` encodes them."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:
        raise FaceError(f"{path}: not a readable video ({e})") from None
    with container:
        if not container.streams.video:
            raise FaceError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for i, frame in enumerate(container.decode(stream)):
                if i >= start:
                    yield _i420(frame) if format == "i420" else frame.to_ndarray(format=format)
        except av.error.FFmpegError as e:
            raise FaceError(f"{path}: the video is damaged after frame {i} ({e})") from None


# Colour matrices whose YUV is BT.601's (unspecified is read as BT.601 too), and limited range or unspecified.
_BT601 = (2, 5, 6)


def _i420(frame) -> np.ndarray:
    """A decoded frame as BT.601 limited-range I420 (H * 3 / 2, W) uint8."""
    from ..media.writer import to_i420

    if frame.format.name == "yuv420p" and frame.colorspace in _BT601 and frame.color_range in (0, 1):
        return frame.to_ndarray()     # already what the encoder takes: the planes as they are
    # Another matrix (BT.709 HD footage), full range or another layout: through RGB, as the frames' colours
    # are read everywhere else, so the output keeps the colours the input shows.
    return to_i420(frame.to_ndarray(format="rgb24"))


def video_info(path: str | Path) -> tuple[float, int, int, int]:
    """(fps, width, height, approximate frame count) of a video file; `FaceError` if unreadable."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise FaceError(f"{path}: has no video stream")
            s = c.streams.video[0]
            fps = float(s.average_rate or s.guessed_rate or 25)
            n = s.frames or int(round(float(c.duration or 0) / 1e6 * fps))
            return fps, s.codec_context.width, s.codec_context.height, n
    except (av.error.FFmpegError, OSError) as e:
        raise FaceError(f"{path}: not a readable video ({e})") from None


def _judge(points: np.ndarray | None, w: int, h: int, missing: str = "no face") -> str | None:
    """Why a frame's face is unusable ("no face", "several faces", too small, cut off, turned away), or None."""
    if points is None:
        return missing
    pose = face_pose(points)
    iod = pose_iod(pose)
    if iod < MIN_IOD_PX:
        return "face too small"
    lower = points[list(lm.FACE_OVAL), :2]
    if lower[:, 0].min() < 0 or lower[:, 0].max() > w or lower[:, 1].max() > h:
        return "face cut off"
    u = pose[2:4] / iod
    turn = abs(float(np.dot(points[lm.NOSE_TIP, :2] - pose[:2], u))) / iod
    if turn > MAX_TURN:
        return "turned away"
    return None


def track_frames(path: str | Path, *, progress: Callable[[int, int], None] | None = None,
                 max_frames: int | None = None,
                 stats: list[tuple[float, float]] | None = None,
                 on_frame: Callable[[int, np.ndarray, np.ndarray | None], None] | None = None,
                 ) -> tuple[np.ndarray, list[str | None]]:
    """MediaPipe landmarks (N, 478, 3) pixels of every frame (NaN where no one face was found) and per frame
    the reason it is unusable (None if usable; one-frame checks only, not jumps). A `stats` list
    receives each frame's face luma and sharpness (`intake.face_image_stats`; NaN without a face);
    `on_frame(i, rgb, landmarks or None)` sees every decoded frame once (the video is decoded once)."""
    from .detect import SeveralFaces, detect_landmarks, reset_tracking
    from .intake import face_image_stats

    _, w, h, total = video_info(path)
    reset_tracking()
    pts_all, reasons = [], []
    for i, rgb in enumerate(video_frames(path)):
        if max_frames is not None and i >= max_frames:
            break
        missing = "no face"
        try:
            pts = detect_landmarks(rgb, source=str(path), static=False)
        except SeveralFaces:
            pts, missing = None, "several faces"
        except FaceError:
            pts = None
        reasons.append(_judge(pts, w, h, missing))
        pts_all.append(pts if pts is not None else np.full((478, 3), np.nan, np.float32))
        if stats is not None:
            stats.append(face_image_stats(rgb, pts) if pts is not None else (np.nan, np.nan))
        if on_frame is not None:
            on_frame(i, rgb, pts)
        if progress and i % 25 == 0:
            progress(i, total)
    L = np.stack(pts_all).astype(np.float32) if pts_all else np.zeros((0, 478, 3), np.float32)
    return L, reasons


BLINK_RATIO = 0.55      # an eye opening below this share of the footage's median counts as a blink
BANK_MIN_OPEN = 0.06    # inner-lip opening (IOD) from which a frame's mouth goes into the person's bank
BANK_MIN_SHARP = 0.4    # ... unless its mouth crop is blurrier than this share of the bank frames' median


def _eye_opening(points: np.ndarray) -> tuple[float, float]:
    """Each eye's lid gap over its width (left, right)."""
    out = []
    for up, lo, (c0, c1) in ((lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER, lm.LEFT_EYE_CORNERS),
                             (lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER, lm.RIGHT_EYE_CORNERS)):
        gap = np.linalg.norm(points[list(up[2:5]), :2] - points[list(lo[2:5]), :2], axis=1).mean()
        out.append(float(gap / max(np.linalg.norm(points[c0, :2] - points[c1, :2]), 1e-6)))
    return out[0], out[1]


def _head_angles(points: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll): nose offset across and along the eye line in IOD, and the eye line's angle in radians."""
    pose = face_pose(points)
    iod = pose_iod(pose)
    u = pose[2:4] / iod
    v = np.array([-u[1], u[0]])
    d = points[lm.NOSE_TIP, :2] - pose[:2]
    return float(np.dot(d, u) / iod), float(np.dot(d, v) / iod), float(np.arctan2(u[1], u[0]))


class FrameFeatures:
    """`track_frames`' `on_frame` hook: measures every frame as it is decoded and keeps the mouth crops
    of open-mouth frames for the person's own mouth bank (`mouthbank.cut.mouth_entries`).

    Per frame: `pose` (`crop.face_pose`), `head` (yaw, pitch, roll; see `_head_angles`), `eyes` (each eye's
    lid gap over its width), `lips` (the 20-point inner-lip contour, pixels, `mouthbank.CONTOUR` order),
    `opening` (inner-lip opening in IOD, `eval.metrics.mouth_opening`), `teeth` (share of the inside of the
    lips that is teeth) and `sharpness` (Laplacian variance of the canonical 96x64 mouth crop)."""

    def __init__(self, min_open: float = BANK_MIN_OPEN):
        self.min_open = min_open
        self.rows: list[tuple] = []
        self.crops: list[np.ndarray] = []
        self.shapes: list[np.ndarray] = []
        self.frames: list[int] = []

    def __call__(self, i: int, rgb: np.ndarray, pts: np.ndarray | None) -> None:
        import cv2

        from ..eval.metrics import laplacian_variance, mouth_opening
        from ..mouthbank import CONTOUR, HEIGHT, WIDTH, corner_similarity, teeth_fraction
        from ..mouthbank.cut import mouth_entries

        if pts is None:
            self.rows.append(None)
            return
        c = pts[list(CONTOUR), :2].astype(np.float64)
        crops, shapes, _ = mouth_entries([rgb], pts[None], self.min_open)
        if crops:
            crop, shape = crops[0], shapes[0]
            self.crops.append(crop)
            self.shapes.append(shape)
            self.frames.append(i)
        else:
            m = corner_similarity(c)
            crop = cv2.warpAffine(rgb, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            shape = c @ m[:, :2].T + m[:, 2]
        self.rows.append((face_pose(pts), _head_angles(pts), _eye_opening(pts), c,
                          float(mouth_opening(pts[None, :, :2])[0]), teeth_fraction(crop, shape),
                          laplacian_variance(crop)))

    def arrays(self, n: int) -> dict[str, np.ndarray]:
        """The per-frame fields for the first `n` frames (NaN where no face)."""
        shapes = {"pose": (POSE_SIZE,), "head": (3,), "eyes": (2,), "lips": (20, 2), "opening": (), "teeth": (),
                  "sharpness": ()}
        out = {k: np.full((n, *sh), np.nan, np.float32) for k, sh in shapes.items()}
        for i, r in enumerate(self.rows[:n]):
            if r is not None:
                for k, v in zip(shapes, r):
                    out[k][i] = v
        eye = np.nanmean(out["eyes"], axis=1) if n else np.zeros(0)
        ref = np.nanmedian(eye) if np.isfinite(eye).any() else np.nan
        out["blink"] = np.isfinite(eye) & (eye < BLINK_RATIO * ref)
        return out


def own_mouths(track: FootageTrack, feats: FrameFeatures, name: str = "footage"):
    """The person's own mouth bank (`mouthbank.MouthBank`) from the usable, sharp open-mouth frames, or None
    when the footage never shows one; `feats` must have watched the whole intake pass."""
    from ..mouthbank import MouthBank

    sharp = track.features.get("sharpness")
    keep = [k for k, i in enumerate(feats.frames) if i < track.frames and track.good[i]]
    if keep and sharp is not None:
        med = float(np.nanmedian(sharp[[feats.frames[k] for k in keep]]))
        keep = [k for k in keep if sharp[feats.frames[k]] >= BANK_MIN_SHARP * med]
    if not keep:
        return None
    return MouthBank.from_entries([feats.crops[k] for k in keep], [feats.shapes[k] for k in keep], [0] * len(keep),
                                  [feats.frames[k] for k in keep], [name],
                                  meta={"source": "own", "min_open": feats.min_open, "min_sharp": BANK_MIN_SHARP})


def analyse_footage(path: str | Path, *, progress: Callable[[int, int], None] | None = None,
                    max_frames: int | None = None, features: FrameFeatures | None = None) -> FootageTrack:
    """Run intake on a video file; `progress(done, total)` is called every 25 frames.

    Raises `FaceError` when the video cannot be read, fewer than 2 seconds
    of it are usable, or the usable frames fail a check of `face.intake`
    (a mouth that barely moves, a face too dark); checks passed only with a
    warning are listed in the track's `warnings`. With `features` (a `FrameFeatures`), the track also
    holds the per-frame measurements of `FrameFeatures` (`track.features`).
    """
    stats: list[tuple[float, float]] = []
    L, reasons = track_frames(path, progress=progress, max_frames=max_frames, stats=stats, on_frame=features)
    n = len(reasons)
    if n == 0:
        raise FaceError(f"{path}: no frames could be decoded")
    fps, w, h, _ = video_info(path)
    # Jumps: stable points moving further in one frame than a head can, relative to the face size.
    iod = np.array([pose_iod(face_pose(p)) if r is None else np.nan for p, r in zip(L, reasons)])
    step = np.linalg.norm(np.diff(L[:, list(STABLE), :2], axis=0), axis=2).mean(1) / np.maximum(iod[1:], 1)
    for i in np.flatnonzero(step > MAX_JUMP_IOD):
        for j in (i, i + 1):
            if reasons[j] is None:
                reasons[j] = "tracking jump"
    good = np.array([r is None for r in reasons])
    rejected: dict[str, int] = {}
    for r in reasons:
        if r is not None:
            rejected[r] = rejected.get(r, 0) + 1
    L[~good] = np.nan
    if good.sum() < 2 * fps:
        if not rejected:
            raise FaceError(f"{path}: the footage is {n / fps:.1f} s long; at least 2 s of one face is needed")
        detail = ", ".join(f"{k}: {v}" for k, v in rejected.items())
        raise FaceError(f"{path}: only {int(good.sum())} of {n} frames have a usable face ({detail}; "
                        f"no usable face at {reason_spans(reasons, fps)}); use footage of one person facing the camera")
    track = FootageTrack(fps, w, h, L, good, rejected, features=features.arrays(n) if features is not None else {})
    checks = footage_checks(np.array([mouth_gap(p) for p in L[good]]), good.sum() / fps,
                            np.array([s[0] for s in stats])[good], np.array([s[1] for s in stats])[good], iod[good])
    refused = [c.message() for c in checks if c.level == "refuse"]
    if refused:
        raise FaceError(f"{path}: not enough for a footage avatar: " + "; ".join(refused))
    track.warnings = [c.message() for c in checks if c.level == "warn"]
    track.reasons = list(reasons)
    jumps = np.flatnonzero(step > MAX_JUMP_IOD) + 1
    if jumps.size:
        at = ", ".join(f"{j / fps:.1f} s" for j in jumps[:6]) + (f" and {jumps.size - 6} more" if jumps.size > 6 else "")
        track.warnings.append(f"the footage jumps at {at} (a cut, or a move no head makes in one frame): both sides are "
                              f"used; if a cut shows another person or another place, trim the footage to one shot")
    track.neutral = neutral_frames(track)
    track.loops = idle_loops(track)
    if progress:
        progress(n, n)
    return track


def seconds_spans(mask: np.ndarray, fps: float, limit: int = 6) -> str:
    """The runs of True in a per-frame `mask` as seconds, e.g. "0.0-1.2 s, 4.4-6.0 s" (at most `limit`
    runs, then how many more); "" when there are none."""
    m = np.asarray(mask, bool)
    edges = np.flatnonzero(np.diff(np.r_[0, m.astype(np.int8), 0]))
    runs = list(zip(edges[::2], edges[1::2]))
    text = ", ".join(f"{a / fps:.1f}-{b / fps:.1f} s" for a, b in runs[:limit])
    return text + (f" and {len(runs) - limit} more" if len(runs) > limit else "")


def reason_spans(reasons: list, fps: float, limit: int = 6) -> str:
    """Runs of the same non-None reason in a per-frame list as seconds, e.g. "0.0-1.2 s (turned away), 4.4-6.0 s
    (several faces)" (at most `limit` runs, then how many more); "" when every frame is usable."""
    runs, start = [], None
    for i, r in enumerate(list(reasons) + [None]):
        if start is not None and r != reasons[start]:
            runs.append((start, i, reasons[start]))
            start = None
        if r is not None and start is None:
            start = i
    text = ", ".join(f"{a / fps:.1f}-{b / fps:.1f} s ({r})" for a, b, r in runs[:limit])
    return text + (f" and {len(runs) - limit} more" if len(runs) > limit else "")


def mouth_gap(points: np.ndarray) -> float:
    """Inner-lip opening at the lip centre divided by the eye distance (0 = closed)."""
    pose = face_pose(points)
    iod = pose_iod(pose)
    u = pose[2:4] / iod
    v = np.array([-u[1], u[0]])
    return max(0.0, float(np.dot(points[lm.LOWER_LIP_CENTER, :2] - points[lm.UPPER_LIP_CENTER, :2], v))) / iod


def neutral_frames(track: FootageTrack, count: int = 8) -> list[int]:
    """Up to `count` usable frames with the mouth closed and the face square to the camera, spread out.

    Only frames whose lip gap is among the smallest third of the footage's
    count as closed: in footage of someone talking without pause, fewer
    than `count` frames are returned rather than open-mouthed ones.
    """
    idx = np.flatnonzero(track.good)
    gaps, turns = [], []
    for i in idx:
        p = track.landmarks[i]
        pose = face_pose(p)
        iod = pose_iod(pose)
        turns.append(abs(float(np.dot(p[lm.NOSE_TIP, :2] - pose[:2], pose[2:4] / iod))) / iod)
        gaps.append(mouth_gap(p))
    gaps, turns = np.array(gaps), np.array(turns)
    if not idx.size:
        return []
    closed = gaps <= np.percentile(gaps, 33)
    idx, scores = idx[closed], (gaps + turns)[closed]
    order = idx[np.argsort(scores)]
    chosen: list[int] = []
    spacing = max(1, int(track.fps))
    for i in order:
        if all(abs(int(i) - c) >= spacing for c in chosen):
            chosen.append(int(i))
        if len(chosen) == count:
            break
    return chosen


def _pose_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / pose_iod(a))


def idle_loops(track: FootageTrack, count: int = 4) -> list[tuple[int, int]]:
    """Up to `count` non-overlapping [start, end) ranges of usable frames that play on from their end to their start.

    Playing frame `start` after `end - 1` must look like playing frame
    `end`: the cost is how far the head pose (position, size, angle, in IOD)
    at `start` is from `end`, plus how far the motion from `start` to
    `start + 1` is from the motion from `end` to `end + 1`. Loops above the
    cost limit are not kept; with none, renderers fall back to `usable_run`
    played forwards and backwards.
    """
    n, fps = track.frames, track.fps
    lo, hi = int(LOOP_SECONDS[0] * fps), int(LOOP_SECONDS[1] * fps)
    poses = np.array([face_pose(p) if g else np.full(POSE_SIZE, np.nan) for p, g in zip(track.landmarks, track.good)])
    bad = np.concatenate([[0], np.cumsum(~track.good)])
    cands = []
    for a in range(0, n - lo - 1, max(1, int(fps // 5))):
        for b in range(a + lo, min(n - 1, a + hi + 1)):
            if bad[b + 2] - bad[a] > 0:       # frames a .. b + 1 must all be usable
                break
            motion = np.linalg.norm((poses[a + 1] - poses[a]) - (poses[b + 1] - poses[b])) / pose_iod(poses[a])
            cost = _pose_distance(poses[a], poses[b]) + motion
            if np.isfinite(cost):
                cands.append((float(cost), a, b))
    cands.sort()
    loops: list[tuple[int, int]] = []
    for cost, a, b in cands:
        if cost > 0.08 or len(loops) == count:
            break
        if all(b <= s or a >= e for s, e in loops):
            loops.append((a, b))
    return loops


def usable_run(track: FootageTrack, max_frames: int) -> tuple[int, int]:
    """The first `max_frames` of the longest run of consecutive usable frames, as [start, end)."""
    best, start = (0, 0), None
    for i, g in enumerate(list(track.good) + [False]):
        if g and start is None:
            start = i
        elif not g and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best[0], min(best[1], best[0] + max_frames)
