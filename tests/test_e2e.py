"""End to end: a script becomes an MP4 a browser can play, with captions and a thumbnail.

These tests decode what was written and run MediaPipe on the output frames,
as a user (or a browser) would meet the result.
"""

from __future__ import annotations

import numpy as np
import pytest

import avatarkit
from avatarkit.face import landmarks as lm
from avatarkit.face.detect import reset_tracking, try_detect_landmarks


def _decode(path):
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        info = dict(codec=v.codec_context.name, pix_fmt=v.codec_context.pix_fmt,
                    width=v.codec_context.width, height=v.codec_context.height,
                    fps=float(v.average_rate), metadata=dict(c.metadata))
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        info["audio_codec"] = a.codec_context.name
        info["audio_language"] = a.metadata.get("language")
        info["sample_rate"] = a.codec_context.sample_rate
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    return info, frames, audio


@pytest.fixture(scope="module")
def decoded(rendered):
    result, _ = rendered
    return _decode(result.video)


def test_outputs_exist_with_expected_names(rendered):
    result, events = rendered
    assert result.video.name == "short.en.mp4"
    for p in (result.video, result.vtt, result.srt, result.thumbnail):
        assert p.exists() and p.stat().st_size > 0
    # No temporary files left behind.
    assert not [p for p in result.video.parent.iterdir() if p.name.startswith(".")]
    assert events and events[-1].done == events[-1].total
    assert [e.video_s for e in events] == sorted(e.video_s for e in events)


def test_mp4_is_browser_playable_h264_aac(rendered, decoded):
    info, frames, audio = decoded
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == (1280, 720)
    assert info["fps"] == 25
    assert info["audio_codec"] == "aac" and info["sample_rate"] == 48000
    assert "AI-generated" in info["metadata"].get("comment", "")
    assert info["audio_language"] == "eng"          # the script's language, as MP4 track headers write it
    data = rendered[0].video.read_bytes()
    # faststart: the index (moov) comes before the media data (mdat).
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_frame_count_and_durations_agree(rendered, decoded):
    result, _ = rendered
    info, frames, audio = decoded
    assert len(frames) == result.frames
    video_s = len(frames) / 25
    audio_s = audio.shape[0] / 48000
    assert abs(audio_s - video_s) < 0.05, (audio_s, video_s)
    assert 8.0 < video_s < 20.0


def test_loudness_is_normalised(decoded):
    import pyloudnorm

    _, _, audio = decoded
    loud = pyloudnorm.Meter(48000).integrated_loudness(audio.astype(np.float64))
    assert -17.5 < loud < -14.5, loud  # target -16 LUFS
    assert np.abs(audio).max() < 10 ** (-1 / 20)  # peaks below -1 dBFS after AAC


def _measure(frames):
    """Inner-lip gap / eye distance per frame from MediaPipe on the output (None if no face)."""
    # Tracking mode starts from wherever the last video's face was; a fresh start keeps a reading from
    # depending on which test ran before.
    reset_tracking()
    out = []
    for f in frames:
        pts = try_detect_landmarks(np.ascontiguousarray(f))
        if pts is None:
            out.append(None)
            continue
        L = pts[:, :2]
        iod = np.linalg.norm(L[list(lm.LEFT_EYE_CORNERS)].mean(0) - L[list(lm.RIGHT_EYE_CORNERS)].mean(0))
        out.append(float(np.linalg.norm(L[lm.LOWER_LIP_CENTER] - L[lm.UPPER_LIP_CENTER]) / iod))
    return out


@pytest.fixture(scope="module")
def mouth(rendered, decoded):
    _, frames, audio = decoded
    (one, a0, a1), (two, b0, b1) = rendered[0].scenes
    assert (one, two) == ("one", "two") and a1 == b0 and b1 == len(frames)
    # The pip scene's face is small in the frame; MediaPipe's short-range
    # detector needs it cropped to the lower-right bubble.
    pip = [f[360:, 800:] for f in frames[b0:b1]]
    return _measure(frames[a0:a1]), _measure(pip), audio[: a1 * 1920]


