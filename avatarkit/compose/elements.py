"""On-screen elements drawn in the brand's look: captions, lower thirds, titles, slide cards, logo.

Each builder returns an `Overlay` (or an image for the static slide card),
sized from the frame's short side `u` so that 720p, 1080p and 4K frames
look alike. Text goes through `typeset`, which shapes every script and lays
right-to-left text out from the right.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .background import hex_rgb
from .brand import Brand, Card
from .layout import Rect
from .overlay import Overlay
from .typeset import TextStyle, render_block, wrap


def _rounded(w: int, h: int, radius: int, color: str, opacity: float) -> np.ndarray:
    """A filled rounded rectangle as straight-alpha RGBA uint8 (w x h pixels)."""
    img = Image.new("RGBA", (max(w, 1), max(h, 1)), (0, 0, 0, 0))
    ImageDraw.Draw(img).rounded_rectangle((0, 0, w - 1, h - 1), radius=radius,
                                          fill=tuple(int(c) for c in hex_rgb(color)) + (int(round(255 * opacity)),))
    return np.asarray(img).copy()


def load_rgba(path) -> np.ndarray:
    """An image file as straight-alpha RGBA uint8 (a logo or a picture); `RenderError` naming it if unreadable."""
    from PIL import ImageOps, UnidentifiedImageError

    from ..errors import RenderError

    try:
        with Image.open(path) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGBA")).copy()
    except (OSError, UnidentifiedImageError) as e:
        raise RenderError(f"{path}: cannot read image ({e})") from None


def over(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    """Alpha-composite straight-alpha RGBA `src` onto RGBA `dst` at (x, y), in place ("over")."""
    h, w = src.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, dst.shape[1]), min(y + h, dst.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    s = src[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.float32) / 255.0
    d = dst[y0:y1, x0:x1].astype(np.float32) / 255.0
    sa, da = s[..., 3:4], d[..., 3:4]
    oa = sa + da * (1 - sa)
    rgb = (s[..., :3] * sa + d[..., :3] * da * (1 - sa)) / np.maximum(oa, 1e-6)
    dst[y0:y1, x0:x1] = np.clip(np.concatenate([rgb, oa], -1) * 255 + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Look:
    """The brand's look at one frame size: `u` is the frame's short side in pixels."""

    brand: Brand
    u: int
    language: str = "en"

    def style(self, size: float, *, color: str | None = None, weight: int = 400, heading: bool = False,
              **extra) -> TextStyle:
        font = self.brand.heading_font if heading else self.brand.body_font
        return TextStyle(size=max(10, int(round(size * self.u))), color=color or self.brand.colors.text,
                         weight=weight, font=font, language=self.language, **extra)


def caption_style(look: Look) -> TextStyle:
    """The style of burned-in captions: white semi-bold, outlined when there is no box behind it."""
    boxed = look.brand.caption_style == "box"
    return look.style(0.046, color="#ffffff", weight=600, align="center",
                      stroke=0 if boxed else max(2, int(0.004 * look.u)), stroke_color="#000000", shadow=not boxed)


def caption_pages(look: Look, text: str, band: Rect) -> list[str]:
    """`text` broken into caption pages of at most two lines that fit `band` (joined by newlines).

    A cue too long for two lines at this frame width (a long phrase in a
    narrow portrait frame, or a sentence of Japanese, which has no spaces
    to cut cues at) is shown as several pages in turn, never cut short.
    """
    lines = wrap(text, caption_style(look), int(band.w * 0.92), balance=True)
    return ["\n".join(lines[i:i + 2]) for i in range(0, len(lines), 2)] or [""]


def caption(look: Look, text: str, band: Rect, start: int, end: int) -> Overlay:
    """A burned-in caption page (one or two lines) centred at the bottom of `band`, frames [start, end)."""
    boxed = look.brand.caption_style == "box"
    style = caption_style(look)
    block = render_block(text, style, int(band.w * 0.92), max_lines=2, balance=True)
    rgba = block.rgba
    if boxed:
        pad = int(0.35 * style.size)
        h, w = rgba.shape[:2]
        box = _rounded(w + 2 * pad, h + pad, int(0.3 * style.size), "#0b0f14", 0.68)
        over(box, rgba, pad, pad // 2)
        rgba = box
    h, w = rgba.shape[:2]
    return Overlay.from_rgba(rgba, band.x + (band.w - w) // 2, band.y1 - h, start=start, end=end)


def band(look: Look, title: str, subtitle: str, at: Rect, start: int, end: int, fps: int, *,
         big: bool = False, bottom: int | None = None) -> Overlay:
    """A lower third (name and role) or, with `big`, a title band: an accent bar and a light card.

    The card's top-left is `at`'s, moved up if needed so it ends above `bottom` (pixels).
    """
    c = look.brand.colors
    t = render_block(title, look.style(0.062 if big else 0.05, weight=700, heading=True), int(at.w * 0.9), max_lines=2)
    parts = [t.rgba]
    if subtitle:
        parts.append(render_block(subtitle, look.style(0.034, color=c.primary), int(at.w * 0.9), max_lines=1).rgba)
    pad = int(0.022 * look.u)
    bar = max(3, int(0.009 * look.u))
    w = max(p.shape[1] for p in parts) + 2 * pad + bar
    h = sum(p.shape[0] for p in parts) + 2 * pad
    card = _rounded(w, h, int(0.01 * look.u), c.panel, 0.94)
    card[:, :bar, :3] = hex_rgb(c.primary).astype(np.uint8)
    card[:, :bar, 3] = 255
    y = pad
    for p in parts:
        rtl = p is t.rgba and t.direction == "rtl"
        over(card, p, w - pad - p.shape[1] if rtl else bar + pad, y)
        y += p.shape[0]
    fade = max(1, fps // 3)
    y = at.y if bottom is None else max(0, min(at.y, bottom - h))
    return Overlay.from_rgba(card, at.x, y, start=start, end=end, fade_in=fade, fade_out=fade,
                             slide=int(0.02 * look.u))


def logo(look: Look, width: int, height: int) -> Overlay | None:
    """The brand's logo in its corner, or None."""
    lg = look.brand.logo
    if lg is None:
        return None
    img = load_rgba(lg.file)
    w = max(4, int(round(lg.size * width)))
    h = max(4, int(round(img.shape[0] * w / img.shape[1])))
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    if lg.opacity < 1.0:
        img[..., 3] = (img[..., 3] * lg.opacity).astype(np.uint8)
    m = int(round(lg.margin * height))
    x = m if lg.position.endswith("left") else width - m - w
    y = m if lg.position.startswith("top") else height - m - h
    return Overlay.from_rgba(img, x, y)


