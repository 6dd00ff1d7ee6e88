"""Generated backdrops: solid, vertical gradient, and a soft "studio" backdrop.

Backgrounds are made once per scene at the output size. A little ordered
noise is added to gradients so that 8-bit banding does not show after H.264
compression.
"""

from __future__ import annotations

import numpy as np

from ..script.model import Background

STUDIO_DEFAULT = ("#2b3a4a", "#8fa3b8")


def hex_rgb(color: str) -> np.ndarray:
    """'#rrggbb' -> float32 RGB in 0..255."""
    c = color.lstrip("#")
    return np.array([int(c[i:i + 2], 16) for i in (0, 2, 4)], np.float32)


def _dither(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(1234)
    return rng.uniform(-0.9, 0.9, (h, w, 1)).astype(np.float32)


def make_background(bg: Background, width: int, height: int) -> np.ndarray:
    """Render `bg` as an RGB uint8 image of `width` x `height` pixels.

    `photo` backgrounds are drawn by the layout from the avatar photo itself;
    here they fall back to the studio backdrop (used around the photo).
    """
    if bg.kind == "solid":
        img = np.broadcast_to(hex_rgb(bg.colors[0]), (height, width, 3)).astype(np.float32)
        return img.astype(np.uint8)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    if bg.kind == "gradient":
        top, bottom = hex_rgb(bg.colors[0]), hex_rgb(bg.colors[1])
        img = top * (1 - y) + bottom * y
        img = np.broadcast_to(img, (height, width, 3)) + _dither(height, width)
        return np.clip(img, 0, 255).astype(np.uint8)
    base_c, light_c = (bg.colors + STUDIO_DEFAULT[len(bg.colors):]) if bg.colors else STUDIO_DEFAULT
    base, light = hex_rgb(base_c), hex_rgb(light_c)
    # A lit seamless paper: a broad soft spot above centre, a darker floor
    # and vignette towards the corners.
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]
    yy = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None, None]
    aspect = width / height
    r2 = (x * aspect / 1.6) ** 2 + ((yy + 0.25) / 1.1) ** 2
    spot = np.exp(-r2 * 1.6)
    vignette = 1.0 - 0.35 * np.clip((x * x + yy * yy) / 2.0, 0, 1)
    img = (base * (1 - spot) + light * spot) * vignette
    img = img + _dither(height, width)
    return np.clip(img, 0, 255).astype(np.uint8)
