"""A course from the sample PowerPoint deck and brand kit: `from-slides`, then a branded render with captions.

Checked where a viewer meets it: the decoded MP4's pictures (intro card,
slide card, burned-in captions, logo) and its soundtrack (music under
the speech, quieter than the speech at every moment someone speaks).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avatarkit.compose.brand import load_brand
from avatarkit.pipeline.core import render
from avatarkit.script import load_script
from avatarkit.slides import from_slides

from .audiofiles import decode_mp4
from .conftest import SAMPLES

W, H = 480, 270


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    d = tmp_path_factory.mktemp("course")
    yaml_path = from_slides(SAMPLES / "deck.pptx", d / "course.yaml", voice="en-us-joe",
                            avatar=str(SAMPLES / "avatar.png"))
    script = dataclasses.replace(load_script(yaml_path), resolution=(W, H), captions=True)
    brand = load_brand(SAMPLES / "brand.yaml")
    with_music = render(script, d / "music", brand=brand)
    without = render(script, d / "plain", brand=dataclasses.replace(brand, music=None))
    return script, with_music, without


def test_course_renders_every_slide_with_brand_and_captions(course):
    script, result, _ = course
    frames, _ = decode_mp4(result.video)
    assert len(frames) == result.frames and frames[0].shape == (H, W, 3)
    assert [s[0] for s in result.scenes] == [sc.id for sc in script.scenes]
    fps = script.fps
    # The intro card comes first: the brand's dark gradient, no presenter, the title in light text.
    intro = frames[fps]
    assert intro[H // 2 - 40:H // 2 + 40].max() > 230 and intro[:20].mean() < 90
    # A slide scene: the light card on the left, the presenter on the right.
    sid, first, end = result.scenes[1]
    frame = frames[(first + end) // 2]
    card = frame[int(0.25 * H):int(0.6 * H), int(0.08 * W):int(0.5 * W)]
    assert card.mean() > 200                               # the white slide card
    assert frame[int(0.4 * H):, int(0.7 * W):].std() > 30   # a person, not a flat backdrop
    # Captions are burned in: bright letters on a dark box below the card at some point of the scene.
    band = np.stack([f[int(0.83 * H):int(0.97 * H), :int(0.63 * W)] for f in frames[first:end:fps // 2]])
    dark_box = (band.max(-1) < 60).mean(axis=(1, 2)) > 0.08
    assert dark_box.any()
    # The logo sits in the top-left corner of every scene.
    logo = frame[:int(0.12 * H), :int(0.2 * W)].astype(int)
    blue = (np.abs(logo - np.array([31, 95, 174])).sum(-1) < 60).mean()
    assert blue > 0.01


@pytest.fixture(scope="module")
def music_renders(tmp_path_factory):
    """A two-scene script spoken from a recording (deterministic), rendered with and without the brand's music."""
    from .audiofiles import speech, write_audio

    d = tmp_path_factory.mktemp("music")
    audio, rate, _ = speech(6)
    write_audio(d / "narration.wav", audio, rate)
    (d / "talk.yaml").write_text(f"""
title: Music test
defaults: {{avatar: {SAMPLES / 'avatar.png'}, resolution: 320x180}}
scenes:
  - segments: [{{audio: narration.wav}}, {{pause: 1500ms}}, {{audio: narration.wav}}]
  - transition: slide
    segments: [{{audio: narration.wav}}]
""", encoding="utf-8")
    brand = load_brand(SAMPLES / "brand.yaml")
    with_music = render(d / "talk.yaml", d / "music", brand=brand)
    without = render(d / "talk.yaml", d / "plain", brand=dataclasses.replace(brand, music=None))
    return with_music, without


def test_speech_is_louder_than_the_music_at_every_moment_someone_speaks(music_renders):
    with_music, without = music_renders
    _, mixed = decode_mp4(with_music.video)
    _, speech = decode_mp4(without.video)
    assert mixed.size == speech.size
    mixed, speech = mixed.astype(np.float64), speech.astype(np.float64)
    music = mixed - speech
    sr = 48_000
    win, hop = sr // 4, sr // 20      # about a word, every 50 ms

    def rms_db(x):
        return 10 * np.log10(np.mean(x * x) + 1e-12)

    spoken, quiet = [], []
    for a in range(0, mixed.size - win, hop):
        s, m = rms_db(speech[a:a + win]), rms_db(music[a:a + win])
        if s > -30:
            spoken.append((round(s - m, 1), round(s, 1), a / sr))
        elif s < -70:
            quiet.append(m)
    assert len(spoken) > 100
    # In every word-long stretch of speech, the music (plus the noise of two AAC encodes) is 10 dB or more below.
    assert min(spoken)[0] > 10, sorted(spoken)[:5]
    # And it is really there: audible where nobody speaks (intro card, pauses, transitions).
    assert len(quiet) > 20 and np.median(quiet) > -50
    # It ends in silence: the last 50 ms of the video are faded out.
    assert rms_db(mixed[-hop:]) < -60


def test_scene_changes_do_not_click(music_renders):
    """Around each scene change (a crossfade, then a slide transition) the waveform has no jump."""
    with_music, _ = music_renders
    _, mixed = decode_mp4(with_music.video)
    step = np.abs(np.diff(mixed.astype(np.float64)))
    spf = 48_000 // 25
    typical = np.percentile(step, 99.9)
    for _, first, _ in with_music.scenes:
        a = first * spf
        around = step[max(a - 2400, 0):a + 2400]
        assert around.max() <= typical, (first, around.max(), typical)
