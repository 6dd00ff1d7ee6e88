"""Text drawn into frames: the AI-generated label and titles (Pillow's bundled font)."""

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


def draw_title(frame: np.ndarray, text: str, box: tuple[int, int, int, int]) -> None:
    """Draw a wrapped title into `box` (x0, y0, x1, y1) of an RGB frame, in place."""
    x0, y0, x1, y1 = box
    region = frame[y0:y1, x0:x1]
    lum = float(region.mean())
    color = (20, 24, 30) if lum > 150 else (250, 250, 250)
    img = Image.fromarray(region)
    d = ImageDraw.Draw(img)
    size = max(12, (y1 - y0) // 6)
    f = font(size)
    words, lines, line = text.split(), [], ""
    for w in words:
        trial = (line + " " + w).strip()
        if f.getlength(trial) > (x1 - x0) and line:
            lines.append(line)
            line = w
        else:
            line = trial
    if line:
        lines.append(line)
    y = (y1 - y0 - len(lines) * size * 1.2) / 2
    for ln in lines:
        d.text((0, y), ln, font=f, fill=color)
        y += size * 1.2
    frame[y0:y1, x0:x1] = np.asarray(img)


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
