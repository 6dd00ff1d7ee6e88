"""Audio input, features, the audio-to-motion model and its motion: tested on real encoded files."""

from __future__ import annotations

import numpy as np
import pytest

from avatarkit.audio.features import LogMel, MelConfig, n_frames, resample
from avatarkit.audio.io import AudioError, audio_info, load_audio, stream_audio
from avatarkit.models.audio2motion import OUTPUTS, Audio2Motion, Audio2MotionConfig, ModelError
from avatarkit.motion.audio import AudioMotion
from avatarkit.motion.track import CHANNELS

from .audiofiles import speech, write_audio, write_silent_video, write_video_with_audio


@pytest.fixture(scope="module")
def voice():
    return speech()


def _lag(a, b, span=800):
    n = min(a.size, b.size) - 2 * span
    c = [np.dot(a[span:span + n], b[span + k:span + k + n]) for k in range(-span, span)]
    return int(np.argmax(c)) - span


# -- reading recordings ------------------------------------------------------

@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3", ".m4a"])
def test_formats_decode_in_time_at_any_rate(tmp_path, voice, suffix):
    x, sr, _ = voice
    path = write_audio(tmp_path / f"v{suffix}", x, sr)
    y = load_audio(path, 16000)
    ref = resample(x, sr, 16000)
    # Codec padding must not shift the speech: lip sync depends on it.
    assert abs(_lag(ref, y)) <= 2
    assert abs(y.size - ref.size) < 0.05 * 16000
    assert np.corrcoef(ref[2000:20000], y[2000:20000])[0, 1] > 0.9


def test_stereo_8khz_and_video_tracks(tmp_path, voice):
    x, sr, _ = voice
    tel = resample(x, sr, 8000)
    stereo = write_audio(tmp_path / "s.flac", np.stack([tel, -0.2 * tel], 1), 8000)
    info = audio_info(stereo)
    assert (info.sample_rate, info.channels) == (8000, 2)
    y = load_audio(stereo, 16000)
    assert y.ndim == 1 and abs(_lag(resample(tel, 8000, 16000), y)) <= 2
    vid = write_video_with_audio(tmp_path / "v.mp4", x, sr)
    assert abs(_lag(resample(x, sr, 16000), load_audio(vid, 16000))) <= 2


def test_streamed_blocks_are_exact_size_and_complete(tmp_path, voice):
    x, sr, _ = voice
    path = write_audio(tmp_path / "v.wav", x, sr)
    blocks = list(stream_audio(path, 16000, block=4000))
    assert all(b.size == 4000 for b in blocks[:-1]) and 0 < blocks[-1].size <= 4000
    assert np.array_equal(np.concatenate(blocks), load_audio(path, 16000))


def test_bad_inputs_name_the_file(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 50)
    with pytest.raises(AudioError, match="notes.wav"):
        load_audio(text, 16000)
    with pytest.raises(AudioError, match="no such file"):
        audio_info(tmp_path / "missing.mp3")
    with pytest.raises(AudioError, match="no audio track"):
        audio_info(write_silent_video(tmp_path / "novoice.mp4"))


# -- features -----------------------------------------------------------------

def test_features_are_sample_exact():
    mel = LogMel(MelConfig())
    hop = mel.config.hop
    for n in (1, hop - 1, hop, hop + 1, 12345):
        assert mel(np.zeros(n, np.float32)).shape == (n_frames(n, hop), mel.config.n_mels)
    # A click at sample s is loudest in frame s // hop, wherever it falls inside the hop
    # (a click exactly on a boundary is equally far from two window centres).
    for s in (5 * hop + 1, 5 * hop + hop // 2, 5 * hop + hop - 1, 40 * hop + 7):
        x = np.zeros(16000, np.float32)
        x[s] = 1.0
        assert int(np.argmax(mel(x).sum(1))) == s // hop


def test_streamed_features_equal_whole_file():
    mel = LogMel(MelConfig())
    rng = np.random.default_rng(1)
    x = rng.standard_normal(33_333).astype(np.float32)
    s = mel.stream()
    parts, i = [], 0
    while i < x.size:
        k = int(rng.integers(1, 5000))
        parts.append(s.push(x[i:i + k]))
        i += k
    parts.append(s.finish())
    np.testing.assert_allclose(np.concatenate(parts), mel(x), atol=1e-4)


# -- the model ------------------------------------------------------------------

TINY = Audio2MotionConfig(width=16, dilations=(1, 2, 4), lookahead=2)


def test_tiny_model_save_load_round_trip(tmp_path):
    m = Audio2Motion(TINY)
    feats = np.random.default_rng(0).standard_normal((300, 64)).astype(np.float32)
    out = m.predict_features(feats)
    assert out.shape == (300, len(OUTPUTS))
    m.save_pretrained(tmp_path / "m", meta={"seed": 0})
    back = Audio2Motion.from_pretrained(tmp_path / "m")
    assert back.config == TINY
    np.testing.assert_array_equal(back.predict_features(feats), out)
    (tmp_path / "m" / "config.json").write_text('{"width": 32}')
    with pytest.raises(ModelError, match="do not match"):
        Audio2Motion.from_pretrained(tmp_path / "m")
    with pytest.raises(ModelError, match="missing config.json"):
        Audio2Motion.from_pretrained(tmp_path / "nothing")


def test_model_is_causal_with_bounded_lookahead():
    import torch

    torch.manual_seed(0)
    m = Audio2Motion(TINY)
    feats = np.random.default_rng(0).standard_normal((200, 64)).astype(np.float32)
    base = m.predict_features(feats)
    changed = feats.copy()
    changed[120:] += 3.0
    out = m.predict_features(changed)
    first = int(np.argmax(np.abs(out - base).max(1) > 0))
    assert first == 120 - TINY.lookahead
    assert np.array_equal(out[:first], base[:first])


def test_chunked_and_streamed_inference_match_one_pass():
    m = Audio2Motion(TINY)
    feats = np.random.default_rng(2).standard_normal((1234, 64)).astype(np.float32)
    whole = m.predict_features(feats, chunk=10_000)
    np.testing.assert_allclose(m.predict_features(feats, chunk=97), whole, atol=1e-5)
    s = m.stream()
    s.chunk = 50
    parts = [s.push(feats[i:i + 77]) for i in range(0, 1234, 77)] + [s.finish()]
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-5)


