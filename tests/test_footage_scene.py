"""The footage renderer for scenes and live sessions (kind `footage`): a footage avatar's own frames and mouths.

The avatar is made from 4 s of a real presenter in `../shared/media/talking` (skipped when it is absent),
with no training; MediaPipe reads the rendered mouths.
"""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import ROOT, SAMPLES

MEDIA = ROOT.parent / "shared" / "media" / "talking"
CLIP = MEDIA / "usgov_styletalk_KristiNoem_muxed.mp4"

needs_footage = pytest.mark.skipif(not CLIP.is_file(), reason=f"{CLIP} (real talking footage) is not here")


@pytest.fixture(scope="module")
def avatar(tmp_path_factory):
    from avatarkit.eval.footage import cut_clip
    from avatarkit.face.avatar import add_avatar

    tmp = tmp_path_factory.mktemp("footage-avatar")
    clip = cut_clip(CLIP, tmp / "noem4.mp4", 0, 120)
    consent = tmp / "consent.txt"
    consent.write_text("I agree.")
    return add_avatar("noem", clip, consent, home=tmp / "home")


@pytest.fixture(scope="module")
def bound(avatar):
    from avatarkit.face.avatar import rig_for
    from avatarkit.render.base import make_renderer

    return make_renderer("footage").bind(rig_for(avatar.folder))


def _opening(rgb):
    from avatarkit.eval.metrics import mouth_opening
    from avatarkit.face.detect import detect_landmarks

    return float(mouth_opening(detect_landmarks(rgb)[None])[0])


@needs_footage
def test_the_mouth_follows_the_channels_and_the_rest_is_the_footage(bound):
    from avatarkit.face import landmarks as lm

    jaws = [0.0, 0.6, 0.0, 0.9, 0.3, 0.0, 0.6, 0.9, 0.0]
    start = bound.i
    frames = [bound.render_frame({"jaw": j}) for j in jaws]
    opening = np.array([_opening(f.rgb) for f in frames])
    assert np.corrcoef(jaws, opening)[0, 1] > 0.9, opening
    assert opening[[3, 7]].min() > opening[[0, 2, 5, 8]].max() + 0.1, opening
    upper = []
    for i, f in enumerate(frames):
        k = bound.clip.at(start + i)
        real = bound.clip.images[k]
        assert f.box == (0, 0, real.shape[1], real.shape[0]) and f.matte.shape == real.shape[:2]
        # Above the nose tip every pixel is the footage frame's own.
        top = int(bound.clip.points[k][lm.NOSE_TIP, 1]) - 2
        assert np.array_equal(f.rgb[:top], real[:top])
        upper.append(real[:120].astype(np.int16))
    # The idle clip plays: the head and eyes are not one still frame.
    assert max(np.abs(a - b).mean() for a, b in zip(upper, upper[1:])) > 0.5


