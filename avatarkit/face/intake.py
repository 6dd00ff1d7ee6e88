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

A single avatar photo gets three more checks (`photo_problem`), each
refused with its measured figure in the message, never animated into a
smeared mouth. Limits set against the sample photo (`avatars/presenter.png`)
and two frames (0 and 60) of each of the 23 clips of
`../shared/media/talking`, which all pass:

| figure | sample photo | footage frames | refuse |
| --- | --- | --- | --- |
| mouth width: outer lip corners 61-291 (pixels) | 43 | 34-110 | below 28 |
| turn: the cheek-to-cheek line (234-454) out of the image plane, from the landmarks' depth (degrees) | 1 | 0-18 | above 25 |
| mouth texture: std of grey inside the outer lips (0-255) | 43 | 11.5-50 | below 6 (covered) |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import landmarks as lm
from .crop import face_pose, pose_iod

MIN_MOUTH_PX = 28.0     # mouth width (outer corners) below which a photo's mouth is too few pixels to animate
MAX_TURN_DEG = 25.0     # the face turned further than this from the camera shows too little of the mouth
MIN_MOUTH_TEXTURE = 6.0  # grey std inside the outer lips: below this the lips are covered (a flat patch)

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


def photo_figures(rgb: np.ndarray, points: np.ndarray) -> dict[str, float]:
    """The photo checks' figures from an RGB image and its (478, 3) landmarks (pixels; z in pixel scale):
    `mouth_px` (outer lip corner distance), `turn_deg` (the cheek-to-cheek line's angle out of the image
    plane; positive: the face's left cheek is further away) and `mouth_texture` (std of grey inside the
    outer lips)."""
    import cv2

    p = np.asarray(points, np.float64)
    mouth = float(np.linalg.norm(p[61, :2] - p[291, :2]))
    d = p[454] - p[234]
    turn = math.degrees(math.atan2(float(d[2]), float(np.hypot(d[0], d[1])))) if p.shape[1] > 2 else 0.0
    poly = p[list(lm.LIP_OUTER_UPPER) + list(lm.LIP_OUTER_LOWER[::-1][1:-1]), :2]
    mask = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)[mask > 0]
    texture = float(grey.astype(np.float64).std()) if grey.size >= 4 else 0.0
    return {"mouth_px": mouth, "turn_deg": turn, "mouth_texture": texture}


def photo_problem(rgb: np.ndarray, points: np.ndarray, source: str = "photo") -> str | None:
    """Why this photo cannot be an avatar (one sentence naming the measured figure), or None if it can."""
    f = photo_figures(rgb, points)
    if f["mouth_px"] < MIN_MOUTH_PX:
        return (f"{source}: the mouth is {f['mouth_px']:.0f} px wide; an avatar photo needs at least "
                f"{MIN_MOUTH_PX:.0f} px (use a closer or larger photo)")
    if abs(f["turn_deg"]) > MAX_TURN_DEG:
        return (f"{source}: the face is turned {abs(f['turn_deg']):.0f}° away from the camera; at most "
                f"{MAX_TURN_DEG:.0f}° (use a photo facing the camera)")
    if f["mouth_texture"] < MIN_MOUTH_TEXTURE:
        return (f"{source}: the mouth is covered (the lips show no detail: grey spread {f['mouth_texture']:.1f} "
                f"inside them, at least {MIN_MOUTH_TEXTURE:.0f} on an uncovered mouth); use a photo with the "
                f"lips in clear view")
    return None
