"""Does this footage hold what a footage avatar's training needs? Measured checks, with what to film instead.

Intake already drops frames without one usable face. These checks look at
the usable frames as a whole, because a mouth model learns only what the
footage shows: a person who never opens their mouth gives a model that
never opens it, dark or blurred frames give a dark or blurred mouth, and a
face a few dozen pixels wide gives a mouth upscaled from a few pixels.

Each check measures one figure and compares it with two limits: below the
first the footage is refused (`FaceError`), below the second it is
accepted with a warning. The limits were set against real talking-face
clips (GRID, CREMA-D, US congressional addresses; ../shared/media), which
all pass without a warning:

| figure | real talking clips | warn below | refuse below |
| --- | --- | --- | --- |
| mouth movement: std of the lip opening (IOD) | 0.05-0.12 | 0.035 | 0.015 |
| usable footage (seconds) | | 60 | 2 |
| face brightness: median luma of the face (0-255) | 133-161 | 50 | 25 |
| sharpness: variance of the Laplacian of the face scaled to 64 px between the eyes | 35-516 (a Gaussian blur of 3 px: 3-31) | 15 | |
| face size: median distance between the eyes (pixels) | 43-110 | 40 | |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .crop import face_pose, pose_iod

SHARP_IOD_PX = 64.0     # faces are scaled to this eye distance before sharpness is measured


@dataclass(frozen=True)
class Check:
    """One measured figure of the footage, its limits and what to film instead when it falls short."""

    name: str
    figure: float
    unit: str
    warn_below: float
    refuse_below: float | None
    advice: str

    @property
    def level(self) -> str:
        """"refuse", "warn" or "ok"."""
        if self.refuse_below is not None and self.figure < self.refuse_below:
            return "refuse"
        return "warn" if self.figure < self.warn_below else "ok"

    def message(self) -> str:
        limit = self.refuse_below if self.level == "refuse" else self.warn_below
        return f"{self.name} is {self.figure:.3g} {self.unit} (below {limit:g}): {self.advice}"


def face_image_stats(rgb: np.ndarray, points: np.ndarray) -> tuple[float, float]:
    """(mean luma 0-255, sharpness) of the face in an RGB frame, from its landmarks (pixels).

    Sharpness is the variance of the Laplacian of the face's grey image
    after scaling it to `SHARP_IOD_PX` pixels between the eyes, so it does
    not depend on the resolution the person was filmed at.
    """
    import cv2

    h, w = rgb.shape[:2]
    xs, ys = points[:, 0], points[:, 1]
    x0, x1 = int(max(0, np.floor(xs.min()))), int(min(w, np.ceil(xs.max())))
    y0, y1 = int(max(0, np.floor(ys.min()))), int(min(h, np.ceil(ys.max())))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return float("nan"), float("nan")
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    s = SHARP_IOD_PX / max(pose_iod(face_pose(points)), 1e-6)
    scaled = cv2.resize(grey, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return float(grey.mean()), float(cv2.Laplacian(scaled.astype(np.float32), cv2.CV_32F).var())


def footage_checks(gaps: np.ndarray, usable_s: float, luma: np.ndarray, sharpness: np.ndarray,
                   iod_px: np.ndarray) -> list[Check]:
    """The checks of the module docstring, from per-usable-frame lip openings (IOD), face luma, sharpness
    and eye distances (pixels) and the usable length in seconds."""
    def med(x):
        x = np.asarray(x, np.float64)
        x = x[np.isfinite(x)]
        return float(np.median(x)) if x.size else float("nan")

    g = np.asarray(gaps, np.float64)
    g = g[np.isfinite(g)]
    return [
        Check("mouth movement", float(g.std()) if g.size else 0.0, "IOD", 0.035, 0.015,
              "the person barely opens their mouth; film them talking naturally, reading a text aloud, "
              "with a clear view of the lips"),
        Check("usable footage", usable_s, "s", 60.0, 2.0,
              "film 2-5 minutes of the person talking to the camera; more footage teaches more mouth shapes"),
        Check("face brightness", med(luma), "of 255", 50.0, 25.0,
              "the face is too dark; light it from the front (a window or a lamp behind the camera)"),
        Check("sharpness", med(sharpness), "", 15.0, None,
              "the face is blurred; focus on the face, use more light for a shorter exposure, keep the camera still"),
        Check("face size", med(iod_px), "px between the eyes", 40.0, None,
              "the face is small in the frame; film closer or at a higher resolution (1080p, head and shoulders)"),
    ]
