"""Generated backgrounds: every kind, colours, banding, the office, the blurred slide, and the camera drift."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from avatarkit.compose.background import (
    BackgroundDrift,
    BackgroundError,
    canvas_size,
    hex_rgb,
    make_background,
    make_drift_background,
)
from avatarkit.errors import RenderError
from avatarkit.script.model import Background

KINDS = [
    Background("solid", ("#334455",)),
    Background("gradient", ("#1d3557", "#457b9d")),
    Background("gradient", ("#0f2027", "#2c5364", "#a8c0d0")),
    Background("studio"),
    Background("studio", ("#d9dde3", "#ffffff")),
    Background("office"),
    Background("office", ("#c8bfb0", "#ffcf8a")),
    Background("blur"),
    Background("photo"),
]


def _slide(w: int = 1280, h: int = 720) -> np.ndarray:
    """A slide with large shapes: a dark title bar, a light page, a big orange block, some text."""
    s = np.full((h, w, 3), 240, np.uint8)
    s[: h // 6] = (30, 60, 130)
    s[h // 3: h * 5 // 6, w * 2 // 3: w * 9 // 10] = (230, 130, 40)
    for i in range(4):
        cv2.putText(s, "Safety first, every day", (w // 16, h // 3 + i * h // 9), cv2.FONT_HERSHEY_SIMPLEX,
                    h / 600, (40, 40, 40), 2)
    return s


def _luma(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)


@pytest.mark.parametrize("bg", KINDS, ids=lambda b: f"{b.kind}{len(b.colors)}")
def test_every_kind_renders_at_any_size_quickly(bg):
    slide = _slide()
    for w, h in [(1280, 720), (720, 1280), (101, 57)]:
        img = make_background(bg, w, h, slide=slide)
        assert img.shape == (h, w, 3) and img.dtype == np.uint8 and img.flags.c_contiguous
    make_background(bg, 1920, 1080, slide=slide)
    t0 = time.perf_counter()
    make_background(bg, 1920, 1080, slide=slide)
    # 20-70 ms measured on 2 cores; the budget is 150 ms, doubled for a busy test machine.
    assert time.perf_counter() - t0 < 0.3


def test_existing_callers_still_work():
    img = make_background(Background("studio", ("#d9dde3", "#ffffff")), 320, 180)
    assert img.shape == (180, 320, 3) and _luma(img).mean() > 180       # the light studio stays light
    assert np.array_equal(hex_rgb("#ff8000"), np.array([255, 128, 0], np.float32))
    solid = make_background(Background("solid", ("#336699",)), 64, 36)
    assert np.all(solid == np.array([0x33, 0x66, 0x99], np.uint8))


@pytest.mark.parametrize("colors", [("#1d3557", "#e9c46a"), ("#0f2027", "#2c5364", "#a8c0d0")])
def test_gradient_runs_corner_to_corner_through_its_colours(colors):
    img = make_background(Background("gradient", colors), 1280, 720).astype(np.float32)
    c = lambda y, x: img[y:y + 8, x:x + 8].reshape(-1, 3).mean(0)   # noqa: E731
    assert np.abs(c(0, 0) - hex_rgb(colors[0])).max() < 8
    assert np.abs(c(712, 1272) - hex_rgb(colors[-1])).max() < 8
    # Diagonal, not vertical: the top-right and bottom-left corners lie half way.
    half = 0.5 * (hex_rgb(colors[0]) + hex_rgb(colors[-1])) if len(colors) == 2 else hex_rgb(colors[1])
    assert np.abs(c(0, 1272) - half).max() < 15 and np.abs(c(712, 0) - half).max() < 15
    # The soft light: the upper middle is lighter than the straight blend of the corners there.
    centre = img[230:270, 680:730].reshape(-1, 3).mean(0)
    assert _luma(centre[None, None])[0, 0] > _luma(half[None, None])[0, 0] + 5


def test_gradient_has_no_banding():
    # 8 levels over the whole frame: without dither, bands ~135 px wide.
    img = make_background(Background("gradient", ("#203040", "#283848")), 1920, 1080)
    g = img[..., 1].astype(np.float32)
    diag = g[np.arange(1080), (np.arange(1080) * 1919 // 1079)]
    runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, diag, -1]) != 0))
    assert runs.max() < 40
    # 16x16 block means follow a smooth surface to a small fraction of a level
    # (a staircase of 1-level steps is off by up to half a level).
    blocks = g[:1072].reshape(67, 16, 120, 16).mean((1, 3))
    smooth = cv2.GaussianBlur(blocks, (0, 0), 2.0, borderType=cv2.BORDER_REPLICATE)
    inner = (slice(4, -4), slice(4, -4))
    assert np.sqrt(np.mean((blocks - smooth)[inner] ** 2)) < 0.08
    stairs = np.round(smooth)                     # what rounding without dither would leave
    assert np.sqrt(np.mean((stairs - cv2.GaussianBlur(stairs, (0, 0), 2.0))[inner] ** 2)) > 0.15


def test_studio_is_lit_in_the_middle_and_smooth():
    img = _luma(make_background(Background("studio"), 1280, 720))
    assert img[250:350, 560:720].mean() > img[:60, :100].mean() + 20           # spot over vignette
    small = cv2.resize(img, (128, 72), interpolation=cv2.INTER_AREA)
    assert np.abs(np.diff(small, axis=0)).max() < 6 and np.abs(np.diff(small, axis=1)).max() < 6


def _blobs(img: np.ndarray) -> int:
    """Bright round blobs: light discs standing out of their surroundings."""
    L = _luma(img)
    h = L.shape[0]
    local = cv2.GaussianBlur(L, (0, 0), 0.06 * h)
    mask = ((L - local) > 6).astype(np.uint8)
    stats = cv2.connectedComponentsWithStats(mask)[2][1:]
    w, hh, area = stats[:, 2], stats[:, 3], stats[:, 4]
    return int(np.sum((area > 3 * (0.012 * h) ** 2) & (w / hh > 0.6) & (w / hh < 1.6) & (area > 0.6 * w * hh)))


def test_office_is_a_detailed_out_of_focus_room_and_deterministic():
    img = make_background(Background("office"), 1280, 720)
    L = _luma(img)
    assert L.std() > 15                                            # not flat
    assert L.max() > 200 and L.min() < 110                         # bright window light, dark furniture
    assert _blobs(img) >= 3                                        # several distinct light discs
    # Out of focus: no sharp edges anywhere (compare the gradient of a crisp test edge: ~128 per pixel).
    assert np.abs(np.diff(L, axis=1)).max() < 25 and np.abs(np.diff(L, axis=0)).max() < 25
    assert np.array_equal(img, make_background(Background("office"), 1280, 720))
    other = make_background(Background("office"), 1280, 720, seed=7)
    assert np.abs(other.astype(np.int16) - img).mean() > 5
    # The wall colour shows: a warm wall gives a warmer room.
    warm = make_background(Background("office", ("#c8a890", "#ffcf8a")), 1280, 720).astype(np.float32)
    assert (warm[..., 0] - warm[..., 2]).mean() > (img[..., 0].astype(np.float32) - img[..., 2]).mean() + 10


def test_blur_follows_the_slide_darker_and_greyer():
    slide = _slide(1024, 768)                      # 4:3 into 16:9: cover-fitted, cropped top and bottom
    img = make_background(Background("blur"), 1280, 720, slide=slide)
    # The slide as cover-fitted, then its low frequencies.
    s = cv2.resize(slide, (1280, 960), interpolation=cv2.INTER_AREA)[120:840]
    low = cv2.GaussianBlur(_luma(s), (0, 0), 25)
    L = _luma(img)
    assert np.corrcoef(low.ravel(), L.ravel())[0, 1] > 0.95
    assert L.mean() < _luma(s).mean() - 30                          # darkened
    sat = lambda a: (a.max(-1).astype(np.float32) - a.min(-1)).mean()   # noqa: E731
    assert sat(img) < 0.7 * sat(s)                                   # desaturated
    assert np.abs(np.diff(L, axis=1)).max() < 10                    # no text edges survive
    with pytest.raises(ValueError, match="slide"):
        make_background(Background("blur"), 1280, 720)


def test_bad_backgrounds_say_what_is_wrong():
    with pytest.raises(RenderError, match="'#12345'"):
        make_background(Background("solid", ("#12345",)), 64, 36)
    with pytest.raises(BackgroundError, match="gradient: takes 2 to 3 colours, got 1"):
        make_background(Background("gradient", ("#123456",)), 64, 36)
    with pytest.raises(BackgroundError, match="unknown kind"):
        make_background(Background("plasma"), 64, 36)


@pytest.mark.parametrize("kind", ["gradient", "studio", "office", "blur"])
def test_margin_render_is_the_plain_render_with_more_around(kind):
    bg = Background(kind, ("#1d3557", "#457b9d") if kind == "gradient" else ())
    plain = make_background(bg, 1280, 720, slide=_slide())
    big = make_drift_background(bg, 1280, 720, slide=_slide())
    W, H = canvas_size(1280, 720, 0.07)
    assert big.shape == (H, W, 3) and (W - 1280) % 2 == 0 and (H - 720) % 2 == 0
    assert W >= 1280 * 1.07 and H >= 720 * 1.07
    x0, y0 = (W - 1280) // 2, (H - 720) // 2
    crop = big[y0:y0 + 720, x0:x0 + 1280].astype(np.float32)
    # Blur refits the slide to the bigger canvas, so it may differ a little more.
    assert np.abs(crop - plain).mean() < (4.0 if kind == "blur" else 1.5)


def _drift(w: int = 1280, h: int = 720, kind: str = "office") -> tuple[BackgroundDrift, np.ndarray]:
    img = make_drift_background(Background(kind), w, h)
    return BackgroundDrift(img, w, h, 25), img


def _corners(m: np.ndarray, w: int, h: int) -> np.ndarray:
    pts = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1], [w / 2, h / 2, 1]], np.float64)
    return pts @ m.T


def test_drift_starts_at_the_centre_crop():
    d, img = _drift()
    ih, iw = img.shape[:2]
    x0, y0 = (iw - 1280) // 2, (ih - 720) // 2
    out = np.zeros((720, 1280, 3), np.uint8)
    assert d.frame(0, out) is out
    assert np.abs(out.astype(np.int16) - img[y0:y0 + 720, x0:x0 + 1280]).max() <= 1


def test_drift_moves_slowly_smoothly_and_stays_inside():
    w, h = 1920, 1080
    d, img = _drift(w, h, "studio")
    ih, iw = img.shape[:2]
    pts = np.array([_corners(d.matrix(i), w, h) for i in range(0, 25 * 180)])   # three minutes
    step = np.linalg.norm(np.diff(pts, axis=0), axis=-1)
    assert step.max() < 0.5                                          # under half a pixel per frame at 25 fps
    assert np.linalg.norm(pts[125] - pts[0], axis=-1).max() > 3      # but it does move within 5 s
    accel = np.linalg.norm(np.diff(pts, 2, axis=0), axis=-1)
    assert accel.max() < 0.01                                        # smooth: no jerks
    assert pts[..., 0].min() >= 0 and pts[..., 0].max() <= iw - 1
    assert pts[..., 1].min() >= 0 and pts[..., 1].max() <= ih - 1
    # The view never reaches the image's outermost pixels: paint them red and look.
    marked = img.copy()
    marked[0], marked[-1], marked[:, 0], marked[:, -1] = (255, 0, 0), (255, 0, 0), (255, 0, 0), (255, 0, 0)
    dm = BackgroundDrift(marked, w, h, 25)
    out = np.empty((h, w, 3), np.uint8)
    reach = [int(np.argmax(np.abs(pts[:, k] - pts[0, k]).sum(-1))) for k in range(4)]
    for i in [0, *reach, 25 * 60]:
        dm.frame(i, out)
        red = (out[..., 0] > 200) & (out[..., 1] < 80) & (out[..., 2] < 80)
        assert not red.any(), i


def test_drift_frame_is_fast():
    d, _ = _drift()
    out = np.empty((720, 1280, 3), np.uint8)
    d.frame(1, out)
    t0 = time.perf_counter()
    for i in range(50):
        d.frame(i, out)
    per = (time.perf_counter() - t0) / 50
    assert per < 0.008          # ~1 ms measured; the budget is 4 ms, doubled for a busy test machine
