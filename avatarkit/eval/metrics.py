"""Lip-sync metrics on MediaPipe landmark sequences, as pure numpy functions.

Every function takes landmark sequences shaped (frames, 478, 2) in pixels,
with a frame set to NaN where no face was found, so a harness can measure a
real and a generated video with the same code and let missing frames drop
out of each metric instead of being filled in. Lengths are expressed as a
fraction of the inter-ocular distance (IOD, between the eye centres), which
makes numbers comparable across resolutions and face sizes. Head motion is
removed by a 2-D similarity transform fitted on points that do not move when
someone speaks (eye corners, nose bridge, forehead), so mouth distances and
jitter measure the mouth, not the head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..face import landmarks as lm

# Points a speaker's mouth does not move: eye corners, nose bridge and dorsum, forehead midline.
STABLE = (33, 133, 263, 362, 168, 6, 197, 195, 5, 4, 10, 151, 9, 8)
# Every lip landmark: outer, middle and inner contours.
MOUTH = tuple(sorted(set(lm.LIP_OUTER_UPPER + lm.LIP_OUTER_LOWER + lm.LIP_MID_UPPER + lm.LIP_MID_LOWER
                         + lm.LIP_INNER_UPPER + lm.LIP_INNER_LOWER)))
# The central five upper/lower inner-lip pairs (the landmark contract's); corners always touch, so they are left out.
INNER_PAIRS = lm.INNER_PAIRS
LEFT_EYE = lm.LEFT_EYE_UPPER + lm.LEFT_EYE_LOWER + lm.LEFT_EYE_CORNERS
RIGHT_EYE = lm.RIGHT_EYE_UPPER + lm.RIGHT_EYE_LOWER + lm.RIGHT_EYE_CORNERS


def _xy(landmarks: np.ndarray) -> np.ndarray:
    a = np.asarray(landmarks, np.float64)
    return a[..., :2]


def eye_centers(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right eye centres (..., 2) in pixels: the mean of each eye's contour."""
    L = _xy(landmarks)
    return L[..., list(LEFT_EYE), :].mean(-2), L[..., list(RIGHT_EYE), :].mean(-2)


def iod(landmarks: np.ndarray) -> np.ndarray:
    """Inter-ocular distance in pixels, one per frame (NaN where the frame is missing)."""
    a, b = eye_centers(landmarks)
    return np.linalg.norm(b - a, axis=-1)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip opening per frame, as a fraction of that frame's IOD (0 = lips together).

    The mean distance between the five central upper/lower inner-lip
    landmark pairs, divided by the frame's IOD; a ratio of lengths in one
    frame, so it needs no alignment. NaN where the frame is missing.
    """
    L = _xy(landmarks)
    up = L[..., [p[0] for p in INNER_PAIRS], :]
    lo = L[..., [p[1] for p in INNER_PAIRS], :]
    gap = np.linalg.norm(lo - up, axis=-1).mean(-1)
    return gap / np.maximum(iod(L), 1e-9)


def mouth_width(landmarks: np.ndarray) -> np.ndarray:
    """Mouth-corner distance per frame (landmarks 61 and 291), as a fraction of that frame's IOD."""
    L = _xy(landmarks)
    return np.linalg.norm(L[..., 61, :] - L[..., 291, :], axis=-1) / np.maximum(iod(L), 1e-9)


