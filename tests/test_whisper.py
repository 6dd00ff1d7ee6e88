"""Whisper as the ear: the model assembled from its PyPI parts, transcripts, captions, encoder features."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from avatarkit.audio.features import resample
from avatarkit.audio.io import AudioError
from avatarkit.motion.audio import AudioMotion
from avatarkit.recordings.transcribe import transcribe, transcript_cues, write_transcript
from avatarkit.speech import whisper as W

from .audiofiles import write_audio, write_silent_video, write_video_with_audio

SENTENCE = "please open the safety manual and read the first chapter before the meeting on monday"


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    """Piper's English voice reading SENTENCE, with a second of silence before it, as a 44.1 kHz MP3."""
    from avatarkit.speech.engines.base import make_engine
    from avatarkit.speech.utterance import Token
    from avatarkit.speech.voice import get_voice

    utt = make_engine(get_voice("en-us-joe")).synthesize([Token(w) for w in SENTENCE.split()])
    x = np.concatenate([np.zeros(utt.sample_rate, np.float32), utt.audio])
    d = tmp_path_factory.mktemp("whisper")
    return write_audio(d / "manual.mp3", resample(x, utt.sample_rate, 44100), 44100), x, utt


def _wer(ref: str, hyp: str) -> float:
    r = ref.lower().split()
    h = [w.strip(".,!?").lower() for w in hyp.split()]
    d = np.arange(len(h) + 1)
    for i, rw in enumerate(r, 1):
        prev, d[0] = d.copy(), i
        for j, hw in enumerate(h, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (rw != hw))
    return d[-1] / len(r)


def test_model_is_assembled_once_and_checked(tmp_path, monkeypatch):
    folder = W.model_folder(tmp_path / "cache")
    assert (folder / "model.bin").stat().st_size == 145217532
    assert {p.name for p in folder.iterdir()} >= {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    assert not list(folder.glob(".*partial"))
    stamp = (folder / "model.bin.verified").read_text()
    assert W.MODEL_SHA256 in stamp
    # A second call trusts the stamp and touches nothing.
    mtime = (folder / "model.bin").stat().st_mtime_ns
    assert W.model_folder(tmp_path / "cache") == folder and (folder / "model.bin").stat().st_mtime_ns == mtime


def test_missing_or_damaged_parts_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(W, "PARTS", (("no_such_whisper_part", "model.bin.part1"),) + W.PARTS[1:])
    with pytest.raises(W.WhisperError, match="no-such-whisper-part.*pip install"):
        W.model_folder(tmp_path / "a")
    fake = tmp_path / "fake" / "data"
    fake.mkdir(parents=True)
    for name in ("model.bin.part1", "model.bin.part2", *W.SIDE_FILES):
        (fake / name).write_bytes(b"not a model")
    monkeypatch.setattr(W, "_part_dir", lambda pkg: fake)
    with pytest.raises(W.WhisperError, match="do not make the expected model"):
        W.model_folder(tmp_path / "b")
    assert not (tmp_path / "b" / "model.bin").exists() and not list((tmp_path / "b").glob(".*"))


def test_transcript_of_a_synthetic_voice_and_its_captions(spoken, tmp_path):
    path, x, utt = spoken
    t = transcribe(path)
    assert t.language == "en" and t.language_probability > 0.8
    assert _wer(SENTENCE, t.text) <= 0.15, t.text
    # Word times follow the speech (Whisper-base places word edges within a few hundred ms), in order.
    starts = [w.start for w in t.words]
    assert starts == sorted(starts)
    assert starts[0] == pytest.approx(1 + utt.words[0].start / utt.sample_rate, abs=0.4)
    assert t.words[-1].end == pytest.approx(1 + utt.words[-1].end / utt.sample_rate, abs=0.4)
    vtt = write_transcript(t, tmp_path / "c.vtt", title="manual").read_text()
    assert vtt.startswith("WEBVTT\nLanguage: en\n") and "AI-generated" in vtt and "safety manual" in vtt
    srt = write_transcript(t, tmp_path / "c.srt").read_text()
    assert srt.startswith("1\n00:00:00,000 --> ") and "[AI-generated captions]" in srt.split("\n\n")[0]
    back = W.Transcript.from_dict(json.loads(write_transcript(t, tmp_path / "c.json").read_text()))
    assert back.text == t.text and back.language == "en"
    cues = transcript_cues(t, 1000)
    assert cues[0].start == round(t.words[0].start * 1000) and all(len(c.text) <= 90 for c in cues)


def test_nothing_said_gives_empty_captions(tmp_path):
    rng = np.random.default_rng(0)
    sr = 16000
    t = np.arange(sr * 6) / sr
    music = sum(0.1 * np.sin(2 * np.pi * f * t) * (np.sin(2 * np.pi * 0.5 * t + f) > 0) for f in (220, 277, 330, 440))
    for name, x in (("silence.wav", np.zeros(sr * 4)), ("noise.wav", 0.05 * rng.standard_normal(sr * 4)),
                    ("music.wav", music)):
        tr = transcribe(write_audio(tmp_path / name, x.astype(np.float32), sr))
        assert tr.words == [] and tr.language is None, (name, tr.text)
        # The shipped lip-sync model keeps the mouth at rest through them: v3 alone twitches open to 0.10
        # on noise and music; its speech gate (`audio.vad`) rests the mouth where no one speaks.
        jaw = AudioMotion().animate_audio(x.astype(np.float32), sr, fps=25)["jaw"]
        assert jaw.max() < 0.02, (name, jaw.mean(), jaw.max())
        vtt = write_transcript(tr, tmp_path / f"{name}.vtt").read_text()
        assert "-->" not in vtt and "AI-generated" in vtt


def test_bad_media_get_a_clear_error(tmp_path):
    bogus = tmp_path / "talk.mp4"
    bogus.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 200)
    with pytest.raises(AudioError, match="talk.mp4"):
        transcribe(bogus)
    silent = write_silent_video(tmp_path / "silent.mp4", frames=5)
    with pytest.raises(AudioError, match="no audio track"):
        transcribe(silent)


