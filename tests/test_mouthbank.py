"""The mouth bank (issue 26): its metrics, build, retrieval, paste and the `bank` renderer kind."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from avatarkit.eval import metrics as M
from avatarkit.mouthbank import (
    CONTOUR,
    HEIGHT,
    HELD_OUT,
    WIDTH,
    MouthBank,
    descriptor,
    load_bank,
    outer_ring,
    paste,
    retrieve,
    to_canonical,
)
from avatarkit.mouthbank.retrieve import OnlineRetriever

TALKING = Path(__file__).resolve().parents[1].parent / "shared" / "media" / "talking"


def _texture(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (size // 4, size // 4, 3), np.uint8)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)


def _contour(cx: float, cy: float, w: float, gap: float) -> np.ndarray:
    """A synthetic inner-lip loop in CONTOUR order: 11 upper points corner to corner, 9 lower back."""
    xs = np.linspace(-1, 1, 11)
    upper = np.stack([cx + xs * w / 2, cy - gap / 2 * (1 - xs ** 2)], 1)
    lower = np.stack([cx + xs * w / 2, cy + gap / 2 * (1 - xs ** 2)], 1)[::-1][1:-1]
    return np.concatenate([upper, lower])


def _bank(n: int = 12, seed: int = 0) -> MouthBank:
    crops, shapes = [], []
    for i in range(n):
        gap = 4 + 2 * i
        s = to_canonical(_contour(48, 26, 60, gap))
        c = np.full((HEIGHT, WIDTH, 3), (200, 120, 110), np.uint8)
        cv2.fillPoly(c, [np.round(s).astype(np.int32)], (60 + 10 * i, 20, 20))
        crops.append(c)
        shapes.append(s)
    # Neighbouring shapes come from different clips, so no switch between them is free.
    return MouthBank.from_entries(crops, shapes, [i % 2 for i in range(n)], [10 * i for i in range(n)], ["a", "b"])


# -- metrics ---------------------------------------------------------------------------------

def test_sharpness_ratio_blur_below_one_sharpen_above():
    real = _texture()
    blurred = cv2.GaussianBlur(real, (0, 0), 1.5)
    sharpened = cv2.addWeighted(real, 2.0, cv2.GaussianBlur(real, (0, 0), 1.5), -1.0, 0)
    assert M.sharpness_ratio(real, real) == pytest.approx(1.0)
    assert M.sharpness_ratio(blurred, real) < 0.8
    assert M.sharpness_ratio(sharpened, real) > 1.25


def test_inner_mouth_error_zero_for_identical_and_measures_difference():
    real = _texture(1)
    poly = _contour(32, 32, 40, 20)
    assert M.inner_mouth_error(real, real, poly) == 0.0
    other = real.copy()
    other[...] = np.clip(real.astype(int) + 10, 0, 255).astype(np.uint8)
    mask = np.zeros(real.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly * 8).astype(np.int32)], 1, cv2.LINE_8, shift=3)
    expected = np.abs(other.astype(float) - real)[mask.astype(bool)].mean()
    assert M.inner_mouth_error(other, real, poly) == pytest.approx(expected)
    assert np.isnan(M.inner_mouth_error(real, real, np.full((20, 2), -50.0)))


# -- the bank ------------------------------------------------------------------------------------

def test_bank_round_trip_and_descriptors(tmp_path):
    b = _bank()
    p = tmp_path / "bank.npz"
    b.save(p)
    c = load_bank(p)
    assert len(c) == len(b) and c.clips == ["a", "b"]
    assert c.crop(3).shape == (HEIGHT, WIDTH, 3)
    assert np.abs(c.crop(3).astype(int) - b.crop(3)).mean() < 3       # JPEG
    assert np.allclose(c.descriptors, b.descriptors, atol=2e-3)
    # The descriptor ignores where the mouth is, how big and how turned it is.
    d = _contour(100, 80, 50, 20)
    th = 0.2
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    assert np.allclose(descriptor(d), descriptor(1.7 * d @ R.T + [5, -3]), atol=1e-4)
    # Teeth: the dark interiors of the synthetic bank show none.
    assert (c.teeth < 0.05).all()


def test_retrieve_matches_shape_and_is_smooth():
    b = _bank()
    # Held shapes far apart: the path follows them, each on its own entry.
    want = np.repeat([0, 6, 11, 3], 5)
    targets = np.stack([descriptor(_contour(0, 0, 60, 4 + 2 * i)) for i in want])
    # (Shape alone: entry 0, barely open, is mostly lip inside and the lip-share prior would avoid it.)
    assert (retrieve(b, targets, k=4, prior=np.zeros(len(b), np.float32)) == want).all()
    # A target that wobbles between two nearby shapes stays on one entry rather than flickering.
    wobble = np.stack([descriptor(_contour(0, 0, 60, 9 + (0.4 if t % 2 else -0.4))) for t in range(20)])
    path = retrieve(b, wobble, k=4)
    assert len(set(path.tolist())) == 1
    online = OnlineRetriever(b, k=4)
    picks = [online.step(d) for d in wobble]
    assert len(set(picks[2:])) == 1


def test_lip_share_and_own_mouths_steer_retrieval():
    from avatarkit.mouthbank import lip_share
    from avatarkit.mouthbank.retrieve import OTHERS, entry_prior

    b = _bank()
    # Inside entry 6 is the dark cavity: little lip; a copy painted lip-coloured inside is all lip.
    s6 = b.shapes[6].astype(np.float64)
    lipfilled = np.full((HEIGHT, WIDTH, 3), (200, 120, 110), np.uint8)
    assert lip_share(b.crop(6), s6, b.light[6]) < 0.2 and lip_share(lipfilled, s6, b.light[6]) > 0.8
    # A bank holding that lip-filled copy of entry 6's shape: retrieval prefers the real cavity one gap away.
    twin = MouthBank.from_entries([lipfilled], [s6], [0], [0], ["c"])
    both = twin.joined(b)
    assert both.clips == ["c", "a", "b"] and len(both) == len(b) + 1
    target = descriptor(_contour(0, 0, 60, 16))
    assert retrieve(both, target[None], k=4)[0] != 0
    assert retrieve(both, target[None], k=4, prior=np.zeros(len(both), np.float32))[0] == 0
    # The person's own mouths win over a slightly closer shape from anyone else's.
    own = np.zeros(len(b), bool)
    own[5] = True
    prior = entry_prior(b, own)
    assert prior[6] - prior[5] == pytest.approx(OTHERS, abs=0.5)
    assert retrieve(b, target[None], k=4, prior=prior)[0] == 5


def test_paste_changes_only_inside_the_lips():
    b = _bank()
    frame = _texture(2, 128)
    before = frame.copy()
    contour = _contour(64, 70, 50, 16)
    box = paste(frame, contour, b.crop(5), b.shapes[5], b.light[5])
    assert box != (0, 0, 0, 0)
    # The blend reaches `GROW` lip rings past the inner lips (over the inner lip edge), and no further.
    from avatarkit.mouthbank import RING
    from avatarkit.mouthbank.paste import GROW

    far = np.ones((128, 128), np.uint8)
    cv2.fillPoly(far, [np.round(outer_ring(contour, 4.0 + GROW * RING * 50)).astype(np.int32)], 0)
    assert (frame[far.astype(bool)] == before[far.astype(bool)]).all()
    inside = np.zeros((128, 128), np.uint8)
    cv2.fillPoly(inside, [np.round(outer_ring(contour, -3.0)).astype(np.int32)], 1)
    assert np.abs(frame.astype(int) - before)[inside.astype(bool)].mean() > 20
    # Closed lips: nothing changes.
    closed = frame.copy()
    assert paste(closed, _contour(64, 70, 50, 0.2), b.crop(0), b.shapes[0], b.light[0]) == (0, 0, 0, 0)
    assert (closed == frame).all()


def test_held_out_speakers_are_not_in_the_shipped_bank():
    try:
        bank = load_bank()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no shipped bank ({e})")
    assert not set(bank.clips) & set(HELD_OUT)
    assert len(bank) > 500
    assert 0.02 < float(bank.teeth.mean()) < 0.8


@pytest.mark.skipif(not (TALKING / "grid_bbaf2n.mpg").is_file(), reason="../shared/media/talking is not here")
def test_build_from_real_frames(tmp_path):
    from avatarkit.mouthbank.build import build

    out = tmp_path / "bank.npz"
    bank = build(TALKING, out, clips=["grid_lbax4n"], max_frames=25, log=lambda *_: None)
    assert len(bank) > 3 and (tmp_path / "build.json").is_file()
    assert bank.clips == ["grid_lbax4n"]
    # Entries are real open mouths: their contours are open and sit where the canonical frame puts the corners.
    s = bank.shapes
    assert np.allclose(s[:, 0], [18, 26], atol=0.5) and np.allclose(s[:, 10], [78, 26], atol=0.5)
    assert (s[:, 15, 1] - s[:, 5, 1] > 1).all()


# -- the renderer kind ---------------------------------------------------------------------------

def _shipped_bank_or_skip():
    try:
        return load_bank()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no shipped bank ({e})")


def test_bank_renderer_changes_only_the_open_mouth(rig):
    from avatarkit.motion.track import MotionTrack
    from avatarkit.render.base import make_renderer

    _shipped_bank_or_skip()
    warp = make_renderer("warp").bind(rig)
    bank = make_renderer("bank").bind(rig)
    closed = {"jaw": 0.0}
    a, b = warp.render_frame(closed), bank.render_frame(closed)
    assert a.box == b.box and np.abs(a.rgb.astype(int) - b.rgb).max() <= 2
    a, b = warp.render_frame({"jaw": 0.9}), bank.render_frame({"jaw": 0.9})
    diff = np.abs(a.rgb.astype(int) - b.rgb).max(2) > 3
    assert diff.sum() > 50
    # Only the mouth changed: every changed pixel lies near the target inner lips.
    from avatarkit.mouthbank import RING
    from avatarkit.mouthbank.paste import GROW

    contour = b.landmarks[list(CONTOUR), :2] - b.box[:2]
    width = float(np.linalg.norm(contour[10] - contour[0]))
    near = np.zeros(diff.shape, np.uint8)
    cv2.fillPoly(near, [np.round(outer_ring(contour, 4.0 + GROW * RING * width)).astype(np.int32)], 1)
    assert not (diff & ~near.astype(bool)).any()
    # A whole track: one Viterbi pass, then frame by frame.
    track = MotionTrack.zeros(12, 25)
    track.values["jaw"][:] = np.linspace(0.1, 0.9, 12)
    frames = list(bank.frames(track))
    assert len(frames) == 12 and all(f.rgb.shape == frames[0].rgb.shape for f in frames)


def test_a_script_renders_with_the_bank_renderer(tmp_path):
    import avatarkit

    _shipped_bank_or_skip()
    root = Path(__file__).resolve().parents[1]
    script = tmp_path / "s.yaml"
    script.write_text("avatarkit: 1\ntitle: Bank\nlanguage: en\n"
                      f"defaults:\n  avatar: {root / 'samples' / 'avatar.png'}\n  voice: en-us-joe\n"
                      "  background: studio\n  resolution: 320x180\n  fps: 25\n"
                      "scenes:\n  - id: one\n    renderer: bank\n    segments:\n      - text: Open wide.\n",
                      encoding="utf-8")
    result = avatarkit.render(script, out_dir=tmp_path / "out")
    assert Path(result.video).is_file() and Path(result.video).stat().st_size > 1000 and result.frames > 10


def test_retrieval_prefers_the_targets_teeth_share():
    # Two entries of one shape: one dark cavity, one showing teeth (bright, unsaturated).
    s = to_canonical(_contour(48, 26, 60, 16))
    dark = np.full((HEIGHT, WIDTH, 3), (200, 120, 110), np.uint8)
    teeth = dark.copy()
    cv2.fillPoly(dark, [np.round(s).astype(np.int32)], (50, 15, 15))
    cv2.fillPoly(teeth, [np.round(s).astype(np.int32)], (235, 232, 225))
    b = MouthBank.from_entries([dark, teeth], [s, s], [0, 1], [0, 0], ["a", "b"])
    assert b.teeth[0] < 0.1 < 0.9 < b.teeth[1]
    d = np.stack([descriptor(_contour(0, 0, 60, 16))] * 3)
    assert (retrieve(b, d, k=2, teeth=1.0) == 1).all() and (retrieve(b, d, k=2, teeth=0.0) == 0).all()
    assert OnlineRetriever(b, k=2, teeth=1.0).step(d[0]) == 1


def test_bank_without_clips_drops_their_entries():
    b = _bank()
    sub = b.without(["a"])
    assert len(sub) == 6 and (sub.clip == 1).all()
    assert np.array_equal(sub.crop(0), b.crop(1)) and np.array_equal(sub.shapes[0], b.shapes[1])
