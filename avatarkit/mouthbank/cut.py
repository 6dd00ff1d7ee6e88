"""A person's open mouths cut out of frames into bank entries: shared by the bank's build, a footage
avatar's preparation and a photo avatar's own mouths (`face.avatar`)."""

from __future__ import annotations

import cv2
import numpy as np

from .bank import CONTOUR, HEIGHT, WIDTH, MouthBank, corner_similarity


def mouth_entries(frames, landmarks, min_open: float = 0.06):
    """(crops, canonical contours, frame numbers) of the usable open-mouth frames of one clip.

    `landmarks` is (frames, 478, 3) pixels with NaN where no face was found.
    """
    from ..eval import metrics as M

    crops, shapes, idx = [], [], []
    for i, (f, L) in enumerate(zip(frames, landmarks)):
        if not np.isfinite(L).all():
            continue
        if M.mouth_opening(L[None, :, :2])[0] < min_open:
            continue
        c = L[list(CONTOUR), :2].astype(np.float64)
        width = float(np.linalg.norm(c[10] - c[0]))
        if width < 8 or abs(float(L[CONTOUR[0], 2] - L[CONTOUR[10], 2])) > 0.2 * width:
            continue
        m = corner_similarity(c)
        crops.append(cv2.warpAffine(f, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
        shapes.append(c @ m[:, :2].T + m[:, 2])
        idx.append(i)
    return crops, shapes, idx


def bank_from_frames(frames, name: str, min_open: float = 0.06) -> tuple[MouthBank | None, np.ndarray]:
    """(the open mouths of `frames` (RGB) as one person's bank, or None when none opens; their landmarks
    (N, 478, 3) pixels, NaN where no face was found). MediaPipe tracks the frames from a fresh start."""
    from ..face.detect import reset_tracking, try_detect_landmarks

    reset_tracking()
    L = np.full((len(frames), 478, 3), np.nan)
    for i, f in enumerate(frames):
        p = try_detect_landmarks(np.ascontiguousarray(f))
        if p is not None:
            L[i] = p
    crops, shapes, idx = mouth_entries(frames, L, min_open)
    if not crops:
        return None, L
    return MouthBank.from_entries(crops, shapes, [0] * len(crops), idx, [name], meta={"source": "own"}), L
