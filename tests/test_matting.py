"""Person matting: no holes, edges on the photo's boundary, no shimmer over time."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatarkit.errors import AvatarkitError
from avatarkit.face import landmarks as lm
from avatarkit.face.detect import segmentation_mask
from avatarkit.face.matting import MatteSequence, clean_mask, refine_matte, stable_mattes

FG = np.array([210, 140, 70], np.float32)      # an orange jacket
BG = np.array([60, 80, 120], np.float32)       # a blue wall


def _alpha(h: int, w: int, draw) -> np.ndarray:
    """Anti-aliased coverage (h, w) float32 of shapes drawn by `draw(canvas, scale)` at 4x and averaged down."""
    big = np.zeros((h * 4, w * 4), np.uint8)
    draw(big, 4)
    return cv2.resize(big.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def _compose(alpha: np.ndarray, fg=FG, bg=BG, noise: float = 2.0, seed: int = 0) -> np.ndarray:
    """An RGB uint8 image of colour `fg` over `bg` with coverage `alpha`, plus sensor noise (grey levels)."""
    rng = np.random.default_rng(seed)
    fg = np.broadcast_to(np.asarray(fg, np.float32), alpha.shape + (3,))
    bg = np.broadcast_to(np.asarray(bg, np.float32), alpha.shape + (3,))
    img = fg * alpha[..., None] + bg * (1 - alpha[..., None]) + rng.normal(0, noise, alpha.shape + (3,))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _person(canvas: np.ndarray, s: int, dx: float = 0.0) -> None:
    """Head, neck and shoulders in a 240x240 frame (coordinates x `s`), shifted right by `dx` pixels."""
    def pt(x, y):
        return int(round((x + dx) * s)), int(round(y * s))
    cv2.circle(canvas, pt(120, 70), 38 * s, 1, -1)
    cv2.rectangle(canvas, pt(105, 100), pt(135, 130), 1, -1)
    cv2.ellipse(canvas, pt(120, 240), (95 * s, 115 * s), 0, 180, 360, 1, -1)
    cv2.rectangle(canvas, pt(25, 238), pt(215, 240), 1, -1)


# -- the sample avatar ---------------------------------------------------------------------------------


def test_sample_avatar_matte_has_no_holes_and_an_opaque_face(rig):
    m = rig.matte
    assert m.dtype == np.float32 and m.shape == rig.image.shape[:2]
    assert m.min() >= 0.0 and m.max() <= 1.0
    # MediaPipe's own mask has holes and specks in this photo (by the badges and the helmet) ...
    raw = segmentation_mask(rig.image) > 0.5
    clean = clean_mask(raw)
    assert (clean & ~raw).any() and (raw & ~clean).any()
    # ... the matte has none: everything inside the person's outline is opaque.
    contours, _ = cv2.findContours((m > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = np.zeros(m.shape, np.uint8)
    cv2.drawContours(outline, [max(contours, key=cv2.contourArea)], -1, 1, -1)
    inside = outline > 0
    assert inside.sum() > 0.3 * m.size
    assert (m[inside] > 0.5).all()
    assert m[~inside].max() <= 0.5      # and no specks outside it
    # The face: inside its oval, less a margin of 4 % of its width (the oval points sit on the cheek's edge).
    oval = rig.landmarks[list(lm.FACE_OVAL), :2]
    face = np.zeros(m.shape, np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(np.round(oval).astype(np.int32)), 1)
    margin = int(round(0.04 * np.ptp(oval[:, 0])))
    face = cv2.erode(face, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    assert face.sum() > 5000
    assert m[face > 0].min() >= 0.98
    # The photo's background: the top corners and the grey wall beside the head.
    assert m[:40, :40].max() < 0.02 and m[:40, -40:].max() < 0.02


# -- synthetic: holes, specks, edges ----------------------------------------------------------------------


def test_holes_are_filled_and_far_specks_removed():
    truth = _alpha(240, 240, _person)
    # A dark patch on the jacket, the colour of the wall: the network misses it.
    patch = np.zeros((240, 240), np.uint8)
    cv2.circle(patch, (120, 190), 16, 1, -1)
    fg = np.where(patch[..., None] > 0, BG + 5, FG)
    img = _compose(truth, fg=fg)
    raw = cv2.GaussianBlur(truth, (0, 0), 2.0)
    raw[patch > 0] = 0.05
    raw[20:28, 20:28] = 0.9          # a speck far from the person
    m = refine_matte(img, raw)
    assert m.dtype == np.float32 and m.shape == (240, 240)
    assert m[patch > 0].min() > 0.95
    assert m[14:34, 14:34].max() < 0.02
    # A background region enclosed by the person is filled, whatever its size; the wall outside is not.
    ring = raw.copy()
    ring[150:210, 70:170] = 0.0
    m2 = refine_matte(img, ring)
    assert m2[160:200, 80:160].min() > 0.95
    assert m2[:20].max() < 0.02 and m2[100:130, :40].max() < 0.02


def test_clean_mask_keeps_big_parts_and_border_background():
    fg = np.zeros((100, 100), bool)
    fg[30:100, 20:60] = True         # the body, down to the bottom edge
    fg[40:60, 30:50] = False         # a hole in it
    fg[50:100, 70:90] = True         # a second big part (an arm) stays
    fg[5:7, 90:92] = True            # a speck goes
    out = clean_mask(fg)
    assert out[40:60, 30:50].all() and out[50:100, 70:90].all()
    assert not out[5:7, 90:92].any()
    assert not out[:, 62:68].any()   # the gap between the parts reaches the border: background
    assert out.sum() == 70 * 40 + 50 * 20


def test_edge_moves_onto_the_photo_boundary():
    h = w = 512

    def disc(c, s):
        cv2.circle(c, (256 * s, 280 * s), 150 * s, 1, -1, lineType=cv2.LINE_AA)
    truth = _alpha(h, w, disc)
    img = _compose(truth)
    # The network's mask: too soft and 6 pixels off the real outline.
    raw = cv2.GaussianBlur(np.roll(truth, (4, 6), axis=(0, 1)), (0, 0), 5.0)
    m = refine_matte(img, raw)
    dist = np.abs(cv2.distanceTransform((truth < 0.5).astype(np.uint8), cv2.DIST_L2, 5)
                  - cv2.distanceTransform((truth >= 0.5).astype(np.uint8), cv2.DIST_L2, 5))
    near = dist < 20
    err_raw = np.abs(raw - truth)[near].mean()
    err = np.abs(m - truth)[near].mean()
    assert err < 0.35 * err_raw, (err, err_raw)
    # Narrow and without halo: settled 2 % of the size away from the outline on either side.
    far = dist > 0.02 * w
    assert np.abs(m - truth)[far].max() < 0.02
    # The 0.5 level lies on the true outline to within a pixel.
    edge = (m > 0.5) != (truth > 0.5)
    assert edge.sum() < 0.5 * (2 * np.pi * 150)


def test_bad_input_is_a_clear_error():
    img = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(AvatarkitError, match="does not match"):
        refine_matte(img, np.zeros((32, 64), np.float32))
    with pytest.raises(AvatarkitError, match="RGB uint8"):
        refine_matte(img.astype(np.float32), np.zeros((64, 64), np.float32))
    seq = MatteSequence()
    seq.add(img, np.zeros((64, 64), np.float32))
    with pytest.raises(AvatarkitError, match="the first was 64x64"):
        seq.add(np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32), np.float32))
    with pytest.raises(AvatarkitError, match="no frame 1"):
        seq.matte(1, img)
    with pytest.raises(AvatarkitError, match="added at 64x64"):
        seq.matte(0, np.zeros((48, 64, 3), np.uint8))
    assert seq.matte(0, img).max() == 0.0       # nobody there: fully transparent


# -- over time ---------------------------------------------------------------------------------------


def _moving_sequence(n: int = 30, speed: float = 0.5, seed: int = 1, periodic: bool = False):
    """Frames, noisy network masks and true coverage of a person drifting right by `speed` pixels a frame.

    `periodic` sways them instead, 6 pixels either way, once over the `n`
    frames (a seamless loop). The jacket is nearly the wall's colour, as a
    dark suit before a dark wall: there the image cannot correct the mask,
    only time can.
    """
    rng = np.random.default_rng(seed)
    frames, raws, truths = [], [], []
    for t in range(n):
        dx = 6 * np.sin(2 * np.pi * t / n) if periodic else speed * t
        truth = _alpha(240, 240, lambda c, s, dx=dx: _person(c, s, dx=dx))
        fg = np.zeros((240, 240, 3), np.float32)
        fg[:] = FG
        fg[118:] = BG + 6                        # the suit below the neck
        frames.append(_compose(truth, fg=fg, seed=seed * 1000 + t))
        jitter = rng.normal(0, 1.5, 2)
        shifted = cv2.warpAffine(truth, np.float32([[1, 0, jitter[0]], [0, 1, jitter[1]]]), (240, 240))
        blotch = cv2.GaussianBlur(rng.normal(0, 1, (240, 240)).astype(np.float32), (0, 0), 6)
        raw = cv2.GaussianBlur(shifted, (0, 0), 2.5) + blotch * (0.25 / blotch.std())
        raws.append(np.clip(raw, 0, 1))
        truths.append(truth > 0.5)
    return frames, raws, truths


def _flicker(mattes) -> float:
    return float(np.mean([np.abs(a - b).mean() for a, b in zip(mattes[1:], mattes[:-1])]))


def _iou(mattes, truths) -> float:
    return float(np.mean([((m > 0.5) & t).sum() / ((m > 0.5) | t).sum() for m, t in zip(mattes, truths)]))


def test_stable_mattes_do_not_shimmer_but_follow_motion():
    frames, raws, truths = _moving_sequence()
    single = [refine_matte(f, r) for f, r in zip(frames, raws)]
    stable = stable_mattes(frames, raws)
    assert len(stable) == len(frames) and stable[0].shape == (240, 240) and stable[0].dtype == np.float32
    f1, f2 = _flicker(single), _flicker(stable)
    assert f2 < 0.5 * f1, (f1, f2)
    assert _iou(stable, truths) >= _iou(single, truths)
    # The true motion is still there: the person's centre moves with the frames.
    xs = [np.nonzero(m > 0.5)[1].mean() for m in stable]
    assert 0.35 * (len(xs) - 1) < xs[-1] - xs[0] < 0.65 * (len(xs) - 1)


@pytest.mark.parametrize("loop", [False, True])
def test_first_and_last_mattes_match_their_frames(loop):
    # Played forwards and back the person drifts one way; a loop sways and comes back.
    frames, raws, truths = _moving_sequence(n=16, speed=1.0, seed=2, periodic=loop)
    stable = stable_mattes(frames, raws, loop=loop)
    for k in (0, len(frames) - 1):
        ref = refine_matte(frames[k], raws[k])
        assert _iou([stable[k]], [truths[k]]) >= _iou([ref], [truths[k]]) - 0.01
        # The head's sharp outline stays where this frame has it.
        assert np.abs(stable[k][20:100] - truths[k][20:100]).mean() < 0.02
    if loop:    # the wrap from the last frame to the first is no bigger a step than any other
        steps = [np.abs(stable[k] - stable[k - 1]).mean() for k in range(len(stable))]
        assert steps[0] <= 1.5 * max(steps[1:])
