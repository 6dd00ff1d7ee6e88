"""Rendering at the encoder's speed (issue 18): the threaded encoder, the soundtrack encoded ahead, caches that
make a second start cheap, a loudness meter without SciPy's signal module, and the default presenter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

from avatarkit.media.segments import SegmentWriter, encode_soundtrack, join_segments

ROOT = Path(__file__).resolve().parents[1]


def _frames(n: int, w: int = 160, h: int = 96) -> list[np.ndarray]:
    """Moving, textured frames (a plain ramp would make every encoder agree by accident)."""
    import cv2

    rng = np.random.default_rng(3)
    noise = rng.integers(0, 255, (h, w, 3), np.uint8)
    base = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 3), None, 0, 255, cv2.NORM_MINMAX)
    return [np.roll(base, 3 * i, axis=1) for i in range(n)]


def test_the_encoder_thread_writes_the_same_bits_as_encoding_in_line(tmp_path):
    frames = _frames(40)
    paths = []
    for ahead in (0, 1, 8):
        w = SegmentWriter(tmp_path / f"a{ahead}.mp4", 160, 96, 25, ahead=ahead)
        for f in frames:
            w.write_frame(f)
            f[:] = 0     # the caller reuses its buffer at once: what was queued must not change
        frames = _frames(40)
        paths.append(w.close())
    data = [p.read_bytes() for p in paths]
    assert data[0] == data[1] == data[2]
    with av.open(str(paths[2])) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == 40
    assert np.abs(decoded[17].astype(int) - frames[17].astype(int)).mean() < 12


def test_an_encoder_error_reaches_the_caller_and_leaves_no_file(tmp_path):
    w = SegmentWriter(tmp_path / "x.mp4", 160, 96, 25, ahead=4)
    calls = []

    def broken(yuv, pts):
        calls.append(pts)
        if pts == 5:
            raise RuntimeError("encoder failed")

    w._encoder._encode = broken    # the encoder thread's call into x264
    with pytest.raises(RuntimeError, match="encoder failed"):
        for f in _frames(30):
            w.write_frame(f)
        w.close()
    w.abort()
    assert list(tmp_path.iterdir()) == []
    assert max(calls) == 5       # nothing is encoded after the error


def test_the_soundtrack_encoded_ahead_is_joined_beside_the_segments(tmp_path):
    segs = []
    for k, n in enumerate((30, 20)):
        w = SegmentWriter(tmp_path / f"s{k}.mp4", 160, 96, 25)
        for f in _frames(n):
            w.write_frame(f)
        segs.append(w.close())
    t = np.arange(48000 * 2) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sound = encode_soundtrack(tmp_path / "sound.m4a", [tone[:30000], tone[30000:]], sample_rate=48000)
    out = join_segments(tmp_path / "out.mp4", segs, sound, fps=25, title="t", language="de")
    assert out == 50
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert c.streams.audio[0].metadata.get("language") == "deu"
        assert "AI-generated" in c.metadata.get("comment", "")
        video = sum(1 for _ in c.decode(video=0))
    with av.open(str(tmp_path / "out.mp4")) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    assert video == 50
    assert abs(audio.size - tone.size) < 2048       # AAC priming/padding only
    spectrum = np.abs(np.fft.rfft(audio[4800:4800 + 48000]))
    assert abs(np.argmax(spectrum) * 48000 / 48000 - 440) <= 1
    # Audio and video interleave: packets of both appear in the first half of the file.
    with av.open(str(tmp_path / "out.mp4")) as c:
        kinds = [p.stream.type for p in c.demux() if p.size][:40]
    assert {"audio", "video"} <= set(kinds)


def test_a_rig_is_made_once_and_read_back_from_disk(tmp_path, monkeypatch):
    from avatarkit.face import rig as rig_mod

    monkeypatch.setenv("AVATARKIT_HOME", str(tmp_path))
    monkeypatch.setattr(rig_mod, "_CACHE", {})
    first = rig_mod.load_avatar(ROOT / "samples" / "avatar.png")
    assert len(list((tmp_path / "cache" / "rigs").glob("*.npz"))) == 1

    def no_detection(*a, **k):
        raise AssertionError("the cached rig should have been used")

    monkeypatch.setattr(rig_mod, "_CACHE", {})
    monkeypatch.setattr(rig_mod, "detect_landmarks", no_detection)
    monkeypatch.setattr(rig_mod, "person_matte", no_detection)
    again = rig_mod.load_avatar(ROOT / "samples" / "avatar.png")
    assert np.array_equal(first.landmarks, again.landmarks) and np.array_equal(first.matte, again.matte)
    assert np.array_equal(first.image, again.image)


def test_a_damaged_rig_cache_is_made_again(tmp_path, monkeypatch):
    from avatarkit.face import rig as rig_mod

    monkeypatch.setenv("AVATARKIT_HOME", str(tmp_path))
    monkeypatch.setattr(rig_mod, "_CACHE", {})
    first = rig_mod.load_avatar(ROOT / "samples" / "avatar.png")
    cached = next((tmp_path / "cache" / "rigs").glob("*.npz"))
    cached.write_bytes(b"not an npz")
    monkeypatch.setattr(rig_mod, "_CACHE", {})
    again = rig_mod.load_avatar(ROOT / "samples" / "avatar.png")
    assert np.array_equal(first.landmarks, again.landmarks)


def test_a_warp_render_never_imports_torch_mediapipe_or_scipy_signal_once_the_rig_is_cached():
    code = ("import sys, avatarkit\n"
            "from avatarkit.face.rig import load_avatar\n"
            "from avatarkit.render.base import make_renderer\n"
            f"load_avatar({str(ROOT / 'samples' / 'avatar.png')!r})\n"
            "avatarkit.Pipeline(renderer='warp')\n"
            "import numpy as np\n"
            "from avatarkit.speech.loudness import LoudnessNormalizer\n"
            "from avatarkit.speech.utterance import Utterance\n"
            "u = Utterance(np.random.default_rng(0).standard_normal(24000).astype(np.float32), 24000).resampled(48000)\n"
            "assert u.num_samples == 48000\n"
            "LoudnessNormalizer(48000)(u.audio * 2)\n"
            "print(sorted(m for m in ('torch', 'mediapipe', 'scipy.signal') if m in sys.modules))\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)   # makes the rig cache
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_phrase_loudness_is_the_stream_meter_and_close_to_pyloudnorm():
    import pyloudnorm

    from avatarkit.speech.loudness import LoudnessNormalizer, StreamLoudness, phrase_loudness

    rng = np.random.default_rng(0)
    n = 48000 * 3
    x = rng.standard_normal(n) * 0.05 * (1 + np.sin(np.arange(n) / 4000))
    meter = StreamLoudness()
    meter.push(x)
    assert phrase_loudness(x) == pytest.approx(meter.integrated(), abs=1e-6)
    assert phrase_loudness(x) == pytest.approx(pyloudnorm.Meter(48000).integrated_loudness(x), abs=0.1)
    assert phrase_loudness(x[:10000]) == float("-inf")
    out = LoudnessNormalizer(48000)(x.astype(np.float32))
    assert pyloudnorm.Meter(48000).integrated_loudness(out.astype(np.float64)) == pytest.approx(-16, abs=0.3)


def test_a_piper_voice_loads_its_model_only_when_it_first_speaks(monkeypatch):
    from avatarkit.errors import VoiceError
    from avatarkit.speech.engines import piper
    from avatarkit.speech.voice import Voice, get_voice

    loads = []
    real = piper.PiperEngine._load
    monkeypatch.setattr(piper.PiperEngine, "_load", staticmethod(lambda path: loads.append(path) or real(path)))
    joe = get_voice("en-us-joe")
    engine = piper.PiperEngine(joe)
    assert loads == [] and engine.sample_rate == 22050
    from avatarkit.speech.utterance import Token

    utt = engine.synthesize([Token("hello")])
    assert loads and utt.num_samples > 2000 and utt.phones
    bad = Voice(id="joe-x", engine="piper", language="en-US", settings={**joe.settings, "speaker": "nobody"})
    with pytest.raises(VoiceError, match="unknown speaker 'nobody'"):
        piper.PiperEngine(bad)


def test_a_script_without_an_avatar_is_presented_by_the_house_presenter(tmp_path):
    from avatarkit.face.avatar import house_avatar
    from avatarkit.script import load_script

    (tmp_path / "s.yaml").write_text("title: T\nscenes:\n  - segments:\n      - text: Hello there.\n"
                                     "  - avatar: presenter\n    segments:\n      - text: Again.\n")
    s = load_script(tmp_path / "s.yaml")
    assert [sc.avatar for sc in s.scenes] == [house_avatar("presenter")] * 2
    assert house_avatar("presenter").is_file() and house_avatar("../x") is None


def test_from_slides_without_an_avatar_writes_a_script_that_checks(tmp_path):
    out = tmp_path / "deck.yaml"
    cli = [sys.executable, "-m", "avatarkit"]
    made = subprocess.run(cli + ["from-slides", str(ROOT / "samples" / "deck.md"), "-o", str(out)],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert yaml.safe_load(out.read_text())["defaults"]["avatar"] == "presenter"
    checked = subprocess.run(cli + ["check", str(out)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_join_that_fails_leaves_nothing_behind(tmp_path):
    w = SegmentWriter(tmp_path / "s.mp4", 160, 96, 25)
    for f in _frames(10):
        w.write_frame(f)
    seg = w.close()
    with pytest.raises(FileNotFoundError):
        join_segments(tmp_path / "out.mp4", [seg], tmp_path / "no-such-soundtrack.m4a", fps=25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.mp4"]
