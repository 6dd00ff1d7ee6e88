"""Lip sync from a user's recording with the shipped model: decoded MP4s, MediaPipe on the frames."""

from __future__ import annotations

import numpy as np
import pytest

import avatarkit
from avatarkit.audio.features import resample
from avatarkit.audio.io import AudioError
from avatarkit.eval.metrics import OPEN_MOUTH

from .audiofiles import speech, write_audio
from .conftest import SAMPLES
from .test_e2e import _decode, _measure

AVATAR = SAMPLES / "avatar.png"


@pytest.fixture(scope="module")
def narration(tmp_path_factory):
    """Real-format input: eSpeak speech with silence around it, as 44.1 kHz stereo MP3."""
    x, sr, _ = speech(voice="de", rate=160)
    x = resample(x, sr, 44100)
    pad = np.zeros(44100, np.float32)
    x = np.concatenate([pad, x, pad])
    d = tmp_path_factory.mktemp("lipsync")
    return write_audio(d / "narration.mp3", np.stack([x, 0.8 * x], 1), 44100), x


@pytest.fixture(scope="module")
def synced(narration, tmp_path_factory):
    path, _ = narration
    out = tmp_path_factory.mktemp("out") / "talk.mp4"
    events = []
    result = avatarkit.lipsync(AVATAR, path, out, resolution=(640, 360), progress=events.append)
    return result, events


