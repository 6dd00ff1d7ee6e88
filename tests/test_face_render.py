"""Face rig and warp renderer: landmarks, bad photos, and reenactment measured by MediaPipe."""

from __future__ import annotations

import numpy as np
import pytest

from avatarkit import FaceError
from avatarkit.face import detect_landmarks, rig_from_image
from avatarkit.face import landmarks as lm
from avatarkit.face.deform import FaceDeformer
from avatarkit.face.rig import load_avatar
from avatarkit.render import make_renderer

from .conftest import SAMPLES


def test_sample_avatar_has_478_landmarks(rig):
    assert rig.landmarks.shape == (478, 3)
    assert 30 < rig.iod < 80
    assert rig.matte.shape == rig.image.shape[:2]
    # The matte covers the face and not the top corners of the photo.
    cx, cy = rig.mouth_center.astype(int)
    assert rig.matte[cy, cx] > 0.9 and rig.matte[5, 5] < 0.1


def test_no_face_and_two_faces_are_clear_errors(rig):
    blank = np.full((300, 300, 3), 128, np.uint8)
    with pytest.raises(FaceError, match="no face"):
        rig_from_image(blank, source="blank.png")
    # Two head-and-shoulders crops side by side, big enough for the detector.
    cx, cy = rig.mouth_center.astype(int)
    head = rig.image[max(cy - 160, 0):cy + 100, cx - 130:cx + 130]
    two = np.ascontiguousarray(np.concatenate([head, head], axis=1))
    with pytest.raises(FaceError, match="2 faces"):
        detect_landmarks(two, source="two.png")


