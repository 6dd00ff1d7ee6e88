"""Lip sync from a recording: an avatar speaks a user's own audio, streamed.

`lipsync(avatar, audio, out)` decodes the recording twice in step, at 48 kHz
for the soundtrack and at 16 kHz for the motion model, and renders each
video frame as soon as the model's look-ahead has seen enough audio. Nothing
grows with the length of the input, so an hour of narration renders in the
same memory as a minute. Errors in the inputs (a missing or unreadable
avatar, a file that is not audio, an unknown motion kind) are raised before
the output file is created; an interrupted render leaves no partial MP4.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio.io import audio_info, stream_audio
from ..compose.scene import SceneCompositor
from ..errors import RenderError
from ..face.rig import load_avatar
from ..media.provenance import Origin, avatar_entry, check_signing, sign_file, source_entry, unsigned_path
from ..media.writer import VideoWriter
from ..motion.audio import AudioMotion
from ..pipeline.drawing import draw_track
from ..render.base import make_renderer
from ..script.model import BACKGROUND_KINDS, LAYOUTS, Background
from ..speech.loudness import TARGET_LUFS, NormalizedSpeech

SAMPLE_RATE = 48_000
STAGES = ("audio", "transcribe", "motion", "render", "compose", "encode")


@dataclass(frozen=True)
class LipsyncProgress:
    """Seconds of the recording done so far in `stage` ("transcribe", then "render"), of `total_s`
    (0 if the container does not say)."""

    done_s: float
    total_s: float
    stage: str = "render"


@dataclass
class LipsyncResult:
    video: Path
    frames: int
    fps: int
    timings: dict[str, float]   # seconds of compute per stage
    wall_s: float
    captions: dict[str, Path] = field(default_factory=dict)   # "vtt"/"srt" -> file, when made
    language: str | None = None  # what Whisper heard (ISO 639-1), None without captions or speech

    @property
    def duration(self) -> float:
        return self.frames / self.fps


def _refuse_footage_avatar(avatar: str | Path) -> None:
    """A footage avatar named where a photo is wanted: say which command plays one."""
    from ..face.avatar import AvatarError, is_footage_avatar, open_avatar

    if Path(avatar).is_file():
        return
    try:
        found = open_avatar(avatar)
    except AvatarError:
        return              # neither a photo nor an avatar: `load_avatar` says so
    if is_footage_avatar(found.folder):
        raise RenderError(f"{avatar}: an avatar made from footage; lip sync animates a photo. To have this person "
                          f"say a recording, dub their footage (`avatarkit dub VIDEO --audio FILE`) or use a "
                          f"script scene with `avatar: {avatar}` and an `audio:` segment")


def lipsync(avatar: str | Path, audio: str | Path, out: str | Path, *, motion: str = "learned",
            model_path: str | Path | None = None, renderer: str = "warp", fps: int = 25,
            resolution: tuple[int, int] = (1280, 720), background: Background | None = None,
            layout: str = "full", title: str = "", loudness: float | None = TARGET_LUFS,
            captions: bool = True, language: str | None = None,
            progress: Callable[[LipsyncProgress], None] | None = None) -> LipsyncResult:
    """Render `avatar` (a photo) speaking the recording `audio` into the MP4 `out`.

    `audio` is any file PyAV reads (WAV, FLAC, MP3, M4A, the audio track of
    a video) at any rate, mono or stereo. `motion` is an audio motion kind
    (`learned`, `loudness`, `still`). The video is `resolution` pixels at `fps`
    frames per second and exactly covers the audio, rounded up to a frame.
    The soundtrack is brought to `loudness` LUFS (integrated, measured in a
    first streamed pass; peaks limited below -1 dBFS); None keeps the
    recording's level. The model sees the recording as it is either way.
    With `captions`, what Whisper hears (in `language`, or the one it
    detects) is written beside the MP4 as `<stem>.<language>.vtt` and `.srt`
    once the video is complete, and the MP4's audio track is tagged with
    the language.
    """
    if SAMPLE_RATE % fps:
        raise RenderError(f"fps {fps} must divide {SAMPLE_RATE}")
    if layout not in LAYOUTS:
        raise RenderError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    bg = background or Background("studio")
    if bg.kind not in BACKGROUND_KINDS or bg.kind == "photo":
        raise RenderError(f"unknown background {bg.kind!r}; expected one of solid, gradient, studio")
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise RenderError(f"{out}: the output must be an .mp4 file")
    info = audio_info(audio)
    _refuse_footage_avatar(avatar)
    rig = load_avatar(avatar)
    check_signing()
    model = AudioMotion(motion, model_path=str(model_path) if model_path else None)
    width, height = resolution

    timings = {s: 0.0 for s in STAGES}
    wall0 = time.perf_counter()
    transcript = None
    if captions:
        from .transcribe import transcribe

        t0 = time.perf_counter()
        transcript = transcribe(audio, language=language, progress=(
            lambda done, total: progress(LipsyncProgress(done, total, "transcribe"))) if progress else None)
        timings["transcribe"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    comp = SceneCompositor(rig, bg, layout, width, height, title=title)
    bound = make_renderer(renderer).bind(comp.rig)
    timings["compose"] += time.perf_counter() - t0
    spf = SAMPLE_RATE // fps
    mel_rate = model.mel.sample_rate

    block = spf * fps * 4
    speech = None
    if loudness is not None:
        t0 = time.perf_counter()
        # Measured, and what the limiter takes made up, over the file in blocks.
        speech = NormalizedSpeech(lambda: stream_audio(audio, SAMPLE_RATE, block=block), loudness)
        timings["audio"] += time.perf_counter() - t0

    # Written unsigned beside `out`, then signed into place with its Content Credentials (C2PA).
    writer = VideoWriter(unsigned_path(out), width, height, fps, SAMPLE_RATE, title=title or "avatarkit lip sync",
                         language=transcript.language if transcript is not None else None)
    frame = np.empty((height, width, 3), np.uint8)

    def draw(track):
        if track is not None:
            draw_track(track, bound, comp, writer, frame, timings, fresh=writer.frames_written == 0)

    # The writer aborts (no partial file) on any exception, and closes on success.
    with writer:
        stream = model.stream(fps)
        hi = speech.blocks(block) if speech is not None else stream_audio(audio, SAMPLE_RATE, block=block)
        written = 0        # 48 kHz samples sent to the encoder
        consumed = 0       # 16 kHz samples sent to the model
        blocks16 = stream_audio(audio, mel_rate, block=mel_rate * 4)
        while True:
            t0 = time.perf_counter()
            block = next(blocks16, None)
            timings["audio"] += time.perf_counter() - t0
            if block is None:
                break
            consumed += block.size
            t0 = time.perf_counter()
            track = stream.push(block)
            timings["motion"] += time.perf_counter() - t0
            draw(track)
            # Keep the soundtrack level with the pictures so the muxer interleaves them.
            while written * mel_rate < consumed * SAMPLE_RATE:
                t0 = time.perf_counter()
                pcm = next(hi, None)
                timings["audio"] += time.perf_counter() - t0
                if pcm is None:
                    break
                t0 = time.perf_counter()
                writer.write_audio(np.clip(pcm, -1, 1))
                timings["encode"] += time.perf_counter() - t0
                written += pcm.size
            if progress:
                progress(LipsyncProgress(writer.frames_written / fps, info.duration))
        for pcm in hi:
            writer.write_audio(np.clip(pcm, -1, 1))
            written += pcm.size
        total = max(1, -(-written // spf))
        writer.write_audio(np.zeros(total * spf - written, np.float32))
        t0 = time.perf_counter()
        track = stream.finish(total)
        timings["motion"] += time.perf_counter() - t0
        draw(track)
        t0 = time.perf_counter()
        writer.close()
        timings["encode"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        sign_file(writer.path, out, Origin("lipsync", title, avatars=[avatar_entry(avatar)],
                                           sources=[source_entry("recording", audio)]))
    finally:
        writer.path.unlink(missing_ok=True)
    timings["encode"] += time.perf_counter() - t0
    files = {}
    if transcript is not None:
        from .transcribe import write_captions

        files = write_captions(transcript, out, title=title or Path(audio).name)
    if progress:
        progress(LipsyncProgress(writer.frames_written / fps, info.duration))
    return LipsyncResult(out, writer.frames_written, fps, timings, time.perf_counter() - wall0, files,
                         transcript.language if transcript is not None else None)
