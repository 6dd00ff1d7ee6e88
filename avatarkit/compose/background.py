"""Generated backdrops: solid, gradient, studio, office and blur, and a slow camera drift over them.

Every kind but `solid` is smooth at the scale of pixels, so it is drawn
in float at a quarter of the output size (at most ~280 px on the short
side; half that for `blur`), upscaled bicubically, and given a fixed
+-1 level noise dither before rounding to 8 bits, which keeps 8-bit (and,
after it, H.264) banding out of slow ramps. Shapes are placed in frame
units (fractions of the frame's width and height, circles in fractions of
its short side), so a 720p and a 1080p render look the same and a render
with a `margin` is the plain render with more around it: the image that
`BackgroundDrift` pans over.

Kinds: `solid` (one colour); `gradient` (2-3 colours from the top-left to
the bottom-right corner with a soft light above centre); `studio` (lit
seamless paper: a base and a light colour); `office` (a softly out-of-focus
interior: window light, a floor, furniture, bokeh; colours [wall, accent]);
`blur` (the scene's slide, cover-fitted, blurred, darkened, desaturated);
`photo` is drawn by the layout from the avatar photo, here it is `studio`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from ..errors import RenderError
from ..script.model import Background

STUDIO_DEFAULT = ("#2b3a4a", "#8fa3b8")
OFFICE_DEFAULT = ("#a9aeb1", "#f3b869")     # a cool light-grey wall, warm tungsten lights
GRADIENT_DEFAULT = ("#16324f", "#3d7ea6")   # deep blue to steel blue
DRIFT_MARGIN = 0.07                        # a drift background is this much larger than the frame on each axis
LOW = 4                                    # smooth kinds are drawn at 1/LOW of the output size or smaller,
LOW_SHORT = 280                            # at most about this many pixels on the short side (4K costs as 1080p)


class BackgroundError(RenderError, ValueError):
    """A background that cannot be drawn as asked (bad colour, missing slide)."""


def hex_rgb(color: str) -> np.ndarray:
    """'#rrggbb' -> float32 RGB in 0..255."""
    c = color.strip().lstrip("#") if isinstance(color, str) else ""
    if len(c) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in c):
        raise BackgroundError(f"background colour {color!r}: expected '#rrggbb'")
    return np.array([int(c[i:i + 2], 16) for i in (0, 2, 4)], np.float32)


def _lin(rgb: np.ndarray) -> np.ndarray:
    """sRGB 0..255 -> linear light 0..1 (gamma 2.2 is close enough for backdrops)."""
    return (np.asarray(rgb, np.float32) / 255.0) ** 2.2


def _srgb(lin: np.ndarray) -> np.ndarray:
    """Linear light 0..1 -> sRGB 0..255, in place where possible."""
    np.clip(lin, 0.0, 1.0, out=lin)
    return np.power(lin, 1 / 2.2, out=lin) * 255.0


def _smooth(u):
    """Smoothstep of `u` clipped to 0..1: ramps that join flat parts without a crease."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


@lru_cache(maxsize=4)
def _dither(h: int, w: int) -> np.ndarray:
    # Triangular noise of +-1 level: the textbook dither that leaves no
    # banding and no noise modulation; fixed, so frames do not shimmer.
    rng = np.random.default_rng(1234)
    d = rng.random((h, w), np.float32) - rng.random((h, w), np.float32)
    d += 0.5                                           # rounds in the cast below
    d.setflags(write=False)
    return d


def _finish(low: np.ndarray, width: int, height: int) -> np.ndarray:
    """Upscale a float 0..255 RGB image to `width` x `height`, dither, and round to uint8."""
    if low.shape[:2] != (height, width):
        low = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    low += _dither(height, width)[..., None]
    np.clip(low, 0, 255, out=low)
    return low.astype(np.uint8)