@dataclass
class SlideCard:
    """A re-laid-out slide: the static card image (RGBA, panel-sized: the card and its picture), its title
    with its accent bar, and its bullets, revealed one by one; text is kept apart from the card so the
    compositor can time it (a title waits for the transition into its scene to end)."""

    rgba: np.ndarray
    bullets: list[tuple[np.ndarray, int, int]]     # (RGBA, x, y) in card pixels
    title: tuple[np.ndarray, int, int] | None = None    # (RGBA, x, y) in card pixels


def slide_card(look: Look, panel: Rect, title: str, bullets: tuple[str, ...], picture: np.ndarray | None) -> SlideCard:
    """Draw a title, bullet points and a picture on a brand-coloured card filling `panel` (pixels)."""
    c = look.brand.colors
    W, H = panel.w, panel.h
    card = _rounded(W, H, int(0.012 * look.u), c.panel, 0.96)
    pad = int(0.05 * min(W, H)) + 4
    y = pad
    head = None
    if title:
        heading = render_block(title, look.style(0.066, weight=700, heading=True), W - 2 * pad, max_lines=2)
        rtl = heading.direction == "rtl"
        gap, bar_h = int(0.012 * look.u), max(3, int(0.006 * look.u))
        hh, hw = heading.rgba.shape[:2]
        patch = np.zeros((hh + gap + bar_h, W - 2 * pad, 4), np.uint8)     # the title and its accent bar
        over(patch, heading.rgba, patch.shape[1] - hw if rtl else 0, 0)
        bar_w = int(0.08 * W)
        bx = patch.shape[1] - bar_w if rtl else 0
        patch[hh + gap:, bx:bx + bar_w, :3] = hex_rgb(c.primary).astype(np.uint8)
        patch[hh + gap:, bx:bx + bar_w, 3] = 255
        head = (patch, pad, y)
        y += hh + gap + int(0.04 * look.u)
    text_w = W - 2 * pad
    if picture is not None:
        text_w = int((W - 3 * pad) * (0.55 if bullets else 0.0)) if bullets else 0
        area = Rect(pad + text_w + (pad if bullets else 0), y, W - 2 * pad - text_w - (pad if bullets else 0), H - y - pad)
        if area.w > 8 and area.h > 8:
            ph, pw = picture.shape[:2]
            fit = area.fit(pw / ph)
            img = cv2.resize(picture, (fit.w, fit.h), interpolation=cv2.INTER_AREA)
            rgba = img if img.shape[2] == 4 else np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
            over(card, rgba, fit.x, fit.y)
    out = []
    size = 0.046 if len(bullets) <= 4 else 0.038
    dot = int(0.36 * size * look.u)
    for text in bullets:
        blk = render_block(text, look.style(size), max(text_w - 2 * dot, 32), max_lines=3)
        h, w = blk.rgba.shape[:2]
        item = np.zeros((h, w + 2 * dot, 4), np.uint8)
        rtl = blk.direction == "rtl"
        over(item, blk.rgba, 0 if rtl else 2 * dot, 0)
        cy = int(0.62 * size * look.u)
        cx = w + dot if rtl else dot // 2
        cv2.circle(item, (cx + dot // 2, cy), dot // 2, (*[int(v) for v in hex_rgb(c.primary)], 255), -1, cv2.LINE_AA)
        x = pad + text_w - item.shape[1] if rtl and text_w else pad
        if y + h > H - pad:
            break
        out.append((item, x, y))
        y += h + int(0.45 * size * look.u)
    return SlideCard(card, out, head)


def card_frame(look: Look, card: Card, background: np.ndarray) -> np.ndarray:
    """An intro or outro card: the logo large, the title and subtitle centred over `background` (RGB)."""
    H, W = background.shape[:2]
    c = look.brand.colors
    canvas = np.dstack([background, np.full((H, W), 255, np.uint8)])
    parts = []
    lg = look.brand.logo
    if lg is not None:
        img = load_rgba(lg.file)
        w = int(0.22 * W)
        parts.append(cv2.resize(img, (w, max(1, int(img.shape[0] * w / img.shape[1]))), interpolation=cv2.INTER_AREA))
    if card.title:
        parts.append(render_block(card.title, look.style(0.085, color=c.light, weight=700, heading=True,
                                                         align="center", shadow=True), int(0.8 * W), max_lines=3).rgba)
    if card.subtitle:
        parts.append(render_block(card.subtitle, look.style(0.045, color=c.light, align="center"),
                                  int(0.8 * W), max_lines=2).rgba)
    gap = int(0.03 * look.u)
    total = sum(p.shape[0] for p in parts) + gap * max(len(parts) - 1, 0)
    y = (H - total) // 2
    for p in parts:
        over(canvas, p, (W - p.shape[1]) // 2, y)
        y += p.shape[0] + gap
    return np.ascontiguousarray(canvas[..., :3])
