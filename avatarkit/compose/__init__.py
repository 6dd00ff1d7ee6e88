"""Compositing: layouts, backgrounds, slides, text on screen, brand kits and transitions."""

from .background import make_background
from .brand import Brand, load_brand
from .layout import FrameLayout, Placement, Rect, frame_layout, place
from .scene import SceneCompositor

__all__ = ["Brand", "FrameLayout", "Placement", "Rect", "SceneCompositor", "frame_layout", "load_brand",
           "make_background", "place"]