def test_lipsync_writes_a_video_covering_the_recording(synced, narration):
    result, events = synced
    _, x = narration
    info, frames, audio = _decode(result.video)
    assert info["codec"] == "h264" and info["audio_codec"] == "aac"
    assert len(frames) == result.frames == -(-x.size * 25 // 44100)
    assert abs(audio.size / info["sample_rate"] - len(frames) / 25) < 0.05
    assert "AI-generated" in info["metadata"].get("comment", "")
    assert events and events[-1].done_s == pytest.approx(result.duration) and events[-1].stage == "render"
    # Long work shows progress: the transcription for the captions first, then the render.
    stages = [e.stage for e in events]
    assert stages[0] == "transcribe" and stages.index("render") > 0 and "transcribe" not in stages[stages.index("render"):]
    assert not list(result.video.parent.glob(".*partial*"))
    # Captions of what Whisper heard, named and tagged with the language it heard.
    lang = result.language or "und"
    assert sorted(result.captions) == ["srt", "vtt"]
    assert result.captions["vtt"].name == f"talk.{lang}.vtt" and result.captions["srt"].name == f"talk.{lang}.srt"
    vtt = result.captions["vtt"].read_text()
    assert vtt.startswith("WEBVTT") and "AI-generated" in vtt
    assert "[AI-generated video]" in result.captions["srt"].read_text() or not result.language
    if result.language:
        assert f"Language: {lang}" in vtt and "-->" in vtt


def test_soundtrack_is_brought_to_the_target_loudness(synced, narration, tmp_path):
    import pyloudnorm

    meter = pyloudnorm.Meter(48000)
    _, _, audio = _decode(synced[0].video)
    assert meter.integrated_loudness(audio.astype(np.float64)) == pytest.approx(-16, abs=1.0)
    kept = avatarkit.lipsync(AVATAR, narration[0], tmp_path / "keep.mp4", resolution=(320, 180),
                             loudness=None, motion="still")
    _, _, audio_kept = _decode(kept.video)
    from avatarkit.audio.io import load_audio

    # The level of the decoder's own mono downmix of the stereo MP3.
    src = meter.integrated_loudness(load_audio(narration[0], 48000).astype(np.float64))
    assert meter.integrated_loudness(audio_kept.astype(np.float64)) == pytest.approx(src, abs=1.0)


def test_stream_loudness_matches_bs1770():
    import pyloudnorm

    from avatarkit.speech.loudness import StreamLoudness

    rng = np.random.default_rng(0)
    x = rng.standard_normal(48000 * 7) * np.sin(np.arange(48000 * 7) / 20000) ** 4 * 0.1
    x[48000 * 2:48000 * 3] = 0
    s = StreamLoudness()
    for i in range(0, x.size, 12345):
        s.push(x[i:i + 12345])
    assert s.integrated() == pytest.approx(pyloudnorm.Meter(48000).integrated_loudness(x), abs=0.15)


def test_mouth_follows_the_recording_and_rests_in_silence(synced):
    result, _ = synced
    _, frames, audio = _decode(result.video)
    gaps = np.array([np.nan if g is None else g for g in _measure(frames)])
    assert np.mean(~np.isnan(gaps)) > 0.95
    n = len(gaps)
    env = np.sqrt(np.mean(audio[: n * 1920].reshape(n, 1920).astype(np.float64) ** 2, axis=1))
    ok = ~np.isnan(gaps)
    speech_, silence = env > 0.3 * env.max(), env < 0.01 * env.max()
    # At 640x360 the face is small and MediaPipe reads the photo's closed mouth as ~0.06 IOD.
    assert np.nanmean(gaps[silence & ok]) < 0.07
    assert np.nanmean(gaps[speech_ & ok]) > 2 * np.nanmean(gaps[silence & ok])
    sm = np.convolve(env, np.ones(3) / 3, "same")
    corr = [np.corrcoef(np.roll(gaps[ok], k), sm[ok])[0, 1] for k in (-2, -1, 0, 1, 2)]
    assert max(corr) > 0.4, corr
    # In sync: the best lag is within one frame.
    assert abs(int(np.argmax(corr)) - 2) <= 1, corr


def test_silence_keeps_the_mouth_closed(tmp_path):
    from avatarkit.motion.audio import AudioMotion

    track = AudioMotion().animate_audio(np.zeros(48000 * 3, np.float32), 48000, fps=25)
    assert track["jaw"].max() < 0.08
    quiet_noise = np.random.default_rng(0).standard_normal(48000 * 3).astype(np.float32) * 1e-3
    assert AudioMotion().animate_audio(quiet_noise, 48000, fps=25)["jaw"].mean() < 0.1


def test_bad_inputs_fail_before_any_output(tmp_path, narration):
    out = tmp_path / "x.mp4"
    bogus = tmp_path / "slides.m4a"
    bogus.write_bytes(b"PK\x03\x04 not really audio" * 100)
    with pytest.raises(AudioError, match="slides.m4a"):
        avatarkit.lipsync(AVATAR, bogus, out)
    with pytest.raises(avatarkit.AvatarkitError, match="unknown audio motion kind"):
        avatarkit.lipsync(AVATAR, narration[0], out, motion="guess")
    with pytest.raises(avatarkit.AvatarkitError, match="must be an .mp4"):
        avatarkit.lipsync(AVATAR, narration[0], tmp_path / "x.avi")
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*"))


SCRIPT = """\
avatarkit: 1
title: Recorded narration
defaults:
  avatar: {avatar}
  resolution: 640x360
scenes:
  - segments:
      - text: First, a synthetic voice.
      - audio: narration.mp3
        text: Then a recorded narration, with its text as captions.
"""


def test_script_segment_with_recorded_audio(tmp_path, narration):
    import shutil

    shutil.copy(narration[0], tmp_path / "narration.mp3")
    p = tmp_path / "rec.yaml"
    p.write_text(SCRIPT.format(avatar=AVATAR))
    script = avatarkit.load_script(p)
    seg = script.scenes[0].segments[1]
    assert seg.audio == tmp_path / "narration.mp3" and seg.text.startswith("Then")
    result = avatarkit.render(script, tmp_path / "out")
    info, frames, audio = _decode(result.video)
    rec_s = narration[1].size / 44100
    assert result.duration > rec_s + 1.0
    vtt = result.vtt.read_text()
    assert "First, a synthetic voice." in vtt and "recorded narration" in vtt
    # The recorded part (the last rec_s seconds before the tail) moves the mouth.
    tail = frames[-int((rec_s + 0.7) * 25):]
    gaps = np.array([np.nan if g is None else g for g in _measure(tail[::2])])
    # Open (the evaluation's own `OPEN_MOUTH`, 0.08 IOD) and closed within the recording. Read from a fresh
    # MediaPipe track, v3 (the default) opens this narration to 0.107 IOD (v2 reached 0.15+); the 0.12 asked
    # for before passed only when an earlier test's face was still being tracked.
    assert np.nanmax(gaps) > OPEN_MOUTH and np.nanmin(gaps) < 0.06


def test_script_audio_errors_name_the_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(SCRIPT.format(avatar=AVATAR).replace("narration.mp3", "missing.wav"))
    with pytest.raises(avatarkit.ScriptError, match=r"bad.yaml:9: scenes\[0\].segments\[1\].audio"):
        avatarkit.load_script(p)
    p.write_text(SCRIPT.format(avatar=AVATAR).replace("text: Then", "pause: 1s\n        text: Then"))
    with pytest.raises(avatarkit.ScriptError, match="pause segment has no text or audio"):
        avatarkit.load_script(p)


def _jaw(x, sr):
    from avatarkit.motion.audio import AudioMotion

    return AudioMotion().animate_audio(x, sr, fps=25)["jaw"]


def test_degraded_recordings_still_drive_the_same_mouth(narration):
    """Telephone band (8 kHz), hard clipping and a quiet level give nearly the motion of the clean file."""
    from avatarkit.audio.features import resample

    _, x = narration
    clean = _jaw(x, 44100)
    tel = resample(resample(x, 44100, 8000), 8000, 44100)[: x.size]
    clipped = np.clip(x * 20, -0.3, 0.3)
    quiet = x * 0.02
    for degraded in (tel, clipped, quiet):
        jaw = _jaw(degraded, 44100)
        assert np.corrcoef(jaw, clean)[0, 1] > 0.7
        assert abs(jaw.mean() - clean.mean()) < 0.1


def test_music_beds_under_speech_and_music_alone():
    """A buzzy melody with drums (not the training generator): under speech the mouth still
    follows the speech; alone, it opens far less than for speech."""
    x, sr_s, _ = speech()
    sr = 16000
    x = resample(x, sr_s, sr)
    t = np.arange(x.size) / sr
    rng = np.random.default_rng(4)
    notes = 220 * 2 ** (rng.integers(0, 12, size=24) / 12)
    f = np.repeat(notes, t.size // 24 + 1)[: t.size]
    saw = 2 * ((np.cumsum(f) / sr) % 1.0) - 1
    kick = np.zeros_like(t)
    for k in range(0, t.size, sr // 2):
        n = min(2000, t.size - k)
        kick[k:k + n] = np.sin(2 * np.pi * 60 * t[:n]) * np.exp(-t[:n] * 30)
    music = (0.3 * saw + 0.5 * kick).astype(np.float32)
    clean = _jaw(x, sr)
    bed = music * np.sqrt(np.mean(x ** 2) / np.mean(music ** 2))     # 0 dB: as loud as the voice
    assert np.corrcoef(_jaw(x + bed, sr), clean)[0, 1] > 0.85
    assert _jaw(music, sr).mean() < 0.5 * clean.mean()