def test_mediapipe_finds_the_face_in_nearly_all_frames(mouth):
    full, pip, _ = mouth
    for gaps in (full, pip):
        found = sum(g is not None for g in gaps)
        assert found / len(gaps) >= 0.95, found / len(gaps)


def test_mouth_follows_the_speech(mouth):
    gaps, _, audio = mouth
    n = len(gaps)
    env = np.sqrt(np.mean(audio[: n * 1920].reshape(n, 1920).astype(np.float64) ** 2, axis=1))
    g = np.array([np.nan if x is None else x for x in gaps])
    ok = ~np.isnan(g)
    speech = env > 0.02
    silence = env < 0.002
    # Closed in pauses, open in speech.
    assert np.nanmean(g[silence & ok]) < 0.06, np.nanmean(g[silence & ok])
    assert np.nanmean(g[speech & ok]) > 1.8 * np.nanmean(g[silence & ok])
    # Correlated with the audio envelope (smoothed over 3 frames) well above chance.
    sm = np.convolve(env, np.ones(3) / 3, "same")
    best = max(np.corrcoef(np.roll(g[ok], k), sm[ok])[0, 1] for k in (-2, -1, 0, 1, 2))
    assert best > 0.4, best
    # Chance level: the same measure against a shuffled envelope.
    rng = np.random.default_rng(0)
    assert abs(np.corrcoef(g[ok], rng.permutation(sm[ok]))[0, 1]) < 0.2


def test_captions_are_on_the_audio_clock(rendered):
    result, _ = rendered
    vtt = result.vtt.read_text()
    assert vtt.startswith("WEBVTT") and "AI-generated" in vtt
    assert "Hello there" in vtt and "Thank you for watching" in vtt
    srt = result.srt.read_text()
    assert srt.startswith("1\n00:00:00,000 --> ")
    import re

    stamps = re.findall(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)", vtt)
    times = [(int(a) * 3600 + int(b) * 60 + int(c) + int(d) / 1000,
              int(e) * 3600 + int(f) * 60 + int(g) + int(h) / 1000) for a, b, c, d, e, f, g, h in stamps]
    assert all(s < e for s, e in times)
    assert all(times[i][1] <= times[i + 1][0] + 1e-9 for i in range(len(times) - 1))
    assert times[-1][1] <= result.duration + 1e-6


def test_thumbnail_is_a_frame_labelled_ai_generated(rendered):
    from PIL import Image

    with Image.open(rendered[0].thumbnail) as im:
        assert im.size == (1280, 720)
        assert b"AI-generated" in im.info.get("comment", b"")


def test_script_built_in_code(tmp_path):
    from tests.conftest import SAMPLES

    script = avatarkit.Script(
        title="Built in code",
        resolution=(320, 180),
        scenes=[avatarkit.Scene(
            id="a", avatar=SAMPLES / "avatar.png", background=avatarkit.Background("solid", ("#336699",)),
            layout="full",
            segments=[avatarkit.Segment(avatarkit.parse_text("Short and sweet."), voice="en-us-joe")])],
        name="code")
    result = avatarkit.render(script, out_dir=tmp_path)
    assert result.video.name == "code.en.mp4"
    info, frames, audio = _decode(result.video)
    assert (info["width"], info["height"]) == (320, 180)
    assert len(frames) == result.frames
    # The solid background colour shows in the corner.
    assert np.abs(frames[0][170, 5].astype(int) - [0x33, 0x66, 0x99]).max() < 12


def test_bad_photo_fails_before_any_output(tmp_path, short_script):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (256, 256), (120, 130, 140)).save(blank)
    text = short_script.read_text().replace(str(short_script.parent), "x")
    bad = tmp_path / "bad.yaml"
    import re

    bad.write_text(re.sub(r"avatar: .*", f"avatar: {blank}", text, count=1))
    out = tmp_path / "out"
    with pytest.raises(avatarkit.FaceError, match="no face"):
        avatarkit.render(bad, out_dir=out)
    assert not out.exists() or not list(out.iterdir())