def test_photos_are_refused_by_name(tmp_path):
    from avatarkit import Pipeline
    from avatarkit.errors import RenderError, ScriptError
    from avatarkit.face.rig import load_avatar
    from avatarkit.live import LiveConfig, LiveError
    from avatarkit.render.base import make_renderer
    from avatarkit.script import load_script

    with pytest.raises(RenderError, match="needs an avatar made from footage"):
        make_renderer("footage").bind(load_avatar(SAMPLES / "avatar.png"))
    script = tmp_path / "s.yaml"
    script.write_text("avatarkit: 1\ntitle: T\nlanguage: en\n"
                      f"defaults:\n  avatar: {SAMPLES / 'avatar.png'}\n  voice: en-us-joe\n"
                      "scenes:\n  - id: one\n    renderer: footage\n    segments:\n      - text: Hello.\n",
                      encoding="utf-8")
    with pytest.raises(ScriptError, match="renderer 'footage' needs an avatar made from footage") as e:
        load_script(script)
    assert e.value.line == 9 and e.value.field == "scenes[0].renderer"
    # Named for the whole render instead, it is refused before any speech is made, naming the scene.
    script.write_text(script.read_text().replace("    renderer: footage\n", ""), encoding="utf-8")
    with pytest.raises(RenderError, match=r"scene 1 \(one\): renderer 'footage' needs an avatar made from footage"):
        Pipeline(renderer="footage").prepare(script, tmp_path / "out", work=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    with pytest.raises(LiveError, match="live renderer 'paint'"):
        LiveConfig(renderer="paint")


@needs_footage
def test_each_avatar_gets_its_own_renderer_unless_one_is_named(avatar):
    from avatarkit.render.base import renderer_for

    assert renderer_for(avatar.folder) == "footage"
    assert renderer_for(SAMPLES / "avatar.png") == "warp"
    assert renderer_for(avatar.folder, "warp") == "warp" and renderer_for(SAMPLES / "avatar.png", "bank") == "bank"


@needs_footage
def test_a_script_scene_plays_a_footage_avatar_with_no_training(avatar, tmp_path):
    import av

    from avatarkit import Pipeline

    assert not avatar.trained
    script = tmp_path / "s.yaml"
    # No renderer named anywhere: the footage avatar's own kind, `footage`, draws it.
    script.write_text("avatarkit: 1\ntitle: Footage\nlanguage: en\n"
                      f"defaults:\n  avatar: {avatar.folder}\n  voice: en-us-joe\n"
                      "  background: studio\n  resolution: 320x180\n  fps: 25\n"
                      "scenes:\n  - id: one\n    segments:\n"
                      "      - text: Open wide and say aah.\n", encoding="utf-8")
    pipe = Pipeline()
    result = pipe.render(script, tmp_path / "out")
    assert [r.kind for r in pipe._renderers.values()] == ["footage"]
    with av.open(str(result.video)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == result.frames > 10
    opening = [_opening(np.ascontiguousarray(np.repeat(np.repeat(f, 3, 0), 3, 1))) for f in frames[::3]]
    assert max(opening) - min(opening) > 0.1, opening     # the mouth moves with the words


@needs_footage
def test_a_live_session_plays_the_footage_avatar(avatar):
    from avatarkit.live import LiveConfig, LiveSession
    from avatarkit.render.footage_scene import BoundFootageScene

    with LiveSession(LiveConfig(avatar=str(avatar.folder), width=480, height=270)) as s:
        assert isinstance(s.bound, BoundFootageScene)     # the footage avatar's own kind
        idle = [s.next_frame().rgb.copy() for _ in range(10)]
        s.say("Open wide and say aah.")
        assert s.wait_ready(30)
        speaking = [(f.rgb.copy(), f.audio.copy()) for f in (s.next_frame() for _ in range(60))]
    assert max(np.abs(a.astype(np.int16) - b).mean() for a, b in zip(idle, idle[1:])) > 0.05
    assert any(np.abs(audio).max() > 0.01 for _, audio in speaking)
    opening = [_opening(np.ascontiguousarray(np.repeat(np.repeat(rgb, 2, 0), 2, 1))) for rgb, _ in speaking[::4]]
    assert max(opening) - min(opening) > 0.08, opening


@needs_footage
def test_a_closed_mouth_over_an_open_footage_frame_shows_no_squeezed_teeth(bound, monkeypatch):
    """The warp presses the footage's open mouth shut; the teeth it squeezes must not show along the seam."""
    import cv2

    from avatarkit.mouthbank import CONTOUR

    scene = __import__("importlib").import_module("avatarkit.render.footage_scene")
    c = bound.clip
    gaps = [np.linalg.norm(p[CONTOUR[5]] - p[CONTOUR[15]]) for p in c.points]
    k = int(np.argmax(gaps))
    assert gaps[k] > 6, gaps    # the footage opens its mouth: something to squeeze

    def near_seam(rgb, t) -> np.ndarray:
        """Grey levels within 2 px of the middle of the inner lips (corners left out)."""
        seam = 0.5 * (t[1:10] + t[19:10:-1])
        near = np.zeros(rgb.shape[:2], np.uint8)
        cv2.polylines(near, [np.round(seam).astype(np.int32)], False, 1, 5)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[near > 0].astype(np.float32)

    def teeth_share(close: bool, brightest: float) -> float:
        """The share of the rendered seam brighter than anything on the person's own closed lips: teeth."""
        if not close:
            monkeypatch.setattr(scene, "needs_closing", lambda source, target: False)
        bound.i = k
        f = bound.render_frame({"jaw": 0.0, "press": 1.0})
        monkeypatch.undo()
        return float((near_seam(f.rgb, f.landmarks[list(CONTOUR)]) > brightest).mean())

    shut = int(np.argmin(gaps))     # the person's own most closed lips, as filmed
    brightest = float(near_seam(c.images[shut], c.points[shut][list(CONTOUR)]).max()) + 10
    squeezed, closed = teeth_share(False, brightest), teeth_share(True, brightest)
    assert squeezed > 0.05, squeezed        # without closing, the squeezed teeth show along the seam
    # Measured 0.11 against 0.20: what stays bright is the stretched lower lip's highlight, not teeth
    # (looked at); the person's most closed filmed frame has none.
    assert closed < 0.65 * squeezed, (closed, squeezed)


def test_untangle_keeps_the_lower_inner_lip_below_the_upper():
    from avatarkit.mouthbank import untangle

    x = np.linspace(0, 100, 11)
    upper = np.stack([x, 50 - 3 * np.sin(np.pi * x / 100)], 1)
    lower = upper.copy()
    lower[1:10, 1] += np.array([2, -2, 1, -3, 2, -1, 3, -2, 1])     # crossing the upper line in places
    loop = np.concatenate([upper, lower[9:0:-1]])
    for angle in (0.0, 0.3):            # the same for a tilted head
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        out = untangle(loop @ rot.T) @ rot
        assert np.all(out[19:10:-1, 1] - out[1:10, 1] >= -1e-9)
        kept = lower[1:10, 1] > upper[1:10, 1]
        assert np.allclose(out[19:10:-1][kept], lower[1:10][kept])       # pairs that were apart are untouched


def test_closing_a_seam_reads_a_crop_as_it_reads_the_whole_frame():
    """Dubbing warps a crop of the frame (with its origin), a scene the whole frame: the same pixels result."""
    import cv2

    from avatarkit.render.footage import _Warp, apply_warp, close_seam, needs_closing

    rng = np.random.default_rng(0)
    cx, cy = 420, 210                       # far enough from the corner that a crop's origin matters
    frame = np.full((300, 600, 3), (170, 120, 110), np.uint8)
    cv2.ellipse(frame, (cx, cy), (40, 14), 0, 0, 360, (120, 60, 60), -1)     # lips
    cv2.ellipse(frame, (cx, cy), (30, 8), 0, 0, 360, (235, 235, 225), -1)    # teeth
    frame = np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)
    t = np.linspace(0, np.pi, 11)
    upper = np.stack([cx - 30 * np.cos(t), cy - 8 * np.sin(t)], 1)
    lower = np.stack([cx - 30 * np.cos(t), cy + 8 * np.sin(t)], 1)
    source = np.concatenate([upper, lower[9:0:-1]])
    target = source.copy()
    target[:, 1] = cy + 0.1 * (source[:, 1] - cy)           # pressed nearly shut
    assert needs_closing(source, target)
    box = (cx - 50, cy - 25, cx + 50, cy + 25)
    yy, xx = np.mgrid[box[1]:box[3], box[0]:box[2]].astype(np.float32)
    # Output row y shows input row y - dy: rows near the seam read from further out (a squeeze).
    dy = ((yy - cy) * -1.5 * np.clip(1 - np.abs(xx - cx) / 45, 0, 1)).astype(np.float32)
    warp = _Warp(box, np.zeros_like(dy), dy, 40)
    inner = (slice(box[1], box[3]), slice(box[0], box[2]))

    warped = apply_warp(warp, frame)
    whole = frame.copy()
    whole[inner] = warped
    close_seam(whole[inner], warp, source, target, frame.shape[:2])

    crop = (box[0] - 40, box[1] - 45, box[2] + 50, box[3] + 45)     # x0, y0, x1, y1: the box and its reach
    src = frame[crop[1]:crop[3], crop[0]:crop[2]]
    # (The colour warps of the two differ in the last bit: remap's sub-pixel steps depend on the origin.)
    assert np.abs(apply_warp(warp, src, (crop[0], crop[1])).astype(int) - warped).max() <= 2
    part = warped.copy()
    close_seam(part, warp, source, target, src.shape[:2], (crop[0], crop[1]))
    assert np.array_equal(part, whole[inner])
    changed = np.abs(part.astype(int) - warped).sum(2) > 30
    assert changed.sum() > 50, changed.sum()                  # the squeezed teeth were painted over


@needs_footage
def test_sessions_showing_one_avatar_share_its_idle_clip(avatar):
    from avatarkit.face.avatar import rig_for
    from avatarkit.render.base import make_renderer

    first, other = (make_renderer("footage").bind(rig_for(avatar.folder)) for _ in range(2))
    assert other.clip is first.clip                      # decoded once, not once per session
    with pytest.raises(ValueError):
        other.clip.images[0][0, 0] = 0                   # read-only: no session can draw on another's frames
    before = [im.copy() for im in first.clip.images[:3]]
    for j in (0.0, 0.8, 0.0):
        other.render_frame({"jaw": j})
    assert all(np.array_equal(a, b) for a, b in zip(before, first.clip.images[:3]))


@needs_footage
def test_the_shared_idle_clips_are_bounded_in_bytes(avatar, monkeypatch):
    import gc
    import weakref

    from avatarkit.face import avatar as avatars

    monkeypatch.setattr(avatars, "_CLIPS", avatars.OrderedDict())
    monkeypatch.setattr(avatars, "_SHOWN", weakref.WeakValueDictionary())
    small = avatars.shared_idle_clip(avatar, 320, 180)
    assert small.nbytes == sum(a.nbytes for a in small.images + small.mattes) > 0
    assert avatars.shared_idle_clip(avatar, 320, 180) is small             # kept: asked again, not decoded again
    # Room for one small clip and one larger one, not for a third: the oldest goes first.
    monkeypatch.setattr(avatars, "KEEP_CLIPS", 3)
    monkeypatch.setattr(avatars, "KEEP_CLIP_BYTES", small.nbytes * 4)
    larger = avatars.shared_idle_clip(avatar, 480, 270)
    assert [id(c) for c in avatars._CLIPS.values()] == [id(small), id(larger)]
    avatars.shared_idle_clip(avatar, 352, 198)
    assert all(c is not small for c in avatars._CLIPS.values()) and len(avatars._CLIPS) == 2
    # A clip over the bound on its own is still made and shared while it is the one last asked for; one that
    # was let go while a session still shows it is that session's, not decoded a second time.
    monkeypatch.setattr(avatars, "KEEP_CLIP_BYTES", 1)
    assert avatars.shared_idle_clip(avatar, 320, 180) is small
    assert [id(c) for c in avatars._CLIPS.values()] == [id(small)]
    # Shown by nobody and not kept: gone, and made anew when asked for.
    shape = larger.images[0].shape
    del larger
    gc.collect()
    again = avatars.shared_idle_clip(avatar, 480, 270)
    assert again.images[0].shape == shape and [id(c) for c in avatars._CLIPS.values()] == [id(again)]