def test_unreadable_and_tiny_images(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(FaceError, match="not a readable image"):
        load_avatar(bad)
    with pytest.raises(FaceError, match="at least 64"):
        rig_from_image(np.zeros((32, 32, 3), np.uint8), source="tiny.png")


@pytest.fixture(scope="module")
def bound(rig):
    return make_renderer("warp").bind(rig.scaled(1.5))


def _paste(bound, frame):
    img = bound.rig.image.copy()
    x0, y0, x1, y1 = frame.box
    img[y0:y1, x0:x1] = frame.rgb
    return img


def _gap(pts):
    L = pts[:, :2]
    iod = np.linalg.norm(L[list(lm.LEFT_EYE_CORNERS)].mean(0) - L[list(lm.RIGHT_EYE_CORNERS)].mean(0))
    return np.linalg.norm(L[lm.LOWER_LIP_CENTER] - L[lm.UPPER_LIP_CENTER]) / iod


def _eye(pts):
    L = pts[:, :2]
    return np.linalg.norm(L[159] - L[145]) + np.linalg.norm(L[386] - L[374])


def test_neutral_weights_leave_the_photo_unchanged(bound):
    d = bound.deformer
    rest = {"jaw": d.o_rest}  # the photo's own opening: every weight is zero
    f = bound.render_frame(rest)
    x0, y0, x1, y1 = f.box
    orig = bound.rig.image[y0:y1, x0:x1].astype(int)
    # Away from the mouth interior (which is repainted) the pixels are the photo's.
    mask = np.ones(orig.shape[:2], bool)
    mx, my = (d.rig.mouth_center - [x0, y0]).astype(int)
    mask[my - 25:my + 25, mx - 45:mx + 45] = False
    assert np.abs(f.rgb.astype(int) - orig)[mask].mean() < 1.0


def test_rendered_mouth_reaches_the_target_opening(bound):
    closed = detect_landmarks(_paste(bound, bound.render_frame({"jaw": 0.0})))
    half = detect_landmarks(_paste(bound, bound.render_frame({"jaw": 0.45})))
    wide = detect_landmarks(_paste(bound, bound.render_frame({"jaw": 0.9})))
    g0, g1, g2 = _gap(closed), _gap(half), _gap(wide)
    assert g0 < g1 < g2, (g0, g1, g2)
    assert g2 > 0.2 and g0 < 0.08


def test_blink_closes_the_eyes(bound):
    open_ = detect_landmarks(_paste(bound, bound.render_frame({"jaw": 0.2})))
    half = detect_landmarks(_paste(bound, bound.render_frame({"jaw": 0.2, "blink": 0.5})))
    shut = detect_landmarks(_paste(bound, bound.render_frame({"jaw": 0.2, "blink": 1.0})))
    # The lids are painted shut, so MediaPipe (whose mesh leans towards open eyes) reads a closed eye;
    # half a blink is half a lid.
    assert _eye(shut) < 0.3 * _eye(open_)
    assert 0.3 * _eye(open_) < _eye(half) < 0.9 * _eye(open_)


def test_blinks_close_fully_in_the_decoded_video(tmp_path):
    """A lip-synced MP4, decoded: at the top of each blink MediaPipe finds the eyes closed; between blinks open."""
    import avatarkit
    from avatarkit.motion.idle import blink

    from .audiofiles import write_audio
    from .test_e2e import _decode

    out = avatarkit.lipsync(SAMPLES / "avatar.png", write_audio(tmp_path / "quiet.wav", np.zeros(16000 * 8), 16000),
                            tmp_path / "blinks.mp4", resolution=(640, 360), motion="still", captions=False)
    _, frames, _ = _decode(out.video)
    b = blink(np.arange(len(frames)), 25)
    peaks, opened = np.flatnonzero(b > 0.95), np.flatnonzero(b < 0.01)[::10]
    assert peaks.size >= 2
    eye = {i: _eye(detect_landmarks(np.ascontiguousarray(frames[i]))) for i in np.concatenate([peaks, opened])}
    assert max(eye[i] for i in peaks) < 0.35 * np.median([eye[i] for i in opened])


def test_identity_kept_outside_mouth_and_no_flicker(bound):
    # Small motion changes only a little: consecutive frames differ smoothly.
    a = bound.render_frame({"jaw": 0.30, "yaw": 0.010}).rgb.astype(np.float32)
    b = bound.render_frame({"jaw": 0.32, "yaw": 0.011}).rgb.astype(np.float32)
    assert np.abs(a - b).mean() < 2.0
    # Pixels at the edge of the changed box equal the photo: no seam.
    f = bound.render_frame({"jaw": 0.8, "roll": 0.05, "pitch": 0.05})
    x0, y0, x1, y1 = f.box
    orig = bound.rig.image[y0:y1, x0:x1].astype(int)
    edge = np.concatenate([(f.rgb[:3].astype(int) - orig[:3]).ravel(), (f.rgb[-3:].astype(int) - orig[-3:]).ravel(),
                           (f.rgb[:, :3].astype(int) - orig[:, :3]).ravel(),
                           (f.rgb[:, -3:].astype(int) - orig[:, -3:]).ravel()])
    assert np.abs(edge).max() <= 2


def test_targets_are_linear_in_channels(rig):
    d = FaceDeformer(rig)
    a = d.targets({"jaw": 0.5, "wide": 0.2})
    b = d.targets({"jaw": 0.5, "wide": 0.4})
    c = d.targets({"jaw": 0.5, "wide": 0.6})
    assert np.allclose(b - a, c - b, atol=1e-4)
    assert d.opening({"jaw": 0.0}) < 0.5 and d.opening({"jaw": 1.0}) > 0.35 * rig.iod


def _width(pts):
    L = pts[:, :2]
    iod = np.linalg.norm(L[list(lm.LEFT_EYE_CORNERS)].mean(0) - L[list(lm.RIGHT_EYE_CORNERS)].mean(0))
    return np.linalg.norm(L[61] - L[291]) / iod


def test_mouth_shape_round_trips_through_the_deformer(rig):
    d = FaceDeformer(rig)
    values = {"jaw": 0.5, "wide": 0.3, "yaw": 0.1, "pitch": -0.05}
    shape = d.shape_of(d.targets(values), values)
    # The channels' own lips, read back as a shape and placed again, land where they were.
    assert np.allclose(d.targets(values, shape), d.targets(values), atol=1e-3)
    assert shape.offsets.shape == (len(lm.MOUTH_SHAPE), 2)
    from avatarkit.motion.track import MotionTrack

    with pytest.raises(ValueError, match="shape is"):
        MotionTrack(25, 0, {"jaw": np.zeros(3)}, shape=np.zeros((3, 10, 2)), shape_points=lm.MOUTH_SHAPE)
    with pytest.raises(ValueError, match="shape_points"):
        MotionTrack(25, 0, {"jaw": np.zeros(3)}, shape=np.zeros((3, 1, 2)), shape_points=(470,))


def test_mouth_shape_gives_oo_and_ee_at_one_opening(bound):
    """The same channels with a rounded and a spread lip shape: MediaPipe reads two different mouths."""
    d = bound.deformer
    values = {"jaw": 0.45}
    base = d.shape_of(d.targets(values)).offsets
    idx = list(lm.MOUTH_SHAPE)
    lips = np.array([i in set(lm.LIP_OUTER_UPPER + lm.LIP_OUTER_LOWER + lm.LIP_MID_UPPER + lm.LIP_MID_LOWER
                               + lm.LIP_INNER_UPPER + lm.LIP_INNER_LOWER) for i in idx])
    u = (d.rest[idx] - d.rig.mouth_center) @ d.u / d.d + base[:, 0]     # each point's place across the mouth
    oo, ee = base.copy(), base.copy()
    from avatarkit.motion.track import FaceShape

    oo[lips, 0] -= 0.25 * u[lips]          # lips drawn in towards the middle
    ee[lips, 0] += 0.20 * u[lips]          # lips spread
    w_base = _width(detect_landmarks(_paste(bound, bound.render_frame(values, shape=FaceShape(lm.MOUTH_SHAPE, base)))))
    w_oo = _width(detect_landmarks(_paste(bound, bound.render_frame(values, shape=FaceShape(lm.MOUTH_SHAPE, oo)))))
    w_ee = _width(detect_landmarks(_paste(bound, bound.render_frame(values, shape=FaceShape(lm.MOUTH_SHAPE, ee)))))
    assert w_oo < 0.88 * w_base < 0.88 * 0.9 * w_ee, (w_oo, w_base, w_ee)
    # The gap is the shape's, not changed by the spread.
    g_oo = _gap(detect_landmarks(_paste(bound, bound.render_frame(values, shape=FaceShape(lm.MOUTH_SHAPE, oo)))))
    assert g_oo > 0.12


def test_a_shape_read_off_the_channels_renders_the_same_pixels(bound):
    """The sample photo shows its teeth (its rest is open): a mouth shape starts from the closed-mouth rest,
    in the landmarks and in the warp's pixels alike."""
    from avatarkit.motion.track import FaceShape

    d = bound.deformer
    assert d.o_rest > 0.1
    for values in ({"jaw": 0.0}, {"jaw": 0.5, "wide": 0.3}):
        shape = d.shape_of(d.targets(values), values, tuple(range(lm.NUM_MESH)))
        a = bound.render_frame(values).rgb.astype(int)
        b = bound.render_frame(values, shape=FaceShape(shape.points, shape.offsets)).rgb.astype(int)
        assert np.abs(a - b).mean() < 0.5, values


def test_closed_lips_over_a_smiling_photo_read_closed(bound):
    """Closing a photo that shows its teeth squeezes them into a sliver; the drawn lip seam covers it."""
    closed = _gap(detect_landmarks(_paste(bound, bound.render_frame({"jaw": 0.0}))))
    assert closed < 0.05, closed


@pytest.mark.parametrize("kind", ["warp", "bank", "refined"])
def test_every_photo_renderer_takes_a_frame_the_same_way(rig, kind):
    """`render_frame(values, shape)` means the same to every kind (the evaluation and live sessions call it
    positionally); the bank once read a second positional argument as its bank entry."""
    from avatarkit.motion.track import FaceShape

    bound = make_renderer(kind).bind(rig)
    d = bound.deformer
    values = {"jaw": 0.45}
    offsets = d.shape_of(d.targets(values)).offsets
    spread = offsets.copy()
    spread[:, 1] += 0.1                    # the whole mouth 0.1 IOD lower
    a = bound.render_frame(values, FaceShape(lm.MOUTH_SHAPE, spread))
    b = make_renderer(kind).bind(rig).render_frame(values, shape=FaceShape(lm.MOUTH_SHAPE, spread))
    plain = make_renderer(kind).bind(rig).render_frame(values)
    assert a.box == b.box and np.array_equal(a.landmarks, b.landmarks)
    assert np.abs(a.rgb.astype(int) - b.rgb.astype(int)).max() <= 1
    assert np.abs(a.landmarks - plain.landmarks).max() > 1.0    # the shape was used, not dropped


def _profile(image, top, bottom, n=10):
    """Colours (n, 3) sampled down the segment from `top` to `bottom`, 40% to 90% of the way (below the seam
    line drawn where closed lips meet, and off the outer edge)."""
    import cv2

    t = np.linspace(0.4, 0.9, n, dtype=np.float32)[:, None]
    p = (np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t)
    return cv2.remap(image, p[:, :1].reshape(1, n), p[:, 1:].reshape(1, n), cv2.INTER_LINEAR)[0].astype(float)


def test_the_lower_lip_moves_as_one_piece(bound):
    """Every ring of the lower lip rides on the jaw, with channels or with a shape: MediaPipe's ring between
    the outer and middle contours (16, 85, 315, ...) once stayed behind and folded the lip into a band."""
    d = bound.deformer
    jaw = d.basis["jaw"] @ d.v
    for ring in (lm.LIP_OUTER_LOWER, lm.LIP_RING_LOWER, lm.LIP_MID_LOWER, lm.LIP_INNER_LOWER):
        assert np.allclose(jaw[list(ring[2:-2])], jaw[lm.LOWER_LIP_CENTER], rtol=1e-4), ring
    # A mouth shape that opens the mouth while the jaw channel rests carries the ring along with the lips.
    wide = d.targets({"jaw": 0.8})
    shape = d.shape_of(wide, {}, lm.MOUTH_SHAPE)
    ring = list(lm.LIP_RING_LOWER[2:-2])
    assert np.abs(d.targets({"jaw": 0.0}, shape)[ring] - wide[ring]).max() < 0.5


def test_closing_an_open_photo_keeps_its_lower_lip(bound):
    """The sample photo shows its teeth; closed, its lower lip is the photo's own lip moved up, not folded:
    the colours down the middle of the lower lip, inner edge to outer, are the photo's."""
    photo = bound.rig.image
    L = bound.rig.landmarks[:, :2]
    f = bound.render_frame({"jaw": 0.0})
    T = f.landmarks
    assert T[lm.LOWER_LIP_CENTER, 1] < L[lm.LOWER_LIP_CENTER, 1] - 5      # the lip did move up
    for top, bottom in ((lm.LOWER_LIP_CENTER, 17), (87, 84), (317, 314)):
        want = _profile(photo, L[top], L[bottom])
        got = _profile(_paste(bound, f), T[top], T[bottom])
        assert np.abs(got - want).mean() < 3, (top, np.abs(got - want).mean())


def test_exact_lips_copy_the_photo_triangle_by_triangle(rig):
    """The mouth box is the photo's own pixels carried by each landmark triangle: with every landmark moved by
    (3, 2) pixels it is the photo moved by (3, 2) pixels."""
    from avatarkit.render.lips import ExactLips

    d = FaceDeformer(rig)
    lips = ExactLips(d)
    import cv2

    # The lips (inside their outer contour), where the box has its full weight.
    outer = d.rest[list(lm.LIP_OUTER_UPPER) + list(lm.LIP_OUTER_LOWER[::-1][1:-1])]
    lips_mask = np.zeros(rig.image.shape[:2], np.uint8)
    cv2.fillPoly(lips_mask, [np.round(outer).astype(np.int32)], 1)
    lips_mask = cv2.erode(lips_mask, np.ones((3, 3), np.uint8)) > 0
    ys, xs = np.nonzero(lips_mask)
    assert len(ys) > 100
    # What the box does not draw (a sliver it leaves to the smooth field) keeps the canvas, far from the photo.
    canvas = (rig.image.astype(int) + 100) % 256
    crop = canvas.astype(np.uint8)
    lips.draw(crop, (0, 0), d.rest)
    assert np.array_equal(crop, canvas)         # at rest the smooth field already gives the photo back
    for shift in ((1.0, 0.0), (3.0, 2.0)):
        crop = canvas.astype(np.uint8)
        lips.draw(crop, (0, 0), d.rest + np.float32(shift))
        dx, dy = int(shift[0]), int(shift[1])
        drawn = crop[ys + dy, xs + dx].astype(int)
        same = (np.abs(drawn - rig.image[ys, xs]).max(1) <= 1).mean()
        assert same > 0.97, (shift, same)


def test_exact_lips_survive_degenerate_and_tangled_targets(rig):
    """A target may fold, collapse or tangle the mouth (a measured face, a model's odd frame): the box is still
    drawn, from the photo, without an error."""
    from avatarkit.render.lips import ExactLips

    d = FaceDeformer(rig)
    lips = ExactLips(d)
    rng = np.random.default_rng(0)
    collapsed = d.rest.copy()
    collapsed[list(lm.MOUTH_SHAPE)] = rig.mouth_center
    for target in (collapsed, d.rest + rng.normal(0, 4, d.rest.shape).astype(np.float32)):
        crop = rig.image.copy()
        lips.draw(crop, (0, 0), target)
        assert crop.shape == rig.image.shape and crop.dtype == np.uint8