@dataclass(frozen=True)
class Similarity:
    """x -> scale * R @ x + shift: a rotation, uniform scale and translation in 2-D."""

    scale: float
    rotation: np.ndarray   # (2, 2), det +1
    shift: np.ndarray      # (2,)

    def apply(self, points: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(points, np.float64) @ self.rotation.T + self.shift


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> Similarity:
    """Least-squares similarity mapping points `src` (n, 2) onto `dst` (n, 2) (Umeyama, no reflection)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, s, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    fix = np.diag([1.0, d])
    rot = u @ fix @ vt
    var = (a ** 2).sum()
    scale = float((s * np.diag(fix)).sum() / var) if var > 0 else 1.0
    return Similarity(scale, rot, md - scale * rot @ ms)


def align_similarity(points: np.ndarray, reference: np.ndarray, idx: tuple[int, ...] = STABLE) -> np.ndarray:
    """All of `points` (478, 2) moved by the similarity that best maps its `idx` points onto `reference`'s."""
    P, R = _xy(points), _xy(reference)
    return fit_similarity(P[list(idx)], R[list(idx)]).apply(P)


def canonical(landmarks: np.ndarray) -> np.ndarray:
    """One frame's landmarks moved so the eye centres sit at (-0.5, 0) and (0.5, 0): IOD = 1, eyes level."""
    L = _xy(landmarks)
    a, b = eye_centers(L)
    eyes = np.stack([a, b])
    return fit_similarity(eyes, np.array([[-0.5, 0.0], [0.5, 0.0]])).apply(L)


def align_sequence(seq: np.ndarray, reference: np.ndarray, idx: tuple[int, ...] = STABLE) -> np.ndarray:
    """Every frame of `seq` (frames, 478, 2) aligned onto `reference` on the stable points; NaN frames stay NaN.

    With a `canonical` reference, distances in the result are fractions of
    the reference's IOD.
    """
    S = _xy(seq)
    out = np.full(S.shape, np.nan)
    for t in np.flatnonzero(valid_frames(S)):
        out[t] = align_similarity(S[t], reference, idx)
    return out


def valid_frames(seq: np.ndarray) -> np.ndarray:
    """Boolean (frames,): where a face was found (no NaN in the frame)."""
    S = np.asarray(seq, np.float64)
    return np.isfinite(S.reshape(S.shape[0], -1)).all(1)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over the frames where both series are finite; NaN if under 3 or either is constant."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    x, y = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 1e-12 else float("nan")


def lmd(generated: np.ndarray, real: np.ndarray, idx: tuple[int, ...] = MOUTH) -> float:
    """Mean landmark distance over the `idx` points and the frames both sequences have.

    Both sequences must already be aligned into one frame of reference
    (`align_sequence` onto a `canonical` frame), so the result is a
    fraction of IOD. NaN if no frame is shared.
    """
    G, R = _xy(generated)[:, list(idx)], _xy(real)[:, list(idx)]
    d = np.linalg.norm(G - R, axis=-1).mean(-1)
    d = d[np.isfinite(d)]
    return float(d.mean()) if d.size else float("nan")


@dataclass(frozen=True)
class Offset:
    """Audio-visual offset: `lag` in frames (positive = generated is late) and the correlation there."""

    lag: int | None
    correlation: float


def cross_correlation(generated: np.ndarray, real: np.ndarray, max_lag: int = 10) -> np.ndarray:
    """Normalised cross-correlation of two mean-removed series at lags -max_lag..max_lag (frames).

    Entry k is for lag = k - max_lag: the mean over shared finite frames t of
    g(t + lag) * r(t), divided by both series' standard deviations, so a
    lag with a shorter overlap is not penalised. NaN where fewer than 3
    frames overlap or a series is constant.
    """
    g, r = np.asarray(generated, np.float64), np.asarray(real, np.float64)
    n = min(g.size, r.size)
    g, r = g[:n], r[:n]
    out = np.full(2 * max_lag + 1, np.nan)
    if np.isfinite(g).sum() < 3 or np.isfinite(r).sum() < 3:
        return out
    g, r = g - np.nanmean(g), r - np.nanmean(r)
    sg, sr = np.nanstd(g), np.nanstd(r)
    if sg < 1e-12 or sr < 1e-12:
        return out
    for k, lag in enumerate(range(-max_lag, max_lag + 1)):
        if abs(lag) > n - 3:
            continue        # fewer than 3 frames overlap (and a negative slice end would wrap around)
        a = g[max(lag, 0): n + min(lag, 0)]
        b = r[max(-lag, 0): n - max(lag, 0)]
        p = a * b
        p = p[np.isfinite(p)]
        if p.size >= 3:
            out[k] = p.mean() / (sg * sr)
    return out


def av_offset(generated: np.ndarray, real: np.ndarray, max_lag: int = 10) -> Offset:
    """The lag in -max_lag..max_lag frames where generated vs real mouth opening correlate best.

    Positive means the generated mouth moves `lag` frames after the real
    one. Ties go to the smaller |lag|; `lag` is None when the correlation is
    undefined at every lag (e.g. a mouth that never moves).
    """
    c = cross_correlation(generated, real, max_lag)
    if not np.isfinite(c).any():
        return Offset(None, float("nan"))
    lags = np.arange(-max_lag, max_lag + 1)
    best = np.nanmax(c)
    cand = lags[np.isclose(c, best, rtol=0, atol=1e-12)]
    lag = int(cand[np.argmin(np.abs(cand))])
    return Offset(lag, float(best))


def jitter(aligned: np.ndarray, idx: tuple[int, ...] = MOUTH) -> float:
    """Mean magnitude of the second temporal difference of the `idx` points (fraction of IOD per frame²).

    `aligned` must be head-motion-free (`align_sequence` onto a `canonical`
    frame). Only runs of three consecutive found frames count; NaN if none.
    """
    A = _xy(aligned)[:, list(idx)]
    if A.shape[0] < 3:
        return float("nan")
    acc = np.linalg.norm(A[2:] - 2 * A[1:-1] + A[:-2], axis=-1).mean(-1)
    acc = acc[np.isfinite(acc)]
    return float(acc.mean()) if acc.size else float("nan")


def block_shuffle(x: np.ndarray, block: int, seed: int = 0) -> np.ndarray:
    """`x` with its frames cut into blocks of `block` frames and the blocks permuted (a chance-level control).

    The permutation is drawn until no block stays in place (when there is
    more than one block), so the result keeps each block's motion but loses
    its timing against the audio.
    """
    x = np.asarray(x)
    n = x.shape[0]
    starts = list(range(0, n, max(1, block)))
    rng = np.random.default_rng(seed)
    order = np.arange(len(starts))
    if len(starts) > 1:
        while (order == np.arange(len(starts))).any():
            order = rng.permutation(len(starts))
    parts = [x[starts[i]: starts[i] + block] for i in order]
    return np.concatenate(parts, axis=0) if parts else x.copy()


# -- pixel figures of a rendered mouth against the real one ----------------------------------

# Frames count as open-mouthed for the inner-mouth colour error above this inner-lip opening (fraction of IOD).
OPEN_MOUTH = 0.08


def laplacian_variance(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the 3x3 Laplacian of the grayscale image (a sharpness figure), inside `mask` if given."""
    import cv2

    img = np.asarray(image)
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    lap = cv2.Laplacian(g.astype(np.float32), cv2.CV_32F, ksize=1)
    vals = lap[mask.astype(bool)] if mask is not None else lap.ravel()
    return float(vals.var()) if vals.size else float("nan")


def sharpness_ratio(generated: np.ndarray, real: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Laplacian variance of `generated` over that of `real` (same crop box): 1 is as sharp as real,
    below 1 blurred, far above 1 jagged or over-sharpened. NaN when the real crop is flat."""
    r = laplacian_variance(real, mask)
    return laplacian_variance(generated, mask) / r if r > 1e-9 else float("nan")


def inner_mouth_error(generated: np.ndarray, real: np.ndarray, polygon: np.ndarray) -> float:
    """Mean absolute RGB difference (0..255) of two aligned images inside `polygon` (n, 2) pixels
    (the real inner-lip contour); NaN when the polygon covers no pixel."""
    import cv2

    mask = np.zeros(real.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(polygon, np.float64) * 8).astype(np.int32)], 1, cv2.LINE_8, shift=3)
    inside = mask.astype(bool)
    if not inside.any():
        return float("nan")
    return float(np.abs(generated.astype(np.float64) - real.astype(np.float64))[inside].mean())