class _Canvas:
    """Pixel-centre coordinates of a low-resolution canvas in frame units.

    `fx`, `fy`: position as a fraction of the frame's width and height (0..1
    inside the frame; beyond it in the margin). `sx`, `sy`: the same
    positions in units of the frame's short side, for round shapes.
    """

    def __init__(self, width: int, height: int, out_w: int, out_h: int, low_w: int, low_h: int):
        self.w, self.h = low_w, low_h
        # A low pixel i covers output pixels whose centres map to (i + 0.5) * out / low - 0.5.
        x = (np.arange(low_w, dtype=np.float32) + 0.5) * (out_w / low_w) - 0.5 - (out_w - width) / 2
        y = (np.arange(low_h, dtype=np.float32) + 0.5) * (out_h / low_h) - 0.5 - (out_h - height) / 2
        self.fx = ((x + 0.5) / width)[None, :]
        self.fy = ((y + 0.5) / height)[:, None]
        short = min(width, height)
        self.short_px = short
        self.px = out_w / low_w                        # output pixels per low pixel
        self.wu, self.hu = width / short, height / short
        self.sx, self.sy = self.fx * self.wu, self.fy * self.hu
        self.aspect = width / height


def _colors(bg: Background, n_min: int, n_max: int, default: tuple[str, ...]) -> list[np.ndarray]:
    cols = tuple(bg.colors) or default
    if not n_min <= len(cols) <= n_max:
        want = str(n_min) if n_min == n_max else f"{n_min} to {n_max}"
        raise BackgroundError(f"background {bg.kind}: takes {want} colours, got {len(cols)}")
    return [hex_rgb(c) for c in cols]


def _gradient(bg: Background, cv: _Canvas) -> np.ndarray:
    cols = _colors(bg, 2, 3, GRADIENT_DEFAULT)
    # Frame corners map to t = 0 (top-left) and 1 (bottom-right).
    t = np.clip(0.5 * cv.fx + 0.5 * cv.fy, 0.0, 1.0)[..., None]
    if len(cols) == 2:
        img = cols[0] * (1 - t) + cols[1] * t
    else:
        # A quadratic Bezier through the middle colour at t = 0.5: no crease there.
        mid = 2 * cols[1] - 0.5 * (cols[0] + cols[2])
        img = cols[0] * (1 - t) ** 2 + mid * (2 * t * (1 - t)) + cols[2] * t * t
    # A soft light falling on the upper middle, screened over the colours.
    r2 = (cv.sx - 0.55 * cv.wu) ** 2 + (cv.sy - 0.36 * cv.hu) ** 2
    glow = (0.16 * np.exp(-r2 / 0.30))[..., None]
    img = np.clip(img, 0, 255)
    return img + (255.0 - img) * glow


