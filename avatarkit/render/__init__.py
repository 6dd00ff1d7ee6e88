"""Renderers: a `FaceRig` and a `MotionTrack` become avatar frames."""

from .base import AvatarFrame, Renderer, make_renderer
from .warp import WarpRenderer

__all__ = ["AvatarFrame", "Renderer", "WarpRenderer", "make_renderer"]