def test_one_training_step_lowers_the_loss():
    import torch

    from avatarkit.models.audio2motion import build_network

    torch.manual_seed(0)
    net = build_network(TINY)
    r = TINY.receptive_field
    x = torch.randn(4, 50 + r - 1, 64)
    y = torch.rand(4, 50, len(OUTPUTS))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        loss = (net(x) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


# -- motion from audio ------------------------------------------------------------

def test_loudness_motion_follows_speech_and_rests_in_silence(voice):
    x, sr, utt = voice
    x = np.concatenate([np.zeros(sr, np.float32), x, np.zeros(sr, np.float32)])
    track = AudioMotion("loudness").animate_audio(x, sr, fps=25)
    assert len(track) == -(-x.size * 25 // sr)
    assert set(track.values) == set(CHANNELS)
    jaw = track["jaw"]
    assert jaw[:20].max() < 0.05 and jaw[-20:].max() < 0.05
    assert jaw[30:-30].max() > 0.3


def test_stream_matches_whole_recording(voice, tmp_path):
    x, sr, _ = voice
    x16 = resample(x, sr, 16000)
    m = Audio2Motion(TINY)
    m.save_pretrained(tmp_path / "m")
    motion = AudioMotion("learned", model_path=str(tmp_path / "m"))
    whole = motion.animate_audio(x16, 16000, fps=25)
    s = motion.stream(25)
    s.outputs.chunk = 40
    pieces = [t for i in range(0, x16.size, 3000) if (t := s.push(x16[i:i + 3000])) is not None]
    last = s.finish(len(whole))
    pieces += [last] if last is not None else []
    assert len(pieces) > 3
    assert [p.start for p in pieces] == list(np.cumsum([0] + [len(p) for p in pieces[:-1]]))
    np.testing.assert_allclose(np.concatenate([p.as_array() for p in pieces]), whole.as_array(), atol=1e-5)


def test_audio_motion_places_phrases_on_the_global_clock(voice):
    """Animating a piece that starts at frame 50 gives the same frames as the whole file."""
    x, sr, _ = voice
    x = resample(x, sr, 48000)
    x = x[: x.size // 1920 * 1920]
    m = AudioMotion("loudness")
    whole = m.animate_audio(x, 48000, fps=25)
    part = m.animate_audio(x[50 * 1920:], 48000, fps=25, start_frame=50)
    assert part.start == 50
    jaw_w, jaw_p = whole["jaw"][55:-5], part["jaw"][5:-5]
    assert np.corrcoef(jaw_w, jaw_p)[0, 1] > 0.99


def test_long_recordings_stream_to_the_same_motion(monkeypatch):
    """Past `LONG_S` a recording is animated through the stream, 10 s at a time, with the same result."""
    import avatarkit.motion.audio as A

    rng = np.random.default_rng(1)
    t = np.arange(16000 * 23)
    x = (rng.standard_normal(t.size) * 0.05 * (np.sin(t / 16000 * 6) > 0)).astype(np.float32)
    m = A.AudioMotion("learned")
    whole = m.animate_audio(x, 16000, fps=25, frames=575)
    monkeypatch.setattr(A, "LONG_S", 5.0)
    streamed = m.animate_audio(x, 16000, fps=25, frames=575)
    assert len(streamed) == len(whole) == 575
    for c in ("jaw", "wide", "blink", "yaw", "pitch"):
        assert np.allclose(streamed[c], whole[c], atol=1e-4), c
