"""Head pose, blinks, brows and smile measured on real footage (MediaPipe FaceMesh).

Used to build the motion library (`motion.library`) and to compare motion
models with real presenters. Per frame of a clip:

* `yaw`, `pitch`, `roll` (radians, the `MotionTrack` conventions: turn,
  nod down +, tilt): the rotation of the rigid part of the face mesh (no
  mouth, eyes or brows) from the clip's own mean face, by a 3-D Kabsch fit
  of the landmarks (MediaPipe's depth is in the same pixel scale as x);
* `eye`: lid gap over inter-ocular distance (IOD), both eyes averaged;
* `brow`: brow-to-eye distance over IOD; `smile`: mouth-corner distance
  over IOD;
* `loud`: the sound's loudness over the frame in dB (RMS of 16 kHz audio).

Frames without one usable face are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..face import landmarks as lm

_NON_RIGID = set(lm.LIP_INNER_UPPER + lm.LIP_INNER_LOWER + lm.LIP_OUTER_UPPER + lm.LIP_OUTER_LOWER
                 + lm.LIP_MID_UPPER + lm.LIP_MID_LOWER + lm.MOUTH_CORNERS + lm.LEFT_EYE_UPPER
                 + lm.LEFT_EYE_LOWER + lm.RIGHT_EYE_UPPER + lm.RIGHT_EYE_LOWER + lm.LEFT_LID_OUTER
                 + lm.RIGHT_LID_OUTER + lm.LEFT_BROW + lm.RIGHT_BROW)


def _rigid_index() -> np.ndarray:
    """Mesh points that move with the skull: the upper face, away from mouth, jaw, eyes and brows."""
    idx = [i for i in range(lm.NUM_MESH) if i not in _NON_RIGID]
    return np.array(idx)


@dataclass
class PoseClip:
    """Per-frame measurements of one clip (see the module docstring)."""

    name: str
    fps: float
    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    eye: np.ndarray
    brow: np.ndarray
    smile: np.ndarray
    loud: np.ndarray


def _kabsch(ref: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Rotation R (3x3) with pts ~ ref @ R.T (both centred)."""
    H = ref.T @ pts
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    D = np.diag([1.0, 1.0, d])
    return Vt.T @ D @ U.T


