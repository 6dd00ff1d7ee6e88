"""The AI-generated label drawn into frames (Pillow's bundled font: no font package needed)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

AI_LABEL = "AI-generated"


def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font at `size` pixels: no system fonts needed."""
    return ImageFont.load_default(size=size)


def label_patch(text: str, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A rounded dark pill with white `text`, `height` pixels tall: (RGB uint8, alpha float32)."""
    f = font(max(8, int(height * 0.6)))
    tw = int(f.getlength(text))
    w = tw + height
    img = Image.new("RGBA", (w, height), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, w - 1, height - 1), radius=height // 2, fill=(0, 0, 0, 140))
    d.text((height // 2, height / 2), text, font=f, fill=(255, 255, 255, 235), anchor="lm")
    arr = np.asarray(img).astype(np.float32)
    return arr[..., :3].astype(np.uint8), arr[..., 3] / 255.0


class LabelStamp:
    """The AI-generated label, made once for a frame size and pasted into frames at the top right."""

    def __init__(self, width: int, height: int, text: str = AI_LABEL):
        lh = max(14, int(height * 0.035))
        self.rgb, self.alpha = label_patch(text, lh)
        h, w = self.alpha.shape
        x, y = width - w - lh // 2, lh // 2
        self.box = (x, y, x + w, y + h)

    def __call__(self, frame: np.ndarray) -> None:
        x0, y0, x1, y1 = self.box
        region = frame[y0:y1, x0:x1].astype(np.float32)
        a = self.alpha[..., None]
        frame[y0:y1, x0:x1] = (region * (1 - a) + self.rgb * a + 0.5).astype(np.uint8)
