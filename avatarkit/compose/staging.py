"""Staging a script's scenes: the brand kit, each scene's backdrop and slide, and its compositor.

The pipeline calls `check_staging` before any output exists, so a missing
slide page or a PPTX that cannot be rendered stops the render with a clear
error, then `stage_scene` when a scene begins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import RenderError
from ..face.rig import FaceRig
from ..script.model import Background, Scene, Script, SlideRef
from .background import make_background
from .brand import Brand, Card, load_brand
from .elements import Look, card_frame
from .scene import SceneCompositor
from .text import LabelStamp


def resolve_brand(script: Script, brand: Brand | str | Path | None) -> Brand:
    """The brand kit to render with: `brand` (a `Brand` or a file) if given, else the script's `brand:`, else neutral."""
    if isinstance(brand, Brand):
        return brand
    if brand is not None:
        return load_brand(brand)
    if script.brand is not None:
        return load_brand(script.brand)
    return Brand()


def scene_background(scene: Scene, brand: Brand) -> Background:
    """A scene's backdrop: its own, else the brand's, else the studio; generated kinds take the brand's colours."""
    bg = scene.background or brand.background or Background()
    if not bg.colors and bg.kind in ("gradient", "studio", "office", "solid") \
            and (brand.background or bg.kind == "gradient"):
        colors = brand.colors.background
        if bg.kind == "gradient" and len(colors) < 2:
            colors = (colors[0], brand.colors.primary)
        n = {"gradient": 3, "solid": 1}.get(bg.kind, 2)
        bg = Background(bg.kind, tuple(colors[:n]), bg.drift)
    return bg


def _slide_image(ref: SlideRef, width: int, height: int) -> np.ndarray:
    from ..slides import render_page

    return render_page(ref.file, ref.page, width, height)


def check_staging(script: Script) -> None:
    """Raise before rendering if a scene's slide cannot be shown (missing page, unreadable file, no LibreOffice)."""
    for sc in script.scenes:
        if sc.bullets and sc.layout == "full":
            raise RenderError(f"scene {sc.id!r}: bullets need a slide area; use layout beside, pip or circle")
        if sc.slide is None:
            continue
        if sc.slide.kind == "video":
            from ..slides import VideoSlide

            VideoSlide(sc.slide.file, script.fps, 64, 64).close()
        else:
            _slide_image(sc.slide, 64, 64)
        if sc.layout == "full" and (sc.background or Background()).kind != "blur":
            raise RenderError(f"scene {sc.id!r}: layout 'full' shows the presenter alone; its slide would not be "
                              "seen (use layout beside, pip or circle, or background: blur)")


def stage_scene(scene: Scene, script: Script, rig: FaceRig, brand: Brand, start: int, hold: int = 0) -> SceneCompositor:
    """The compositor for `scene`, which begins at frame `start` of the video; its text waits `hold` frames
    (the crossfade into it)."""
    W, H = script.width, script.height
    slide = None
    if scene.slide is not None:
        if scene.slide.kind == "video":
            from ..slides import VideoSlide

            slide = VideoSlide(scene.slide.file, script.fps, W, H)
        else:
            slide = _slide_image(scene.slide, W, H)
    title = scene.title
    if scene.layout != "full" and not (title or scene.bullets) and slide is None:
        title = script.title
    return SceneCompositor(rig, scene_background(scene, brand), scene.layout, W, H, title, brand=brand,
                           slide=slide, bullets=scene.bullets, lower_third=scene.lower_third, start=start,
                           fps=script.fps, language=script.language, hold=hold)


def card_still(brand: Brand, card: Card, script: Script) -> np.ndarray:
    """The frame of an intro or outro card (RGB, the script's size), labelled AI-generated."""
    W, H = script.width, script.height
    colors = brand.colors.background
    bg = Background("gradient", colors if len(colors) >= 2 else (colors[0], brand.colors.primary))
    still = card_frame(Look(brand, min(W, H), script.language), card, make_background(bg, W, H))
    LabelStamp(W, H)(still)
    return still
