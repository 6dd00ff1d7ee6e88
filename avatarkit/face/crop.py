"""The lower-face crop: where the diffusion renderer looks, and how it pastes back.

Every frame's lower face is mapped by a similarity transform into a square
canonical crop of `size` pixels. The eye line is made level, and the unit
of length is `s`, the distance from the eye line down to the base of the
nose (landmark 2): mouth and chin sit at nearly the same multiples of `s`
in every face (chin 2.5-2.6 s), while their distance in eye widths varies
by a third between people. The crop spans `CROP_TOP` to `CROP_TOP +
CROP_SIDE` s below the eyes. In it a fixed mask covers the upper lip up to
just under the nose, the mouth, the cheeks beside it and the chin: the only
pixels the renderer may change. Paste-back warps the generated crop into
the frame and blends it with a copy of that mask feathered inward to
exactly zero at its edge (the crop's border included), so every pixel
outside the mask keeps its original value bit for bit.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import landmarks as lm

CROP_TOP = 0.75      # s below the eye line
CROP_SIDE = 2.25     # s
POSE_SIZE = 5
JAW_LINE = (361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132)
NOSE_BASE = (98, 97, 2, 326, 327)
LIP_OUTER = lm.LIP_OUTER_UPPER + lm.LIP_OUTER_LOWER[::-1][1:-1]
LIP_INNER = lm.LIP_INNER_UPPER + lm.LIP_INNER_LOWER[::-1][1:-1]
# Landmarks a new mouth moves: lips and jaw line (the personal rig predicts these).
LOWER_FACE = tuple(sorted(set(lm.LIP_OUTER_UPPER + lm.LIP_OUTER_LOWER + lm.LIP_INNER_UPPER + lm.LIP_INNER_LOWER
                              + lm.LIP_MID_UPPER + lm.LIP_MID_LOWER + JAW_LINE)))
CONDITION_CHANNELS = 2


def eye_centers(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right eye centres (pixels) of (478, 2+) landmarks."""
    left = points[list(lm.LEFT_EYE_UPPER + lm.LEFT_EYE_LOWER + lm.LEFT_EYE_CORNERS), :2].mean(0)
    right = points[list(lm.RIGHT_EYE_UPPER + lm.RIGHT_EYE_LOWER + lm.RIGHT_EYE_CORNERS), :2].mean(0)
    return left, right


def face_pose(points: np.ndarray) -> np.ndarray:
    """(5,) float64: eye midpoint x, y, eye-line vector x, y (length = IOD), and `s`, all in pixels.

    `s` is how far the base of the nose lies below the eye line. The five
    numbers fix the crop's similarity transform; video code smooths them
    over time (`smooth_poses`) so the crop does not shake with tracking noise.
    """
    a, b = eye_centers(points)
    d = b - a
    if d[0] < 0:
        d = -d
    mid = (a + b) / 2
    u = d / max(float(np.hypot(*d)), 1e-9)
    v = np.array([-u[1], u[0]])
    s = float(np.dot(points[2, :2] - mid, v))
    return np.array([mid[0], mid[1], d[0], d[1], s], np.float64)


def pose_iod(pose: np.ndarray) -> float:
    """The eye distance (pixels) of a `face_pose`."""
    return float(np.hypot(pose[2], pose[3]))


def crop_matrix(pose: np.ndarray, size: int) -> np.ndarray:
    """The 2x3 affine map from frame pixels to crop pixels for a `face_pose`."""
    mid, d, s = pose[:2], pose[2:4], max(float(pose[4]), 1e-6)
    u = d / float(np.hypot(*d))
    v = np.array([-u[1], u[0]])
    center = mid + (CROP_TOP + CROP_SIDE / 2) * s * v
    k = size / (CROP_SIDE * s)
    # crop = k * R (p - center) + size/2, with R's rows u and v.
    R = np.stack([u, v]) * k
    t = size / 2 - R @ center
    return np.concatenate([R, t[:, None]], 1)


