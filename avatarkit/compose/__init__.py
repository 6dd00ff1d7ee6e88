"""Compositing: backgrounds, layouts, text over the rendered avatar."""

from .background import make_background
from .layout import Placement, SceneCompositor, place

__all__ = ["Placement", "SceneCompositor", "make_background", "place"]