def _noise_field(cv: _Canvas, seed: int, scale: float) -> np.ndarray:
    """Smooth value noise (about unit std) with features `scale` short sides apart, fixed in frame units.

    A random lattice is laid over the frame and its surroundings, so the
    same seed gives the same pattern at any size and with any margin.
    """
    rng = np.random.default_rng(seed)
    pad = 1.0
    nx, ny = int(math.ceil((cv.wu + 2 * pad) / scale)) + 4, int(math.ceil((cv.hu + 2 * pad) / scale)) + 4
    lattice = rng.standard_normal((ny, nx)).astype(np.float32)
    mx = np.broadcast_to((cv.sx + pad) / scale + 1.5, (cv.h, cv.w)).astype(np.float32)
    my = np.broadcast_to((cv.sy + pad) / scale + 1.5, (cv.h, cv.w)).astype(np.float32)
    n = cv2.remap(lattice, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return n * 1.3                              # bicubic interpolation leaves about 0.75 of the lattice's std


def _studio(bg: Background, cv: _Canvas, seed: int) -> np.ndarray:
    cols = bg.colors + STUDIO_DEFAULT[len(bg.colors):] if bg.colors else STUDIO_DEFAULT
    if len(cols) != 2:
        raise BackgroundError(f"background studio: takes 1 or 2 colours (base, light), got {len(bg.colors)}")
    base, light = _lin(hex_rgb(cols[0])), _lin(hex_rgb(cols[1]))
    x, y = cv.fx - 0.5, cv.fy
    # A broad soft spot above centre on seamless paper, which curves into the
    # floor: darker just below the horizon, catching light again in front.
    r2 = (x * cv.aspect / 1.0) ** 2 + ((y - 0.38) / 0.62) ** 2
    spot = np.exp(-r2 * 1.7)
    sweep = 1.0 - 0.18 * _smooth((y - 0.62) / 0.18) + 0.10 * _smooth((y - 0.85) / 0.3)
    vignette = 1.0 - 0.40 * _smooth(((x * 1.9) ** 2 + ((y - 0.45) * 1.7) ** 2 - 0.35) / 1.3)
    mottle = 1.0 + 0.015 * _noise_field(cv, seed, 0.3)      # painted-paper unevenness, barely seen
    k = (sweep * vignette * mottle)[..., None]
    img = (base * (1 - spot[..., None]) + light * spot[..., None]) * k
    return _srgb(img.astype(np.float32))


def _box(fx, fy, aspect: float, x0, x1, y0, y1, soft: float = 0.004) -> np.ndarray:
    """A soft-edged rectangle mask in frame fractions (edge softness in fractions of the frame's width)."""
    sx, sy = soft, soft * aspect
    return (_smooth((fx - x0) / sx + 0.5) * _smooth((x1 - fx) / sx + 0.5)
            * _smooth((fy - y0) / sy + 0.5) * _smooth((y1 - fy) / sy + 0.5))


def _office(bg: Background, cv: _Canvas, seed: int) -> np.ndarray:
    cols = bg.colors + OFFICE_DEFAULT[len(bg.colors):] if bg.colors else OFFICE_DEFAULT
    if len(cols) != 2:
        raise BackgroundError(f"background office: takes 1 or 2 colours (wall, accent), got {len(bg.colors)}")
    wall, accent = _lin(hex_rgb(cols[0])), _lin(hex_rgb(cols[1]))
    rng = np.random.default_rng(seed)
    fx = 1.0 - cv.fx if rng.random() < 0.5 else cv.fx     # the windows' side, chosen by the seed
    fy, a = cv.fy, cv.aspect
    floor_y = rng.uniform(0.72, 0.77)
    sky = np.array([0.82, 0.90, 1.0], np.float32)
    wide = min(1.0, 1.0 / a)                              # a frame fraction across that is as long as one down

    # Daylight from the windows falls off across the wall; the ceiling is in shade.
    day = 0.50 + 0.70 * np.exp(-((fx - 0.05) / 0.5) ** 2) * (1.0 - 0.4 * _smooth((0.3 - fy) / 0.3))
    img = (wall * day[..., None]).astype(np.float32)

    # A lamp on the sideboard across the room throws a warm pool up the wall.
    sb0 = rng.uniform(0.66, 0.74)
    lamp_x = sb0 + rng.uniform(0.08, 0.16)
    pool = np.exp(-(((fx - lamp_x) * a / 0.22) ** 2 + ((fy - (floor_y - 0.28)) / 0.26) ** 2))
    img += (0.30 * pool)[..., None] * accent

    # Tall windows: panes between mullions under a transom, showing sky over
    # a band of trees; much brighter than the wall.
    wx0, wx1 = -0.12, rng.uniform(0.28, 0.36)
    wy0, wy1 = 0.05, floor_y - 0.09
    win = _box(fx, fy, a, wx0, wx1, wy0, wy1)
    panes = max(3, int(round((wx1 - wx0) / 0.14)))
    for k in range(1, panes):
        m = wx0 + (wx1 - wx0) * k / panes
        win *= 1.0 - 0.85 * _box(fx, fy, a, m - 0.006, m + 0.006, wy0, wy1)
    tr = wy0 + 0.22 * (wy1 - wy0)
    win *= 1.0 - 0.85 * _box(fx, fy, a, wx0, wx1, tr - 0.005, tr + 0.005)
    trees_y = wy1 - (wy1 - wy0) * (0.35 + 0.12 * _noise_field(cv, seed + 1, 0.05))
    trees = _smooth((fy - trees_y) / 0.04)[..., None]
    view = sky * (1.25 + 0.6 * _smooth((0.45 - fy) / 0.4))[..., None]
    view = view * (1 - trees) + np.array([0.22, 0.30, 0.20], np.float32) * trees
    img = img * (1 - win[..., None]) + win[..., None] * view

    # Floor: darker and warmer than the wall, a dim smear of window light on it.
    floor = _smooth((fy - floor_y) / 0.01 + 0.5)[..., None]
    wood = wall * np.array([0.62, 0.50, 0.40], np.float32) * (0.75 + 0.25 * _smooth((1.0 - fy) / 0.25))[..., None]
    sheen = np.exp(-((fx - 0.5 * (wx0 + wx1)) / (0.6 * (wx1 - wx0))) ** 2 - np.clip(fy - floor_y, 0, None) / 0.09)
    img = img * (1 - floor) + (wood + (0.18 * sheen)[..., None] * sky) * floor
    img *= 1.0 - 0.4 * _box(fx, fy, a, -0.5, 1.5, floor_y - 0.008, floor_y + 0.002, soft=0.006)[..., None]

    # Furniture in the depth: the sideboard with its lamp, a plant in a pot by the window.
    board = _box(fx, fy, a, sb0, sb0 + 0.6, floor_y - 0.16, floor_y + 0.01, soft=0.006)[..., None]
    img = img * (1 - board) + wall * np.array([0.16, 0.14, 0.13], np.float32) * board
    shade = _box(fx, fy, a, lamp_x - 0.03 * wide, lamp_x + 0.03 * wide, floor_y - 0.30, floor_y - 0.22, soft=0.01)
    img = img * (1 - shade[..., None]) + (1.4 * shade)[..., None] * accent
    px = wx1 + rng.uniform(0.03, 0.07)
    pot = _box(fx, fy, a, px - 0.03 * wide, px + 0.03 * wide, floor_y - 0.08, floor_y + 0.004, soft=0.006)
    leaves = np.zeros((cv.h, cv.w), np.float32)
    for _ in range(26):
        ang = rng.uniform(-1.2, 1.2)
        reach = rng.uniform(0.05, 0.30)
        lx, ly = px + np.sin(ang) * reach * 0.55 * wide, floor_y - 0.08 - np.cos(ang) * reach
        r = rng.uniform(0.025, 0.045)
        cols = np.flatnonzero(np.abs(fx[0] - lx) * a < r)       # only the leaf's bounding box
        rows = np.flatnonzero(np.abs(fy[:, 0] - ly) < r)
        if cols.size and rows.size:
            box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            d2 = ((fx[:, box[1]] - lx) * a) ** 2 + (fy[box[0]] - ly) ** 2
            np.maximum(leaves[box], _smooth((1.0 - d2 / (r * r)) * 2), out=leaves[box])
    img = img * (1 - leaves[..., None]) + np.array([0.03, 0.055, 0.035], np.float32) * leaves[..., None]
    img = img * (1 - pot[..., None]) + wall * np.array([0.55, 0.55, 0.55], np.float32) * pot[..., None]

    # Depth of field: everything in the room is far behind the presenter.
    img = cv2.GaussianBlur(img, (0, 0), 0.028 * cv.short_px / cv.px, borderType=cv2.BORDER_REFLECT)
    _bokeh(img, cv, rng, accent)

    # Highlights roll off instead of clipping; a gentle vignette frames the presenter.
    img = img / (1.0 + 0.3 * img)
    x, y = cv.fx - 0.5, cv.fy - 0.45
    img *= (1.0 - 0.3 * _smooth((x * x * 2.2 + y * y * 2.0 - 0.08) / 0.9))[..., None]
    return _srgb(img.astype(np.float32))


def _bokeh(img: np.ndarray, cv: _Canvas, rng: np.random.Generator, accent: np.ndarray) -> None:
    """Add out-of-focus point lights to `img` (linear light): soft discs with a brighter rim, mostly warm.

    A row of ceiling lights recedes across the top; smaller lights are
    scattered over the upper half. Discs may overlap a little, as real ones do.
    """
    placed: list[tuple[float, float, float]] = []
    n_row = int(rng.integers(4, 6))
    y_row, x_first = rng.uniform(0.07, 0.13), rng.uniform(0.05, 0.2)
    for k in range(n_row):
        t = k / max(1, n_row - 1)
        placed.append(((x_first + t * (0.95 - x_first)) * cv.wu, (y_row + 0.05 * t) * cv.hu, 0.075 - 0.03 * t))
    for _ in range(300):
        if len(placed) >= n_row + 6:
            break
        r = rng.uniform(0.02, 0.05)                                     # short sides
        x, y = rng.uniform(0.0, 1.0) * cv.wu, rng.uniform(0.15, 0.6) * cv.hu
        if all((x - a) ** 2 + (y - b) ** 2 > (0.6 * (r + c)) ** 2 for a, b, c in placed):
            placed.append((x, y, r))
    cool = np.array([0.78, 0.88, 1.0], np.float32)
    for j, (x, y, r) in enumerate(placed):
        color = accent if j < n_row or rng.random() < 0.7 else cool
        strength = rng.uniform(0.12, 0.45)
        # Only the disc's bounding box is touched.
        rpx = r * cv.short_px / cv.px
        cx = float(np.interp(x, cv.sx[0], np.arange(cv.w)))
        cy = float(np.interp(y, cv.sy[:, 0], np.arange(cv.h)))
        x0, x1 = max(0, int(cx - rpx - 3)), min(cv.w, int(cx + rpx + 4))
        y0, y1 = max(0, int(cy - rpx - 3)), min(cv.h, int(cy + rpx + 4))
        if x1 <= x0 or y1 <= y0:
            continue
        d = np.sqrt((cv.sx[:, x0:x1] - x) ** 2 + (cv.sy[y0:y1] - y) ** 2) / r
        disc = _smooth((1.0 - d) / 0.18 + 0.5) * (0.8 + 0.35 * _smooth((d - 0.5) / 0.5))
        img[y0:y1, x0:x1] += (strength * disc)[..., None] * color


def _blur(slide: np.ndarray | None, width: int, height: int, out_w: int, out_h: int,
          low_w: int, low_h: int) -> np.ndarray:
    if slide is None:
        raise BackgroundError("background blur: needs the scene's slide image, and there is none")
    s = np.asarray(slide)
    if s.ndim == 2:
        s = np.repeat(s[..., None], 3, 2)
    if s.ndim != 3 or s.shape[2] not in (3, 4) or s.shape[0] < 2 or s.shape[1] < 2 or s.dtype != np.uint8:
        raise BackgroundError(f"background blur: the slide must be an RGB uint8 image, got {s.dtype} {s.shape}")
    s = np.ascontiguousarray(s[..., :3])
    # Cover-fit to the frame (a margin shows more of the slide, or its mirror
    # image past the slide's edge); shrink with area averaging first, then
    # place with a plain affine map on the small canvas.
    sh, sw = s.shape[:2]
    scale = max(width / sw, height / sh)
    f = low_w / out_w                                   # low pixels per output pixel
    small_w, small_h = max(2, round(sw * scale * f)), max(2, round(sh * scale * f))
    small = cv2.resize(s, (small_w, small_h), interpolation=cv2.INTER_AREA).astype(np.float32)
    # low pixel i -> output x -> frame x -> scaled-slide x -> small-slide pixel
    kx, ky = small_w / (sw * scale), small_h / (sh * scale)
    ox = -0.5 - (out_w - width) / 2 - (width - sw * scale) / 2
    oy = -0.5 - (out_h - height) / 2 - (height - sh * scale) / 2
    m = np.array([[(out_w / low_w) * kx, 0, ((0.5 * out_w / low_w) + ox + 0.5) * kx - 0.5],
                  [0, (out_h / low_h) * ky, ((0.5 * out_h / low_h) + oy + 0.5) * ky - 0.5]])
    img = cv2.warpAffine(small, m, (low_w, low_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REFLECT_101)
    img = cv2.GaussianBlur(img, (0, 0), 0.025 * min(width, height) * f, borderType=cv2.BORDER_REFLECT)
    grey = img @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    img = img * 0.55 + grey[..., None] * 0.45                      # desaturate
    return img * 0.72 + 8.0                                         # darken, lift the blacks a touch


def canvas_size(width: int, height: int, margin: float) -> tuple[int, int]:
    """Size of a background `margin` larger than a `width` x `height` frame, kept centred on whole pixels."""
    def grow(n: int) -> int:
        return n + 2 * int(math.ceil(n * margin / 2))
    return (grow(width), grow(height)) if margin > 0 else (width, height)


def make_background(bg: Background, width: int, height: int, *, slide: np.ndarray | None = None,
                    margin: float = 0.0, seed: int = 0) -> np.ndarray:
    """Render `bg` as an RGB uint8 image for a `width` x `height` frame.

    With `margin` > 0 the image is that fraction larger on each axis (see
    `canvas_size`) and its centre crop is the plain render. `slide` is the
    scene's slide (RGB uint8) that `blur` is made from; `seed` varies the
    `office` and the `studio` paper, deterministically.
    """
    if width < 1 or height < 1:
        raise BackgroundError(f"background size {width}x{height}: must be positive")
    out_w, out_h = canvas_size(width, height, margin)
    kind = bg.kind
    if kind == "solid":
        c = _colors(bg, 1, 1, ())[0]
        return np.broadcast_to(np.round(c).astype(np.uint8), (out_h, out_w, 3)).copy()
    low = max(LOW, math.ceil(min(out_w, out_h) / LOW_SHORT))
    low = 2 * low if kind == "blur" else low
    low_w, low_h = max(2, -(-out_w // low)), max(2, -(-out_h // low))
    if kind == "blur":
        return _finish(_blur(slide, width, height, out_w, out_h, low_w, low_h), out_w, out_h)
    cv = _Canvas(width, height, out_w, out_h, low_w, low_h)
    if kind == "gradient":
        img = _gradient(bg, cv)
    elif kind == "office":
        img = _office(bg, cv, seed)
    elif kind in ("studio", "photo"):
        img = _studio(bg if kind == "studio" else Background("studio"), cv, seed)
    else:
        raise BackgroundError(f"background {kind!r}: unknown kind (solid, gradient, studio, office, blur, photo)")
    return _finish(np.ascontiguousarray(img, np.float32), out_w, out_h)


def make_drift_background(bg: Background, width: int, height: int, *, slide: np.ndarray | None = None,
                          seed: int = 0, margin: float = DRIFT_MARGIN) -> np.ndarray:
    """`make_background` with room around the frame for `BackgroundDrift` to move in."""
    return make_background(bg, width, height, slide=slide, margin=margin, seed=seed)


class BackgroundDrift:
    """A slow camera drift over a background a little larger than the frame.

    The view pans along a Lissajous path (periods 37 s and 47 s) and
    breathes in and out by up to 2 % (period 59 s), so the picture does not
    repeat within a scene; the pan reaches 75 % of the margin, so the view
    always stays inside the image with more than a pixel to spare, and a
    point of a 1080p frame moves at most about 0.4 px per frame at 25 fps.
    Frame 0 is the centre crop.
    """

    PERIODS_S = (37.0, 47.0, 59.0)
    ZOOM = 0.02

    def __init__(self, image: np.ndarray, width: int, height: int, fps: float):
        ih, iw = image.shape[:2]
        if iw < width or ih < height:
            raise BackgroundError(f"drift background {iw}x{ih}: smaller than the {width}x{height} frame")
        self.image = np.ascontiguousarray(image)
        self.width, self.height, self.fps = width, height, float(fps)
        self.src_c = ((iw - 1) / 2.0, (ih - 1) / 2.0)
        self.dst_c = ((width - 1) / 2.0, (height - 1) / 2.0)
        # At zoom z the view covers (w / z) x (h / z); what is left of the
        # margin on each side is room to pan, less a pixel for interpolation.
        room_x = (iw - 1) / 2.0 - (width - 1) / 2.0 - 1.0
        room_y = (ih - 1) / 2.0 - (height - 1) / 2.0 - 1.0
        self.amp = (max(0.0, 0.75 * room_x), max(0.0, 0.75 * room_y))

    def matrix(self, i: int) -> np.ndarray:
        """The 2x3 affine map from frame pixel to image pixel for frame `i` (for `cv2.WARP_INVERSE_MAP`)."""
        t = i / self.fps
        tx, ty, tz = self.PERIODS_S
        z = 1.0 + self.ZOOM * 0.5 * (1.0 - math.cos(2 * math.pi * t / tz))
        dx = self.amp[0] * math.sin(2 * math.pi * t / tx)
        dy = self.amp[1] * math.sin(2 * math.pi * t / ty)
        s = 1.0 / z
        return np.array([[s, 0.0, self.src_c[0] + dx - self.dst_c[0] * s],
                         [0.0, s, self.src_c[1] + dy - self.dst_c[1] * s]])

    def frame(self, i: int, out: np.ndarray) -> np.ndarray:
        """Write the view of frame `i` into `out` ((height, width, 3) uint8) and return it."""
        cv2.warpAffine(self.image, self.matrix(i), (self.width, self.height), dst=out,
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        return out
