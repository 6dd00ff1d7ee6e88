"""Head, brows and blinks replayed from real presenters (`motion.library`, `motion.replay`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avatarkit.motion import MotionConfig, PhonemeMotion
from avatarkit.motion.animate import POSE_LIMITS
from avatarkit.motion.library import DATA, HELD_OUT, load, replay_blinks, replay_head
from avatarkit.motion.measure import angles, motion_stats
from avatarkit.script.model import Gesture
from avatarkit.speech.utterance import Phone, Utterance, Word

SR, FPS, SPF = 48000, 25, 1920


def _speech(total_s: float, seed: int = 0) -> Utterance:
    """Running speech: 0.25 s syllables in phrases of 2-4 s with short breaths between, some emphasis."""
    rng = np.random.default_rng(seed)
    n = int(total_s * SR) // SPF * SPF
    phones, words, t, k = [], [], 0.3, 0
    while t < total_s - 1.0:
        end = min(total_s - 0.8, t + rng.uniform(2.0, 4.0))
        while t < end:
            phones.append(Phone("a", int(t * SR), int((t + 0.25) * SR)))
            words.append(Word("la", int(t * SR), int((t + 0.25) * SR), k, bool(rng.random() < 0.1)))
            t += 0.3
            k += 1
        t += rng.uniform(0.3, 0.8)
    return Utterance(np.zeros(n, np.float32), SR, phones, words)


def test_library_loads_and_is_small():
    assert DATA.stat().st_size < 100_000
    lib = load()
    seg = lib["segments"]
    assert seg.ndim == 3 and seg.shape[0] >= 50 and seg.shape[1] == 4
    assert np.all(np.isfinite(seg)) and np.abs(seg[:, :3]).max() < 0.5
    assert 0.3 < float(lib["pause_gain"]) <= 1.0 and float(lib["onset_gain"]) >= 1.0
    meta = json.loads(DATA.with_name("motion_library.json").read_text())
    assert "python -m avatarkit.motion.library" in meta["command"] and meta["seed"] == 0
    assert not set(meta["train"]) & set(HELD_OUT)


def test_angles_follow_the_track_conventions():
    from scipy.spatial.transform import Rotation

    for axis, name in ((np.array([0.05, 0, 0]), "pitch"), (np.array([0, -0.05, 0]), "yaw"),
                       (np.array([0, 0, 0.05]), "roll")):
        got = dict(zip(("yaw", "pitch", "roll"), angles(Rotation.from_rotvec(axis).as_matrix())))
        assert got[name] == pytest.approx(0.05) and sum(abs(v) for v in got.values()) == pytest.approx(0.05)


def test_driven_track_moves_like_real_presenters():
    """Over two minutes of running speech the head's statistics sit in a band about the training
    presenters' (yaw 4.9, pitch 2.7, roll 3.0 degrees std; held-out ones: 7.1, 6.1, 4.8) and far above
    the old rules (0.4-0.7 degrees); blinks at a human rate."""
    u = _speech(120.0)
    m = PhonemeMotion().animate(u, fps=FPS)
    b = m["blink"]
    s = motion_stats(m["yaw"], m["pitch"], m["roll"], int(np.sum((b[1:] > 0.5) & (b[:-1] <= 0.5))), FPS)
    assert 2.5 <= s["yaw_std"] <= 7.5, s
    assert 1.3 <= s["pitch_std"] <= 6.0, s
    assert 1.2 <= s["roll_std"] <= 5.0, s
    assert 5.0 <= s["yaw_vel_std"] <= 30.0, s
    assert s["still_share"] < 0.15, s
    assert 10 <= s["blinks_per_min"] <= 30, s
    old = PhonemeMotion(MotionConfig(head="rules")).animate(u, fps=FPS)
    assert np.degrees(np.std(old["yaw"])) < 1.0 < s["yaw_std"] / 2
    for c, lim in POSE_LIMITS.items():
        assert np.abs(m[c]).max() < lim                      # inside what the warp renders cleanly


def test_segments_join_without_jumps():
    h = replay_head(np.arange(FPS * 300), FPS, seed=2)
    step = np.abs(np.diff(np.stack([h["yaw"], h["pitch"], h["roll"]]), axis=1)).max(0)
    assert np.degrees(step.max()) < 4.0
    join = np.arange(1, step.size + 1) % (2 * FPS) < 7            # the crossfades at the 2 s slot joins
    assert step[join].max() <= step[~join].max()


def test_phrases_join_without_jumps_and_replay_is_a_pure_function_of_the_frame():
    a, b = _speech(7.0, seed=1), _speech(5.0, seed=2)
    m = PhonemeMotion()
    ma = m.animate(a, fps=FPS, start_frame=100)
    mb = m.animate(b, fps=FPS, start_frame=100 + len(ma))
    for c in ("yaw", "pitch", "roll"):
        joined = np.concatenate([ma[c], mb[c]])
        assert np.degrees(np.abs(np.diff(joined)).max()) < 4.0, c
    whole = replay_head(np.arange(0, 900), FPS, 5)
    part = replay_head(np.arange(333, 900), FPS, 5)
    assert all(np.array_equal(whole[c][333:], part[c]) for c in whole)
    assert np.array_equal(replay_blinks(np.arange(0, 900), FPS, 5)[333:], replay_blinks(np.arange(333, 900), FPS, 5))


def test_deterministic_with_a_seed():
    u = _speech(12.0)
    one = PhonemeMotion(MotionConfig(seed=4)).animate(u, fps=FPS, start_frame=40)
    two = PhonemeMotion(MotionConfig(seed=4)).animate(u, fps=FPS, start_frame=40)
    other = PhonemeMotion(MotionConfig(seed=5)).animate(u, fps=FPS, start_frame=40)
    assert np.array_equal(one.as_array(), two.as_array())
    assert not np.array_equal(one["yaw"], other["yaw"])


def test_gestures_in_markup_still_appear_over_replayed_motion():
    words = [Word("yes", int(0.3 * SR), int(0.6 * SR), 0)]
    n = int(1.6 * SR) // SPF * SPF
    u = Utterance(np.zeros(n, np.float32), SR, [Phone("j", int(0.3 * SR), int(0.6 * SR))], words)
    for kind, ch in (("nod", "pitch"), ("shake", "yaw"), ("tilt", "roll"), ("brows", "brows")):
        plain = PhonemeMotion().animate(u, fps=FPS, start_frame=50)
        g = PhonemeMotion().animate(u, fps=FPS, start_frame=50, gestures=[Gesture(kind, 0)])
        diff = np.abs(g[ch] - plain[ch])
        assert diff.max() > 0.02, kind
        assert diff[-1] < 2e-3, kind


def test_head_kind_is_named():
    assert MotionConfig().head == "replay"
    with pytest.raises(ValueError, match="rules"):
        MotionConfig(head="wobbly")
