"""Multilingual text blocks for frames: titles, bullets, lower thirds, burned-in captions.

A line of text is cut into grapheme clusters, each cluster gets a font from
the `FontStack` (fallback per character), and the line is split into runs of
one font and one bidi level (`bidi.py`: a compact Unicode bidi algorithm).
Runs are reordered visually and each is shaped by raqm (HarfBuzz)
with its own direction and the style's language, so Arabic joins and
Devanagari forms conjuncts. Lines break at spaces, between CJK characters
(closing punctuation never starts a line), and inside over-long words or
unspaced Thai at grapheme clusters that keep marks and vowels with their
base. Blocks come out as straight-alpha RGBA with optional outline and soft
shadow. All sizes are pixels.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import regex
from PIL import Image, ImageDraw

from ..errors import RenderError
from .bidi import bidi_levels, paragraph_level, visual_order
from .fonts import FontStack, font_stack

ELLIPSIS = "\u2026"
ALIGNS = ("start", "center", "end")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def parse_color(value: str, field: str) -> tuple[int, int, int]:
    """'#rrggbb' as an (r, g, b) tuple; RenderError naming `field` otherwise."""
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        raise RenderError(f"text style: {field}: expected a colour '#rrggbb', got {value!r}")
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


@dataclass(frozen=True)
class TextStyle:
    """How a text block looks: `size` in pixels (the em), `color` '#rrggbb', CSS `weight` 100-900.

    `font` is an optional TTF/OTF file tried before the bundled families;
    `line_spacing` is the baseline pitch in ems; `align` is `start`, `center`
    or `end` (start is the left for left-to-right paragraphs, the right for
    right-to-left ones); `stroke` an outline width in pixels in
    `stroke_color`; `shadow` a soft drop shadow; `language` a BCP-47 tag
    handed to the shaper for locale forms (e.g. `ja` glyphs from the CJK font).
    """

    size: int = 36
    color: str = "#ffffff"
    weight: int = 400
    font: str | Path | None = None
    line_spacing: float = 1.2
    align: str = "start"
    stroke: int = 0
    stroke_color: str = "#000000"
    shadow: bool = False
    language: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or not 4 <= self.size <= 1000:
            raise RenderError(f"text style: size: expected whole pixels 4-1000, got {self.size!r}")
        if not isinstance(self.weight, int) or not 100 <= self.weight <= 900:
            raise RenderError(f"text style: weight: expected 100-900 (400 regular, 700 bold), got {self.weight!r}")
        if self.align not in ALIGNS:
            raise RenderError(f"text style: align: expected one of {', '.join(ALIGNS)}, got {self.align!r}")
        if not isinstance(self.stroke, int) or not 0 <= self.stroke <= self.size:
            raise RenderError(f"text style: stroke: expected whole pixels 0-{self.size}, got {self.stroke!r}")
        if not isinstance(self.line_spacing, int | float) or not 0.5 <= self.line_spacing <= 5:
            raise RenderError(f"text style: line_spacing: expected 0.5-5 ems, got {self.line_spacing!r}")
        parse_color(self.color, "color")
        parse_color(self.stroke_color, "stroke_color")


@dataclass(frozen=True, eq=False)
class TextBlock:
    """A rasterised block: `rgba` (H, W, 4) uint8 with straight alpha, the `lines` drawn, the paragraph `direction`.

    `line_boxes` are each line's ink (fill and outline, not the shadow) as
    (x0, y0, x1, y1) block pixels, x1/y1 exclusive; `pad` is the margin in
    pixels left on every side for outline and shadow.
    """

    rgba: np.ndarray
    lines: list[str]
    direction: str
    line_boxes: list[tuple[int, int, int, int]]
    pad: int


# ---------------------------------------------------------------- runs and measuring


@dataclass(frozen=True)
class Run:
    """A piece of one line drawn with one font in one direction; `width` is its advance in pixels."""

    text: str
    font: int
    rtl: bool
    width: float


def clusters(text: str) -> list[str]:
    """Extended grapheme clusters (a base with its marks; Devanagari conjuncts stay whole)."""
    return regex.findall(r"\X", text)


@lru_cache(maxsize=8192)
def _run_width(stack: FontStack, index: int, size: int, weight: int, text: str, rtl: bool, language: str | None) -> float:
    f = stack.font(index, size, weight)
    return float(f.getlength(text, direction="rtl" if rtl else "ltr", language=language))


@lru_cache(maxsize=4096)
def _layout(stack: FontStack, line: str, size: int, weight: int, language: str | None, base: int) -> tuple[Run, ...]:
    """The runs of one line in visual order (cached: wrapping measures the lines that are then drawn)."""
    cl = clusters(line)
    fonts = stack.assign(cl)
    char_font = [f for c, f in zip(cl, fonts) for _ in c]
    levels = bidi_levels(line, base)
    spans: list[tuple[int, int, int, int]] = []  # (start, end, font, level) in logical order
    start = 0
    for i in range(1, len(line) + 1):
        if i == len(line) or char_font[i] != char_font[start] or levels[i] != levels[start]:
            spans.append((start, i, char_font[start], levels[start]))
            start = i
    runs = []
    for k in visual_order([s[3] for s in spans]):
        a, b, f, lev = spans[k]
        text = line[a:b]
        runs.append(Run(text, f, lev % 2 == 1, _run_width(stack, f, size, weight, text, lev % 2 == 1, language)))
    return tuple(runs)


def _runs(line: str, style: TextStyle, base: int) -> tuple[Run, ...]:
    return _layout(font_stack(style.font), line, style.size, style.weight, style.language, base)


def measure(text: str, style: TextStyle) -> int:
    """Advance width in pixels of `text` set as one line (newlines count as spaces)."""
    line = " ".join(text.split())
    return math.ceil(sum(r.width for r in _runs(line, style, paragraph_level(line))))


# ---------------------------------------------------------------- line breaking


def _is_cjk(ch: str) -> bool:
    """Ideographs, kana and CJK punctuation: a line may break between any two of them."""
    o = ord(ch)
    return (0x2E80 <= o <= 0x2FDF or 0x3000 <= o <= 0x30FF or 0x3100 <= o <= 0x312F or 0x31A0 <= o <= 0x31FF
            or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFE30 <= o <= 0xFE4F
            or 0xFF00 <= o <= 0xFF60 or 0x20000 <= o <= 0x3FFFF)


# Kinsoku: characters that must not start a line (closing marks, small kana, iteration marks) or end one.
_NO_START = set("、。，．・：；？！ー）」』】〕〉》〙〗〟｝］〜…‥ゝゞヽヾ々〻゛゜ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ"
                ",.!?:;)]}%\u2019\u201d")
_NO_END = set("（「『【〔〈《〘〖〝｛［([{\u2018\u201c")


def _no_start(cluster: str) -> bool:
    return cluster[0] in _NO_START or unicodedata.category(cluster[0]) in ("Pe", "Pf")


def _no_end(cluster: str) -> bool:
    return cluster[-1] in _NO_END or unicodedata.category(cluster[-1]) in ("Ps", "Pi")


def segments(paragraph: str) -> list[str]:
    """Cut one paragraph at its line-break opportunities; each piece keeps its trailing space."""
    cl = clusters(paragraph)
    out, cur = [], ""
    for k, c in enumerate(cl):
        if cur and not c.isspace():
            p = cl[k - 1]
            if p.isspace() or _is_cjk(p[-1]) or _is_cjk(c[0]):
                if not _no_start(c) and not _no_end(p.rstrip() or p):
                    out.append(cur)
                    cur = ""
        cur += c
    if cur:
        out.append(cur)
    return out


def units(text: str) -> list[str]:
    """The smallest pieces an over-long word may be cut into: grapheme clusters, with Thai and Lao
    leading vowels kept with the consonant after them and following vowels (า ะ ำ ๅ ๆ) with the one before."""
    out: list[str] = []
    for c in clusters(text):
        if out and ("\u0e40" <= out[-1][-1] <= "\u0e44" or "\u0ec0" <= out[-1][-1] <= "\u0ec4"
                    or c[0] in "\u0e30\u0e32\u0e33\u0e45\u0e46\u0eb0\u0eb2\u0eb3\u0ec6"):
            out[-1] += c
        else:
            out.append(c)
    return out


def _pieces(segs: list[str], width_of, max_width: float) -> list[str]:
    """Segments, with any wider than `max_width` cut into `units` (the last keeps the trailing space)."""
    out: list[str] = []
    for s in segs:
        word = s.rstrip()
        if width_of(word) <= max_width:
            out.append(s)
            continue
        us = units(word)
        us[-1] += s[len(word):]
        out.extend(us)
    return out


def _greedy(pieces: list[str], width_of, max_width: float) -> list[str]:
    """Fill each line with as many pieces as fit (at least one), found by bisection on the measured width."""
    lines: list[str] = []
    i = 0
    while i < len(pieces):
        lo, hi = 1, len(pieces) - i
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if width_of("".join(pieces[i:i + mid]).rstrip()) <= max_width:
                lo = mid
            else:
                hi = mid - 1
        lines.append("".join(pieces[i:i + lo]).rstrip())
        i += lo
    return lines


def wrap(text: str, style: TextStyle, max_width: int, balance: bool = False) -> list[str]:
    """Break `text` into lines no wider than `max_width` pixels; newlines in `text` are kept as breaks.

    With `balance`, each paragraph keeps its number of lines but the lines
    are made as even as possible (the subtitle convention: the narrowest
    width that still gives that many lines, so two lines are about equal).
    """
    if max_width < 1:
        raise RenderError(f"text block: max_width: expected at least 1 pixel, got {max_width!r}")
    base = paragraph_level(text)

    def width_of(line: str) -> float:
        return sum(r.width for r in _runs(line, style, base))

    out: list[str] = []
    for para in text.split("\n"):
        para = " ".join(para.split())
        if not para:
            out.append("")
            continue
        segs = _pieces(segments(para), width_of, max_width)
        lines = _greedy(segs, width_of, max_width)
        if balance and len(lines) > 1:
            widest_seg = max(width_of(s.rstrip()) for s in segs)
            lo = max(1, math.floor(max(width_of(para) / len(lines), min(widest_seg, max_width))))
            hi = max_width
            while lo < hi:  # the narrowest width that needs no more lines
                mid = (lo + hi) // 2
                if len(_greedy(segs, width_of, mid)) <= len(lines):
                    hi = mid
                else:
                    lo = mid + 1
            lines = _greedy(segs, width_of, hi)
        out.extend(lines)
    return out


def _with_ellipsis(line: str, style: TextStyle, max_width: int, base: int) -> str:
    """`line` cut at the end until it fits `max_width` pixels with an ellipsis after it."""
    us = units(line.rstrip())
    while us:
        trial = "".join(us).rstrip() + ELLIPSIS
        if sum(r.width for r in _runs(trial, style, base)) <= max_width:
            return trial
        us.pop()
    return ELLIPSIS


# ---------------------------------------------------------------- rasterising


def _paint(fill: np.ndarray, style: TextStyle, shadow_off: int, shadow_sigma: float) -> np.ndarray:
    """Colour a glyph coverage mask (H, W) uint8 into straight-alpha RGBA: text over outline over shadow.

    The outline is the mask dilated by a disc of `style.stroke` pixels
    (round joins, much cheaper than FreeType's stroker); the shadow is the
    outlined shape shifted by `shadow_off` pixels and blurred with
    `shadow_sigma`, black at 60 %. With constant layer colours, 'over' in
    straight alpha reduces to alpha = 1 - prod(1 - a_i) and colour =
    sum(c_i * a_i * cover_i) / alpha, computed once per pixel.
    """
    H, W = fill.shape
    color = parse_color(style.color, "color")
    if not style.stroke and not style.shadow:
        rgba = np.empty((H, W, 4), np.uint8)
        rgba[..., :3] = color
        rgba[..., 3] = fill
        return rgba
    fa = fill.astype(np.float32) * (1 / 255)
    shape = fill
    stroke_w = np.zeros_like(fa)
    if style.stroke:
        k = 2 * style.stroke + 1
        shape = cv2.dilate(fill, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        stroke_w = shape.astype(np.float32) * (1 / 255) * (1 - fa)  # outline showing around the text
    alpha = fa + stroke_w
    if style.shadow:
        shifted = np.zeros_like(shape)
        shifted[shadow_off:, shadow_off:] = shape[:H - shadow_off, :W - shadow_off]
        sa = cv2.GaussianBlur(shifted, (0, 0), shadow_sigma).astype(np.float32) * (0.6 / 255)
        alpha = alpha + sa * (1 - alpha)
    inv = 1 / np.maximum(alpha, 1e-6)
    u, v = fa * inv, stroke_w * inv
    sc = parse_color(style.stroke_color, "stroke_color")
    # One saturating multiply-add per channel (OpenCV): several times faster than numpy broadcasting here.
    chans = [cv2.addWeighted(u, float(color[c]), v, float(sc[c]), 0.5, dtype=cv2.CV_8U) for c in range(3)]
    chans.append(cv2.convertScaleAbs(alpha, alpha=255, beta=0.5))
    rgba = cv2.merge(chans)
    return rgba


def render_block(text: str, style: TextStyle, max_width: int, max_lines: int | None = None,
                 *, balance: bool = False) -> TextBlock:
    """Lay out and rasterise `text` in lines no wider than `max_width` pixels.

    The block is as wide as its widest line plus `pad` on each side (room
    for outline and shadow) and as tall as its lines at `size *
    line_spacing` pitch. With `max_lines`, extra lines are dropped and the
    last kept line ends in an ellipsis; `balance` evens out the lines of
    text that fits (see `wrap`).
    """
    if max_lines is not None and max_lines < 1:
        raise RenderError(f"text block: max_lines: expected at least 1, got {max_lines!r}")
    stack = font_stack(style.font)
    base = paragraph_level(text)
    lines = wrap(text, style, max_width)
    if max_lines is not None and len(lines) > max_lines:
        # Cut text fills its lines greedily; balancing only applies to text that fits.
        lines = lines[:max_lines]
        lines[-1] = _with_ellipsis(lines[-1], style, max_width, base)
    elif balance:
        lines = wrap(text, style, max_width, balance=True)
    layouts = [_runs(line, style, base) for line in lines]
    widths = [sum(r.width for r in runs) for runs in layouts]
    size, weight = style.size, style.weight
    used = {r.font for runs in layouts for r in runs} or {0}
    bold = max(stack.fake_bold(i, size, weight) for i in used)

    shadow_off = max(1, round(size * 0.05)) if style.shadow else 0
    shadow_sigma = max(1.0, size * 0.06) if style.shadow else 0.0
    pad = style.stroke + bold + shadow_off + math.ceil(3 * shadow_sigma) + 2
    # Ascent and descent: the first font's metrics, grown for taller glyphs (Thai, Arabic marks) in the outer lines.
    asc, desc = stack.font(0, size, weight).getmetrics()
    for runs, which in ((layouts[:1], "top"), (layouts[-1:], "bottom")):
        for r in (r for rs in runs for r in rs if r.text.strip()):
            x0, y0, x1, y1 = stack.font(r.font, size, weight).getbbox(r.text, anchor="ls", direction="rtl" if r.rtl else "ltr",
                                                                      language=style.language)
            if which == "top":
                asc = max(asc, -y0)
            else:
                desc = max(desc, y1)
    pitch = round(size * style.line_spacing)
    W = math.ceil(max(widths, default=0.0)) + 2 * pad
    H = pad + asc + pitch * (max(len(lines), 1) - 1) + desc + pad

    fill = np.zeros((H, W), np.uint8)
    boxes: list[tuple[int, int, int, int]] = []
    inner = W - 2 * pad
    for n, (runs, lw) in enumerate(zip(layouts, widths)):
        if style.align == "center":
            x = pad + (inner - lw) / 2
        elif (style.align == "start") == (base == 0):
            x = float(pad)
        else:
            x = pad + inner - lw
        baseline = pad + asc + n * pitch
        img = Image.new("L", (W, H))
        d = ImageDraw.Draw(img)
        bold_img: Image.Image | None = None
        for r in runs:
            if r.text.strip():
                fb = stack.fake_bold(r.font, size, weight)
                if fb and bold_img is None:
                    bold_img = Image.new("L", (W, H))
                target = d if not fb else ImageDraw.Draw(bold_img)
                target.text((x, baseline), r.text, font=stack.font(r.font, size, weight), fill=255, anchor="ls",
                            direction="rtl" if r.rtl else "ltr", language=style.language)
            x += r.width
        if bold_img is not None:
            # Synthetic bold for fonts without a weight axis: grow the glyphs by `bold` pixels (FreeType's
            # stroker does the same several times slower).
            k = 2 * bold + 1
            grown = cv2.dilate(np.asarray(bold_img), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
            img = Image.fromarray(np.maximum(np.asarray(img), grown))
        ink = img.getbbox()
        if ink is None:
            boxes.append((0, 0, 0, 0))
            continue
        k = style.stroke
        boxes.append((max(0, ink[0] - k), max(0, ink[1] - k), min(W, ink[2] + k), min(H, ink[3] + k)))
        np.maximum(fill, np.asarray(img), out=fill)
    rgba = _paint(fill, style, shadow_off, shadow_sigma)
    return TextBlock(rgba, lines, "rtl" if base else "ltr", boxes, pad)
