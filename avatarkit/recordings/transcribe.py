"""Captions from a recording: what Whisper heard, timed on the sample clock, as WebVTT, SRT or JSON.

`transcribe(media)` streams any file PyAV reads (a recording, or a video's
sound) through `speech.whisper` and returns a `Transcript`: words with
their times in seconds and the language. `transcript_cues` cuts it into
caption cues the way a script render does (two lines of at most 42
characters, at most 6 s, a new cue after a pause or a sentence end), and
`write_transcript` / `write_captions` write the files atomically. Every
caption file says it is AI-generated, like every other avatarkit output: a
transcript's as "[AI-generated captions]", a lip-synced or dubbed video's
as "[AI-generated video]", in a first cue (SRT too) and a WebVTT note.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..audio.io import audio_info, stream_audio
from ..errors import AvatarkitError
from ..media.captions import Cue, ai_cue, phrase_cues, to_srt, to_vtt
from ..speech.utterance import Word
from ..speech.whisper import SAMPLE_RATE, Transcript, get_whisper
from ..utils.files import write_text_atomic

FORMATS = ("vtt", "srt", "json")
PAUSE_S = 0.8        # a silence this long between words starts a new cue
UNDETERMINED = "und"  # the language tag of a recording with no speech found (ISO 639-2)
AI_CAPTIONS = "[AI-generated captions]"   # what a transcript's caption files say made them


def transcribe(media: str | Path, *, language: str | None = None,
               progress: Callable[[float, float], None] | None = None) -> Transcript:
    """Transcribe the sound of `media` (any audio or video file); see the module docstring.

    `language` (ISO 639-1, e.g. "de") skips language identification.
    `progress(done_s, total_s)` is called as the recording is heard (total
    0 when the container does not say). Silence, music or noise alone give
    an empty transcript; a file without sound raises `AudioError`.
    """
    info = audio_info(media)
    total = info.duration

    def tick(done: float) -> None:
        if progress:
            progress(done, total)

    blocks = stream_audio(media, SAMPLE_RATE, block=SAMPLE_RATE * 30)
    return get_whisper().transcribe(blocks, language=language, duration=total, progress=tick)


def transcript_cues(transcript: Transcript, sample_rate: int = 48_000, offset: int = 0) -> list[Cue]:
    """Caption cues for a transcript, times in samples at `sample_rate` plus `offset` samples."""
    runs: list[list[Word]] = []
    prev_end, prev_text = None, ""
    for w, word in zip(transcript.words, transcript.timed_words(sample_rate)):
        pause = prev_end is not None and (w.start - prev_end) > PAUSE_S
        sentence = prev_text.endswith((".", "?", "!", "。", "？", "！")) and len(runs[-1]) >= 3 if runs else False
        if not runs or pause or sentence:
            runs.append([])
        runs[-1].append(word)
        prev_end, prev_text = w.end, w.text
    cues: list[Cue] = []
    for run in runs:
        cues += phrase_cues(run, offset, sample_rate)
    return cues


def labelled(cues: list[Cue], label: str, sample_rate: int) -> list[Cue]:
    """`cues` with `label` shown first: alone before the first words when there is half a second for it,
    else as the first line of the first cue (so every caption file, SRT too, says what made it)."""
    if not cues:
        return cues
    if cues[0].start >= sample_rate // 2:
        return [Cue(0, cues[0].start, label), *cues]
    first = cues[0]
    return [Cue(first.start, first.end, f"{label}\n{first.text}"), *cues[1:]]


def caption_text(transcript: Transcript, fmt: str, title: str = "", label: str = AI_CAPTIONS) -> str:
    """The transcript as the text of a `vtt`, `srt` or `json` file; caption files carry `label` (see `labelled`)."""
    import json

    if fmt == "json":
        return json.dumps(transcript.to_dict(), indent=2, ensure_ascii=False) + "\n"
    cues = labelled(transcript_cues(transcript, 1000), label, 1000)
    if fmt == "vtt":
        return to_vtt(cues, 1000, title, language=transcript.language, note=label)
    if fmt == "srt":
        return to_srt(cues, 1000)
    raise AvatarkitError(f"unknown caption format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write_transcript(transcript: Transcript, path: str | Path, title: str = "", label: str = AI_CAPTIONS) -> Path:
    """Write the transcript to `path`, in the format its suffix names (.vtt, .srt or .json)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise AvatarkitError(f"{path}: the output must end in .vtt, .srt or .json")
    if path.parent and not path.parent.is_dir():
        raise AvatarkitError(f"{path.parent}: no such folder")
    return write_text_atomic(path, caption_text(transcript, fmt, title, label))


def write_captions(transcript: Transcript, video: str | Path, title: str = "") -> dict[str, Path]:
    """WebVTT and SRT for an AI-generated `video`, beside it, named `<stem>.<language>.vtt` / `.srt`
    (`und` when no speech was found), labelled AI-generated in their language and in English (`ai_cue`)."""
    video = Path(video)
    lang = transcript.language or UNDETERMINED
    return {fmt: write_transcript(transcript, video.with_name(f"{video.stem}.{lang}.{fmt}"), title,
                                  ai_cue(transcript.language)) for fmt in ("vtt", "srt")}