def to_crop(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map (N, 2+) frame pixel points into crop pixels."""
    return points[:, :2] @ matrix[:, :2].T + matrix[:, 2]


def from_crop(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map (N, 2) crop pixel points back into frame pixels."""
    inv = cv2.invertAffineTransform(matrix)
    return points[:, :2] @ inv[:, :2].T + inv[:, 2]


def cut(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The (size, size, 3) uint8 crop of an RGB frame (bilinear, edges replicated)."""
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


_MASKS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def mouth_mask(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(hard, alpha) masks of the changeable region, (size, size) float32 in crop pixels.

    `hard` is 1 inside (what the model must fill in), `alpha` the paste
    weight: 1 deep inside, ramping to exactly 0 at the hard mask's edge over
    5 % of the crop, so the seam is invisible and nothing outside changes.
    """
    if size not in _MASKS:
        y, x = (np.mgrid[0:size, 0:size] + 0.5) / size
        # The top edge dips just under the nose and rises beside it, so the whole upper lip is inside.
        # A squarish super-ellipse: wide at the mouth corners (a broad smile stays inside), narrow at the chin.
        hard = ((np.abs((x - 0.5) / 0.47) ** 3 + np.abs((y - 0.55) / 0.47) ** 3) <= 1.0) & (y >= 0.16 - 0.8 * (x - 0.5) ** 2)
        hard = hard.astype(np.uint8)
        # A zero border first, so the weight also ramps down to zero at the crop's own edge.
        padded = np.pad(hard, 1)
        dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
        alpha = np.clip((dist - 1.0) / max(1.0, 0.05 * size), 0.0, 1.0).astype(np.float32)
        _MASKS[size] = (hard.astype(np.float32), alpha)
    return _MASKS[size]


def draw_condition(points: np.ndarray, size: int) -> np.ndarray:
    """The landmark condition image, (2, size, size) float32 in 0..1, from crop-pixel landmarks.

    Channel 0: the lips (outer contour 0.5, the open mouth inside the inner
    contour 1.0). Channel 1: the jaw line and the base of the nose as lines.
    Drawn with 4 bits of sub-pixel precision, so slow motion changes the
    image smoothly rather than in whole-pixel jumps.
    """
    img = np.zeros((CONDITION_CHANNELS, size, size), np.uint8)
    q = np.round(points[:, :2] * 16).astype(np.int32)
    thick = max(1, size // 64)
    cv2.fillPoly(img[0], [q[list(LIP_OUTER)]], 128, cv2.LINE_AA, 4)
    cv2.fillPoly(img[0], [q[list(LIP_INNER)]], 255, cv2.LINE_AA, 4)
    cv2.polylines(img[1], [q[list(JAW_LINE)]], False, 255, thick, cv2.LINE_AA, 4)
    cv2.polylines(img[1], [q[list(NOSE_BASE)]], False, 160, thick, cv2.LINE_AA, 4)
    return img.astype(np.float32) / 255.0


def paste(frame: np.ndarray, crop_rgb: np.ndarray, matrix: np.ndarray) -> tuple[int, int, int, int]:
    """Blend a generated crop back into `frame` (in place) under the feathered mouth mask.

    Only pixels whose paste weight is above zero change; returns the frame
    box (x0, y0, x1, y1) that may have changed. `crop_rgb` is (size, size, 3) uint8.
    """
    size = crop_rgb.shape[0]
    _, alpha = mouth_mask(size)
    h, w = frame.shape[:2]
    inv = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    fc = corners @ inv[:, :2].T + inv[:, 2]
    x0, y0 = np.floor(fc.min(0)).astype(int)
    x1, y1 = np.ceil(fc.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return (0, 0, 0, 0)
    shifted = matrix.copy()
    shifted[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)
    bw, bh = x1 - x0, y1 - y0
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    gen = cv2.warpAffine(crop_rgb, shifted, (bw, bh), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(alpha, shifted, (bw, bh), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    region = frame[y0:y1, x0:x1]
    blend = region.astype(np.float32) + (gen.astype(np.float32) - region) * a[..., None]
    out = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
    keep = a <= 0
    out[keep] = region[keep]
    region[...] = out
    return (x0, y0, x1, y1)


def smooth_poses(poses: np.ndarray, radius: int = 2) -> np.ndarray:
    """Centred moving average of (N, 5) `face_pose`s over 2 * radius + 1 frames, NaN rows skipped.

    Tracking noise of a pixel or two shakes a crop that is upscaled 2-4x;
    averaging the eye geometry over 5 frames (0.2 s) removes the shake and
    still follows real head motion, which is slow at that scale.
    """
    n = poses.shape[0]
    ok = ~np.isnan(poses).any(1)
    vals = np.where(ok[:, None], poses, 0.0)
    c = np.concatenate([np.zeros((1, poses.shape[1])), np.cumsum(vals, 0)])
    k = np.concatenate([[0], np.cumsum(ok)])
    lo = np.clip(np.arange(n) - radius, 0, n)
    hi = np.clip(np.arange(n) + radius + 1, 0, n)
    cnt = (k[hi] - k[lo])[:, None]
    out = (c[hi] - c[lo]) / np.maximum(cnt, 1)
    out[~ok] = np.nan
    return out


def track_poses(landmarks: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Smoothed crop poses (N, 5) of a landmark sequence (N, 478, 2+), NaN where `good` is False."""
    raw = np.array([face_pose(p) if g else np.full(POSE_SIZE, np.nan) for p, g in zip(landmarks, good)])
    return smooth_poses(raw.reshape(-1, POSE_SIZE))
