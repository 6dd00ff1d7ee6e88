"""Matte and plate: no leftover of the photo's own backdrop beside the presenter, still or turning its head."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from avatarkit.compose.scene import presenter_rig
from avatarkit.face.detect import segmentation_mask
from avatarkit.face.matting import MatteSettings, refine_matte
from avatarkit.render.warp import WarpRenderer

MAGENTA = np.array([255, 0, 255], np.float32)   # far from every colour of the sample photo
STRIP = (slice(300, 340), slice(361, 368))      # the sample's pale backdrop between right shoulder and table
FLAG = (slice(430, 490), slice(2, 15))          # a dark red stripe of the flag beside the left arm


def _disc(d: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d | 1, d | 1))


def _over(rgb: np.ndarray, matte: np.ndarray) -> np.ndarray:
    a = matte[..., None].astype(np.float32)
    return rgb.astype(np.float32) * a + MAGENTA * (1 - a)


def _leftover(image: np.ndarray, raw: np.ndarray, matte: np.ndarray) -> int:
    """Pixels near the outline of a composite over magenta that look like the photo's backdrop next to them.

    A pixel counts when it is visible (matte over 0.1), within 6 % of the short side of the network's
    outline, and its composite colour is nearer (and within 60) to a sure-backdrop pixel of the photo
    in its neighbourhood than to any sure-person pixel there.
    """
    from avatarkit.compose.scene import decontaminate

    h, w = raw.shape
    side = min(h, w)
    comp = _over(decontaminate(image, matte), matte)
    fg = (raw > 0.5).astype(np.uint8)
    wide = _disc(int(0.12 * side))
    band = (cv2.dilate(fg, wide) > 0) & ~(cv2.erode(fg, wide) > 0)
    sure_bg = (raw < 0.05) & ~(cv2.dilate(fg, _disc(int(0.03 * side))) > 0)
    sure_fg = cv2.erode((raw > 0.95).astype(np.uint8), _disc(int(0.03 * side))) > 0
    img = image.astype(np.float32)
    r = int(0.06 * side)
    count = 0
    for y, x in zip(*np.nonzero(band & (matte > 0.1))):
        win = (slice(max(0, y - r), y + r + 1), slice(max(0, x - r), x + r + 1))
        b = img[win][sure_bg[win]]
        if not len(b):
            continue
        db = np.sqrt(((b - comp[y, x]) ** 2).sum(1)).min()
        if db >= 60:
            continue
        f = img[win][sure_fg[win]]
        count += bool(not len(f) or np.sqrt(((f - comp[y, x]) ** 2).sum(1)).min() >= db)
    return count


@pytest.fixture(scope="module")
def raw(rig):
    return segmentation_mask(rig.image)


def test_no_backdrop_strip_beside_the_right_shoulder(rig, raw):
    # The network claims the strip of pale wall beside the right shoulder ...
    assert raw[STRIP].mean() > 0.8
    # ... without the colour test the refined matte keeps it (the pale leftover of issue 26) ...
    old = refine_matte(rig.image, raw, MatteSettings(trim=0.0))
    assert old[STRIP].mean() > 0.8
    # ... with it (the default, and so the rig's matte) the strip is cut away.
    assert rig.matte[STRIP].mean() < 0.2
    assert refine_matte(rig.image, raw)[STRIP].mean() < 0.2


def test_no_flag_stripe_beside_the_left_arm(rig, raw):
    # The network is unsure of the flag's stripe by the left arm (0.5 to 0.7) and calls it person; its
    # colour, dark red, is the flag's and not the suit's, so it goes.
    assert raw[FLAG].mean() > 0.5
    assert refine_matte(rig.image, raw, MatteSettings(trim=0.0))[FLAG].mean() > 0.9
    assert rig.matte[FLAG].mean() < 0.1


def test_leftover_of_the_backdrop_is_small(rig, raw):
    old = _leftover(rig.image, raw, refine_matte(rig.image, raw, MatteSettings(trim=0.0)))
    new = _leftover(rig.image, raw, rig.matte)
    # Measured: 600 pixels without the colour test, 350 with it (the rest: thin edges, the shoulder's piping).
    assert new < 450 < old


def test_the_face_and_body_stay_opaque(rig, raw):
    # The colour test only trims the outline and what the network is unsure of: where the network is sure,
    # the person's inside is untouched.
    inner = cv2.erode((raw > 0.9).astype(np.uint8), _disc(int(0.06 * min(raw.shape)))) > 0
    assert (rig.matte[inner] > 0.9).mean() > 0.995


@pytest.mark.parametrize("values", [{"yaw": 0.15}, {"yaw": -0.15}, {"roll": 0.12}, {"pitch": 0.12}])
def test_a_turned_head_uncovers_the_new_background(rig, values):
    # Paint the presenter's backdrop (wherever the matte is exactly 0) a pure key green, so any of it
    # that the warp brings into view is unmistakable. (Cut out by the photo's own matte instead of the
    # warped one, 40 to 1000 key pixels of it show in these turns.)
    pr = presenter_rig(rig, 1.0, decontaminated=True)
    image = pr.image.copy()
    image[pr.matte <= 0.0] = (0, 255, 0)
    pr = replace(pr, image=image)
    frame = WarpRenderer().bind(pr).render_frame(values)
    x0, y0, x1, y1 = frame.box
    rest = pr.matte[y0:y1, x0:x1]
    # The head moved: somewhere the person was at rest is now (mostly) uncovered ...
    uncovered = (rest > 0.95) & (frame.matte < 0.5)
    assert uncovered.sum() > 50
    # ... and over magenta no backdrop shows, there or anywhere in the crop: the matte that cuts the
    # person out is the warped one, not the photo's.
    comp = _over(frame.rgb, frame.matte)
    key = comp[..., 1] - np.maximum(comp[..., 0], comp[..., 2])
    assert (key > 60).sum() <= 5
    assert float(comp[uncovered][:, 1].mean()) < 100