def angles(R: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in the `MotionTrack` conventions from a rotation in image axes (x right, y down, z away).

    The warp's small-angle bases move a point by (-z yaw, -z pitch) and by
    roll * (-y, x); a rotation vector w moves it by w x p, so pitch = w_x,
    yaw = -w_y and roll = w_z.
    """
    from scipy.spatial.transform import Rotation

    w = Rotation.from_matrix(R).as_rotvec()
    return float(-w[1]), float(w[0]), float(w[2])


def pose_tracks(L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Yaw, pitch, roll (radians) per frame of landmarks `L` (N, 478, 3), relative to the clip's mean face."""
    idx = _rigid_index()
    n = L.shape[0]
    ok = np.isfinite(L[:, 0, 0])
    P = L[:, idx, :].astype(np.float64)
    P = P - P.mean(1, keepdims=True)
    scale = np.sqrt((P ** 2).sum((1, 2)))
    P = P / np.where(ok, scale, 1.0)[:, None, None]
    ref = np.nanmean(P[ok], 0)
    for _ in range(3):       # Procrustes mean: align every frame to the mean, re-average
        al = [P[i] @ _kabsch(ref, P[i]) for i in np.flatnonzero(ok)]
        ref = np.mean(al, 0)
        ref = ref / np.sqrt((ref ** 2).sum())
    out = np.full((3, n), np.nan)
    for i in np.flatnonzero(ok):
        out[:, i] = angles(_kabsch(ref, P[i]))
    return out[0], out[1], out[2]


def face_scalars(L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eye openness, brow height and mouth-corner distance, each over IOD, per frame."""
    le = L[:, list(lm.LEFT_EYE_CORNERS), :2].mean(1)
    re = L[:, list(lm.RIGHT_EYE_CORNERS), :2].mean(1)
    iod = np.linalg.norm(le - re, axis=1)
    gap = lambda a, b: np.linalg.norm(L[:, a, :2] - L[:, b, :2], axis=1)
    eye = (gap(*lm.LEFT_EYE_CENTER_PAIR) + gap(*lm.RIGHT_EYE_CENTER_PAIR)) / 2 / iod
    brow_l = np.linalg.norm(L[:, list(lm.LEFT_BROW), :2].mean(1) - le, axis=1)
    brow_r = np.linalg.norm(L[:, list(lm.RIGHT_BROW), :2].mean(1) - re, axis=1)
    brow = (brow_l + brow_r) / 2 / iod
    smile = gap(61, 291) / iod
    return eye, brow, smile


def loudness(audio: np.ndarray, sr: int, fps: float, n: int) -> np.ndarray:
    """RMS level (dB) of the audio over each of `n` video frames."""
    out = np.full(n, -100.0)
    for i in range(n):
        a, b = int(round(i * sr / fps)), int(round((i + 1) * sr / fps))
        seg = audio[a:b]
        if seg.size:
            out[i] = 10 * np.log10(np.mean(seg.astype(np.float64) ** 2) + 1e-10)
    return out


def measure_clip(path: str | Path) -> PoseClip:
    """Run FaceMesh (tracking mode) on every frame of a clip and measure it."""
    from ..audio.io import load_audio
    from ..errors import FaceError
    from ..face.detect import detect_landmarks, reset_tracking
    from ..face.footage import video_frames, video_info

    fps, _, _, _ = video_info(path)
    reset_tracking()
    pts = []
    for rgb in video_frames(path):
        try:
            p = detect_landmarks(rgb, source=str(path), static=False)
        except FaceError:
            p = np.full((478, 3), np.nan, np.float32)
        pts.append(p)
    L = np.stack(pts).astype(np.float64)
    yaw, pitch, roll = pose_tracks(L)
    eye, brow, smile = face_scalars(L)
    audio = load_audio(path, 16000)
    loud = loudness(audio, 16000, fps, L.shape[0])
    return PoseClip(Path(path).stem, fps, yaw, pitch, roll, eye, brow, smile, loud)


def blinks(eye: np.ndarray, fps: float) -> np.ndarray:
    """Frame indices where a blink closes (eye openness under 55% of its open level, a local dip)."""
    e = np.asarray(eye, np.float64)
    ok = np.isfinite(e)
    if ok.sum() < 3:
        return np.zeros(0, int)
    open_level = np.percentile(e[ok], 75)
    shut = np.where(ok, e < 0.55 * open_level, False)
    starts = np.flatnonzero(shut & ~np.r_[False, shut[:-1]])
    # Merge dips closer than 120 ms (one blink seen twice).
    out = []
    for s in starts:
        if not out or s - out[-1] > 0.12 * fps:
            out.append(s)
    return np.array(out, int)


def resample(x: np.ndarray, fps_from: float, fps_to: float) -> np.ndarray:
    """Linear resampling of a per-frame series onto another frame rate (NaNs interpolated over)."""
    x = np.asarray(x, np.float64)
    t = np.arange(len(x)) / fps_from
    ok = np.isfinite(x)
    if ok.sum() < 2:
        return np.full(int(len(x) * fps_to / fps_from), np.nan)
    x = np.interp(t, t[ok], x[ok])
    n = int(np.floor(len(x) * fps_to / fps_from))
    return np.interp(np.arange(n) / fps_to, t, x)


def motion_stats(yaw, pitch, roll, blink_frames: int | np.ndarray, fps: float, still_deg_s: float = 2.0) -> dict:
    """Distribution figures of a head track: std (deg) of each angle, std of the angular velocity (deg/s),
    blinks per minute, and the share of frames where the head is still (angular speed under
    `still_deg_s`). `blink_frames` is the count of blinks (or their frames)."""
    ang = np.degrees(np.stack([yaw, pitch, roll]).astype(np.float64))
    ang = ang[:, np.all(np.isfinite(ang), 0)]
    vel = np.diff(ang, axis=1) * fps
    speed = np.linalg.norm(vel, axis=0)
    n_blinks = blink_frames if np.isscalar(blink_frames) else len(blink_frames)
    out = {f"{c}_std": float(ang[i].std()) for i, c in enumerate(("yaw", "pitch", "roll"))}
    out.update({f"{c}_vel_std": float(vel[i].std()) for i, c in enumerate(("yaw", "pitch", "roll"))})
    out["blinks_per_min"] = float(n_blinks / (ang.shape[1] / fps / 60.0))
    out["still_share"] = float((speed < still_deg_s).mean())
    return out
