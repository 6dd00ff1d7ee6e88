"""The motion graph over footage, the footage dubbing renderer and one-shot `avatarkit dub`.

Graph tests use synthetic tracks (a head swaying smoothly, with blinks and a camera cut); the
renderer and dub tests use 3 s of a real presenter cut from `../shared/media/talking` and are
skipped when that folder is absent. Every MP4 written is decoded and checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pytest

from avatarkit.motion.graph import ANCHORS, FootageNodes, GraphConfig, MotionGraph, plan_footage, speech_onsets

from .audiofiles import speech, write_audio
from .conftest import ROOT

MEDIA = ROOT.parent / "shared" / "media" / "talking"
CLIP = MEDIA / "usgov_styletalk_KristiNoem_muxed.mp4"
real = pytest.mark.skipif(not CLIP.is_file(), reason=f"{CLIP} (real talking footage) is not here")


@dataclass
class FakeTrack:
    fps: float
    landmarks: np.ndarray
    good: np.ndarray
    features: dict = field(default_factory=dict)


def _face(n: int, seed: int = 0, cut: int | None = None) -> FakeTrack:
    """A 100 px-IOD face whose head sways smoothly (several periods), blinking every 3 s; after frame `cut` the
    camera has moved 80 px (a cut in the footage)."""
    from avatarkit.face import landmarks as lm

    rng = np.random.default_rng(seed)
    base = rng.normal(0, 40, (478, 2)) + [320, 240]
    base[list(lm.LEFT_EYE_UPPER + lm.LEFT_EYE_LOWER + lm.LEFT_EYE_CORNERS)] = [270, 200]
    base[list(lm.RIGHT_EYE_UPPER + lm.RIGHT_EYE_LOWER + lm.RIGHT_EYE_CORNERS)] = [370, 200]
    t = np.arange(n)
    shift = np.stack([12 * np.sin(t / 13.0) + 5 * np.sin(t / 5.1), 6 * np.sin(t / 17.0 + 1)], 1)
    if cut is not None:
        shift[cut:] += [80, 0]
    L = np.concatenate([base[None] + shift[:, None], np.zeros((n, 478, 1))], 2).astype(np.float32)
    blink = np.zeros(n, bool)
    for b in range(40, n, 75):
        blink[b:b + 4] = True
    return FakeTrack(25.0, L, np.ones(n, bool), {"blink": blink, "eyes": np.where(blink[:, None], 0.05, 0.3) *
                                                  np.ones((n, 2))})


def _anchor_rms(track: FakeTrack, a: int, b: int) -> float:
    P = track.landmarks[:, list(ANCHORS), :2].astype(np.float64)
    return float(np.sqrt(((P[a] - P[b]) ** 2).sum(1).mean()) / 100.0)


def test_graph_cuts_only_between_similar_poses_and_never_in_a_blink():
    track = _face(600, cut=300)
    cfg = GraphConfig()
    plan = plan_footage(track, 900, seed=1, config=cfg)
    assert len(plan) == 900 and (plan.source >= 0).all() and (plan.source < 600).all()
    blends = [c for c in plan.cuts if c.kind == "blend"]
    assert len(blends) >= 10, plan.cuts          # it really re-times
    blink = track.features["blink"]
    for c in blends:
        # The frame that would have followed `from_` looks like `to` (pose and velocity within tolerance) ...
        assert c.cost <= cfg.tolerance
        assert _anchor_rms(track, c.from_ + c.direction, c.to) <= cfg.tolerance
        # ... which rules out crossing the camera cut at frame 300 (80 px = 0.8 IOD away).
        assert (c.from_ < 300) == (c.to < 300)
        lo, hi = sorted((c.from_ + c.direction, c.from_ + c.direction * cfg.blend))   # the frames faded out
        assert not blink[max(0, lo - 1):hi + 2].any()
        assert not blink[max(0, c.to - 1):c.to + cfg.blend + 1].any()                  # and faded in
    # Every jump of the source is one of the recorded cuts, and is cross-faded; a repeated frame is a hold.
    jumps = np.flatnonzero(np.abs(np.diff(plan.source)) > 1) + 1
    assert set(jumps) <= {c.at for c in blends}
    repeats = np.flatnonzero(np.diff(plan.source) == 0) + 1
    held = {c.at + k for c in plan.cuts if c.kind in ("hold",) for k in range(cfg.max_hold + 1)}
    assert set(repeats) <= held
    for c in blends:
        if c.at < len(plan):
            assert plan.blend_from[c.at] == c.from_ + c.direction and 0 < plan.blend_weight[c.at] < 1


def test_graph_never_replays_a_stretch_back_to_back_and_spreads_its_use():
    track = _face(500)
    plan = plan_footage(track, 1500, seed=3)
    assert not [c for c in plan.cuts if c.kind == "reverse"]     # enough footage: no turning round
    segs = plan.segments()
    assert len(segs) > 20
    for (_, s0, n0), (_, s1, n1) in zip(segs, segs[1:]):
        assert s1 + n1 <= s0 or s1 >= s0 + n0, (s0, n0, s1, n1)     # no overlap with the stretch just played
    used = np.bincount(plan.source, minlength=500)
    assert (used > 0).mean() > 0.8                              # most of the footage is used


def test_graph_is_deterministic_by_seed_and_meets_onsets_with_motion():
    track = _face(500)
    a, b = plan_footage(track, 600, seed=5), plan_footage(track, 600, seed=5)
    assert (a.source == b.source).all() and (a.blend_weight == b.blend_weight).all()
    assert (plan_footage(track, 600, seed=6).source != a.source).any()
    # Onsets every 1.2 s: with them the plan puts more head motion there than without.
    onsets = np.zeros(600, np.float32)
    onsets[15::30] = 1.0
    nodes = FootageNodes.from_track(track)
    plain = np.mean([nodes.motion[plan_footage(track, 600, seed=s).source][onsets > 0].mean() for s in range(4)])
    pulled = np.mean([nodes.motion[plan_footage(track, 600, onsets, seed=s).source][onsets > 0].mean()
                      for s in range(4)])
    assert pulled > plain


def test_short_footage_turns_round_and_holds_only_when_still_with_eyes_open():
    track = _face(40)
    track.features["blink"][:] = False
    track.features["eyes"][:] = 0.3
    cfg = GraphConfig(min_segment=15, max_segment=30)
    nodes = FootageNodes.from_track(track, cfg)
    plan = MotionGraph(nodes, cfg).plan(200, seed=0)
    assert len(plan) == 200
    assert any(c.kind == "reverse" for c in plan.cuts)
    for c in plan.cuts:
        if c.kind == "hold":
            assert nodes.still[c.from_]
    # Each step of the plan is a neighbouring frame, the same frame (hold) or a cross-faded cut.
    jumps = np.flatnonzero(np.abs(np.diff(plan.source)) > 1) + 1
    assert set(jumps) <= {c.at for c in plan.cuts if c.kind == "blend"}


def test_speech_onsets_mark_where_speech_starts():
    sr, fps = 16000, 25
    x = np.zeros(sr * 3, np.float32)
    x[sr // 2: sr] = 0.3 * np.sin(np.arange(sr // 2) * 0.2)      # speech from 0.5 s to 1 s
    x[2 * sr: int(2.5 * sr)] = 0.3 * np.sin(np.arange(sr // 2) * 0.3)
    on = speech_onsets(x, sr, fps, 75)
    peaks = np.flatnonzero(on > 0.3)
    assert peaks.size >= 2 and all(abs(p - 12) <= 3 or abs(p - 50) <= 3 for p in peaks), peaks


# -- the renderer and one-shot dubbing on real footage -----------------------------------------------------------

@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """3 s (90 frames, 30 fps) of a real presenter, with sound."""
    from avatarkit.eval.footage import cut_clip

    return cut_clip(CLIP, tmp_path_factory.mktemp("clip") / "noem3.mp4", 0, 90)


def _decode(path: Path) -> tuple[list[np.ndarray], float, str]:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        comment = c.metadata.get("comment", "")
    with av.open(str(path)) as c:
        dur = sum(f.samples for f in c.decode(audio=0)) / 48000
    return frames, dur, comment


@real
def test_one_shot_dub_of_a_clip(clip, tmp_path):
    from avatarkit.eval.metrics import mouth_opening
    from avatarkit.face.detect import reset_tracking, try_detect_landmarks
    from avatarkit.face.footage import video_frames
    from avatarkit.recordings.dub import dub

    audio, sr, _ = speech(4)
    wav = write_audio(tmp_path / "new.wav", audio, sr)
    out = tmp_path / "dubbed.mp4"
    events = []
    r = dub(clip, out, audio=wav, captions=False, home=tmp_path / "nohome", progress=events.append)
    assert r.renderer == "footage" and not (tmp_path / "nohome").exists()   # no avatar made or needed
    got, dur, comment = _decode(out)
    assert len(got) == r.frames == int(np.ceil(audio.size / sr * 30))        # longer than the clip: re-timed
    assert abs(dur - r.frames / 30) < 0.05 and "AI-generated" in comment
    assert {e.stage for e in events} >= {"landmarks", "render"}
    assert list(tmp_path.glob(".*")) == []                                   # no partial file left
    src = list(video_frames(clip))
    h = src[0].shape[0]
    x0, y0, x1, y1 = r.label_box
    # Above the mouth every frame is one of the clip's own frames (or a cross-fade of two), up to the codec.
    reset_tracking()
    openings, worst = [], 0.0
    stack = np.stack(src).astype(np.int16)
    for j in range(0, len(got), 3):
        pts = try_detect_landmarks(got[j])
        assert pts is not None
        openings.append(float(mouth_opening(pts[None, :, :2])[0]))
        if j % 6:
            continue
        top = int(pts[2, 1]) - 4          # the base of the nose: the warp and the mouth stay below it
        region = np.ones(got[j].shape[:2], bool)
        region[top:] = False
        region[max(0, y0 - 4):y1 + 4, max(0, x0 - 4):x1 + 4] = False
        diff = float(np.abs(stack[:, region] - got[j][region].astype(np.int16)).mean(axis=(1, 2)).min())
        worst = max(worst, diff)
    assert worst < 4.0, worst
    assert 0 < top < h
    # The mouth moves with the new speech.
    assert np.std(openings) > 0.02 and max(openings) > 0.1, openings
    assert np.abs(got[0][y0:y1, x0:x1].astype(int) - src[0][y0:y1, x0:x1]).mean() > 10   # the label


@real
def test_dub_keeps_the_clip_length_for_short_speech_and_names_faceless_seconds(clip, tmp_path):
    from avatarkit.errors import FaceError
    from avatarkit.media.writer import VideoWriter
    from avatarkit.recordings.dub import dub

    audio, sr, _ = speech(1)
    wav = write_audio(tmp_path / "short.wav", audio, sr)
    r = dub(clip, tmp_path / "o.mp4", audio=wav, captions=False)
    got, dur, _ = _decode(r.video)
    assert len(got) == r.frames == 90 and r.stretch == 1.0 and abs(dur - 3.0) < 0.05
    # After the 1 s of speech the mouth rests. (The jaw's rank once decided the opening with ties broken by
    # position: through silence, a track of zeros, the mouth opened wider and wider.)
    from avatarkit.eval.metrics import mouth_opening
    from avatarkit.face.detect import reset_tracking, try_detect_landmarks

    reset_tracking()
    rest = [float(mouth_opening(try_detect_landmarks(f)[None, :, :2])[0]) for f in got[50::4]]
    assert max(rest) < 0.03, rest
    # A clip with no face at all: the error names the seconds, and nothing is written.
    blank = tmp_path / "blank.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(blank, 128, 96, 25, 48000) as w:
        for _ in range(75):
            w.write_frame(rng.integers(90, 110, (96, 128, 3), dtype=np.uint8))
        w.write_audio(np.zeros(48000 * 3, np.float32))
    with pytest.raises(FaceError, match=r"no usable face at 0\.0-3\.0 s"):
        dub(blank, tmp_path / "b.mp4", audio=wav, captions=False)
    assert not (tmp_path / "b.mp4").exists() and not list(tmp_path.glob(".b*"))


@real
def test_dub_command_one_shot(clip, tmp_path):
    from typer.testing import CliRunner

    from avatarkit.cli.main import app

    wav = write_audio(tmp_path / "n.wav", *speech(2)[:2])
    r = CliRunner().invoke(app, ["dub", str(clip), "--audio", str(wav), "--out", str(tmp_path / "d.mp4"),
                                 "--no-captions", "--home", str(tmp_path / "h")])
    assert r.exit_code == 0, r.output
    said = " ".join(r.output.split())
    assert "footage renderer" in said and (tmp_path / "d.mp4").is_file()
    r = CliRunner().invoke(app, ["dub", str(clip), "--audio", str(wav), "--out", str(tmp_path / "e.mp4"),
                                 "--renderer", "painted"])
    assert r.exit_code != 0 and "footage, diffusion" in " ".join(r.output.split())


@real
def test_dub_from_text_writes_captions_of_its_own_words(clip, tmp_path):
    # A text dub wrote no captions and tagged its sound `und`; its words and their times are known.
    from avatarkit.recordings.dub import dub

    text = tmp_path / "t.txt"
    text.write_text("Hello there. Welcome to the course.", encoding="utf-8")
    r = dub(clip, tmp_path / "t.mp4", text=text, voice="en-us-joe")
    vtt = r.captions["vtt"].read_text(encoding="utf-8")
    assert r.captions["vtt"].name == "t.en.vtt" and r.language == "en"
    assert "[AI-generated video]" in vtt and "Hello there." in vtt and "Welcome to the course." in vtt
    with av.open(str(r.video)) as c:
        assert c.streams.audio[0].metadata.get("language") in ("en", "eng")
