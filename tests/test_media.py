"""Media: the streaming writer, atomic output, caption formatting."""

from __future__ import annotations

import av
import numpy as np
import pytest

from avatarkit.media import VideoWriter, phrase_cues, to_srt, to_vtt
from avatarkit.media.captions import Cue
from avatarkit.speech.utterance import Word


@pytest.mark.parametrize("ahead", [0, 4])
def test_writer_streams_frames_and_audio(tmp_path, ahead):
    """In the caller's thread and with an encoder thread (`ahead`): the same frames, in order, with sound."""
    path = tmp_path / "v.mp4"
    with VideoWriter(path, 320, 240, 25, title="t", ahead=ahead) as w:
        for i in range(50):
            frame = np.full((240, 320, 3), i * 5, np.uint8)
            w.write_frame(frame)
            w.write_audio(np.full(1920, 0.1, np.float32))
    assert path.exists() and not (tmp_path / ".v.partial.mp4").exists()
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 50
    # Levels survive the RGB -> BT.709 YUV -> RGB round trip.
    assert abs(int(frames[20][100, 100, 0]) - 100) <= 3
    assert all(abs(int(f[100, 100, 0]) - 5 * i) <= 3 for i, f in enumerate(frames))      # in order
    with av.open(str(path)) as c:
        n = sum(f.samples for f in c.decode(audio=0))
    assert abs(n - 50 * 1920) < 2048  # AAC priming/padding only


@pytest.mark.parametrize("ahead", [0, 4])
def test_failed_render_leaves_no_file(tmp_path, ahead):
    path = tmp_path / "v.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, 160, 120, 25, ahead=ahead) as w:
            w.write_frame(np.zeros((120, 160, 3), np.uint8))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_sample_rate_must_fit_the_frame_rate(tmp_path):
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "x.mp4", 160, 120, fps=7, sample_rate=48000)


def test_long_phrases_split_into_two_line_cues():
    sr = 48000
    text = ("This is a rather long sentence that will certainly not fit on a single caption "
            "line and must be split into more than one cue").split()
    words = [Word(t, i * sr // 3, (i + 1) * sr // 3 - 100, i) for i, t in enumerate(text)]
    cues = phrase_cues(words, offset=48000, sample_rate=sr)
    assert len(cues) >= 2
    for c in cues:
        lines = c.text.split("\n")
        assert len(lines) <= 2 and all(len(x) <= 42 for x in lines)
        assert (c.end - c.start) / sr <= 6.5
    assert cues[0].start == 48000 + words[0].start
    assert " ".join(c.text.replace("\n", " ") for c in cues) == " ".join(text)


def test_vtt_and_srt_timestamps():
    cues = [Cue(0, 24000, "[AI-generated video]"), Cue(24000, 48000 * 3661 + 480, "Hello")]
    vtt = to_vtt(cues, 48000)
    assert "00:00:00.500 --> 01:01:01.010" in vtt
    srt = to_srt(cues, 48000)
    assert srt.splitlines()[:3] == ["1", "00:00:00,000 --> 00:00:00,500", "[AI-generated video]"]


def test_cues_join_words_without_spaces_in_japanese():
    from avatarkit.media.captions import phrase_cues
    from avatarkit.speech.utterance import Word

    ja = [Word("次に、提出し、", 0, 4800, 0), Word("必ず使ってください。", 4800, 9600, 1)]
    assert phrase_cues(ja, 0, 48000)[0].text == "次に、提出し、必ず使ってください。"
    en = [Word("Submit", 0, 4800, 0), Word("it.", 4800, 9600, 1)]
    assert phrase_cues(en, 0, 48000)[0].text == "Submit it."


def test_the_ai_caption_speaks_the_videos_language_and_english():
    from avatarkit.media.captions import AI_CUE, ai_cue

    assert ai_cue("en") == ai_cue("en-GB") == ai_cue(None) == AI_CUE == "[AI-generated video]"
    assert ai_cue("de-DE") == "[KI-generiertes Video · AI-generated video]"
    assert ai_cue("ja") == "[AI生成動画 · AI-generated video]"
    assert ai_cue("xx") == AI_CUE                 # a language without a line: the English alone
    assert all("AI-generated video" in ai_cue(code) for code in ("fr", "ar", "zh", "hi"))