def test_an_unknown_language_is_named(spoken):
    with pytest.raises(W.WhisperError, match="language 'xx'"):
        transcribe(spoken[0], language="xx")
    assert W.whisper_language("en-us") == "en" and W.whisper_language("cmn") is None


def test_cli_transcribes_a_video_and_refuses_bad_names(spoken, tmp_path):
    path, x, utt = spoken
    video = write_video_with_audio(tmp_path / "talk.mp4", x, utt.sample_rate)
    out = tmp_path / "talk.vtt"
    run = subprocess.run([sys.executable, "-m", "avatarkit", "transcribe", str(video), "-o", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr + run.stdout
    assert "safety manual" in out.read_text() and "language en" in run.stdout + run.stderr
    bad = subprocess.run([sys.executable, "-m", "avatarkit", "transcribe", str(video), "-o", str(tmp_path / "t.txt")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "must end in .vtt, .srt or .json" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr and not (tmp_path / "t.txt").exists()


def test_long_recordings_are_heard_in_pieces_cut_in_pauses():
    sr = W.SAMPLE_RATE
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal(sr * 700)).astype(np.float32)
    x[sr * 297: sr * 297 + sr // 5] = 0          # the quietest place near the first 300 s boundary
    pieces = list(W._pieces((x[i:i + sr * 30] for i in range(0, x.size, sr * 30)), W.TRANSCRIBE_BLOCK_S * sr))
    assert sum(p.size for _, p in pieces) == x.size
    assert [o for o, _ in pieces] == list(np.cumsum([0] + [p.size for _, p in pieces[:-1]]))
    assert sr * 297 <= pieces[1][0] <= sr * 297 + sr // 5


def test_encoder_states_are_the_same_whole_or_streamed():
    w = W.get_whisper()
    rng = np.random.default_rng(3)
    x = (0.05 * rng.standard_normal(int(W.SAMPLE_RATE * 23.7))).astype(np.float32)
    whole = w.encode(x)
    assert whole.shape == (W.n_states(x.size), W.STATE_DIM)
    s = w.encoder_stream()
    parts = [s.push(x[i:i + 5003]) for i in range(0, x.size, 5003)] + [s.finish()]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    # A state depends on its own window only: changing audio 9 s later leaves the first 1 s alone.
    y = x.copy()
    y[W.SAMPLE_RATE * 10:] = 0
    np.testing.assert_array_equal(w.encode(y)[:W.STATE_RATE], whole[:W.STATE_RATE])


def test_recorded_segment_without_text_is_captioned_from_the_recording(spoken, tmp_path):
    import shutil

    import avatarkit

    from .conftest import SAMPLES

    shutil.copy(spoken[0], tmp_path / "manual.mp3")
    p = tmp_path / "rec.yaml"
    p.write_text(f"""avatarkit: 1
title: Recorded narration
defaults:
  avatar: {SAMPLES / "avatar.png"}
  resolution: 320x180
scenes:
  - segments:
      - audio: manual.mp3
""")
    result = avatarkit.render(p, tmp_path / "out")
    vtt = result.vtt.read_text()
    assert "safety manual" in vtt.lower() and "monday" in vtt.lower()
