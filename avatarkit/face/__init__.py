"""Faces: landmarks, mattes and the `FaceRig` a renderer animates."""

from .detect import detect_landmarks, load_image
from .matting import person_matte
from .rig import FaceRig, load_avatar, rig_from_image

__all__ = ["FaceRig", "detect_landmarks", "load_avatar", "load_image", "person_matte", "rig_from_image"]
