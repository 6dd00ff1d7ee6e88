"""Dubbing: the face in an existing video speaks new audio; everything else stays as filmed.

`dub(video, out, audio=...)` or `dub(video, out, text=..., voice=...)`:

1. The new speech: a recording (any format PyAV reads), or text spoken by a
   catalogue voice; brought to -16 LUFS.
2. Motion for it from the audio-to-motion model (`motion.audio`), at the
   video's frame rate.
3. A landmark pass over the video (MediaPipe, tracking mode). When the video
   is the footage an avatar was made from, intake's landmarks are reused.
4. Frame by frame, in batches: the person's `MouthRig` moves the lips and
   jaw of that frame's own landmarks to the new motion, and the avatar's
   mouth model repaints the mouth region only (`render.diffusion`). Frames
   where tracking failed are written untouched.

Timing: when the new speech is longer than the video, the video's timeline
is stretched evenly (frames repeated at regular intervals, at most 1.5x) so
it ends with the speech; when shorter, the video keeps its length and the
speech is followed by silence with the mouth at rest. The original sound is
replaced, and every frame carries the AI-generated label (top right), as
every avatarkit output does. The output is written to a hidden partial file and renamed when
complete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .audio.io import load_audio
from .compose.text import LabelStamp
from .errors import FaceError, RenderError
from .face.avatar import Avatar, AvatarError, find_by_footage, footage_digest, open_avatar
from .face.crop import track_poses
from .face.footage import track_frames, video_frames, video_info
from .media.provenance import Origin, avatar_entry, check_signing, sign_file, source_entry, unsigned_path, voice_entry
from .media.writer import VideoWriter
from .motion.audio import AudioMotion
from .render.diffusion import MouthPainter, load_personal
from .speech.loudness import LoudnessNormalizer
from .speech.voice import get_voice

SAMPLE_RATE = 48_000
MAX_STRETCH = 1.5
STAGES = ("speech", "transcribe", "motion", "landmarks", "render", "encode")


@dataclass
class DubResult:
    """The dubbed video, its length, how many frames were repainted and seconds per stage."""

    video: Path
    frames: int
    fps: int
    painted: int
    stretch: float
    label_box: tuple[int, int, int, int] = (0, 0, 0, 0)   # where the AI-generated label is drawn
    timings: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    captions: dict[str, Path] = field(default_factory=dict)   # "vtt"/"srt" -> file, for a recording
    language: str | None = None

    @property
    def duration(self) -> float:
        return self.frames / self.fps


@dataclass(frozen=True)
class DubProgress:
    stage: str
    done: int
    total: int


def speech_for(audio: str | Path | None, text: str | Path | None, voice: str | None,
               voices_dir=None) -> np.ndarray:
    """The new speech as mono float32 at 48 kHz, loudness-normalised; from `audio` or from `text` + `voice`.

    `text` is a `Path` or a name ending in `.txt` (a UTF-8 file to read), or the words themselves.
    """
    if (audio is None) == (text is None):
        raise RenderError("give exactly one of audio (a recording) or text (with a voice)")
    if audio is not None:
        x = load_audio(audio, SAMPLE_RATE)
    else:
        from .speech.align import synthesize_transcript

        if voice is None:
            raise RenderError("dubbing from text needs a voice (--voice), e.g. one listed by `avatarkit voices`")
        if isinstance(text, Path) or str(text).endswith(".txt"):
            p = Path(text)
            try:
                words = p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise RenderError(f"{p}: cannot read the text to speak ({e})") from None
        else:
            words = str(text)
        if not words.split():
            raise RenderError(f"{text}: no words to speak")
        # Phrase by phrase, with the pauses of sentence ends, as a script's text would be spoken.
        x = synthesize_transcript(words, voice, voices_dir).resampled(SAMPLE_RATE).audio
    return LoudnessNormalizer(SAMPLE_RATE)(x)


def video_landmarks(video: Path, avatar: Avatar | None, digest: str,
                    progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(landmarks (N, 478, 2) pixels, usable (N,) bool) of every frame of `video` (SHA-256 `digest`).

    When `avatar` was made from this very file, its intake landmarks are reused.
    """
    if avatar is not None and avatar.meta["footage"].get("sha256") == digest:
        return avatar.track.landmarks[:, :, :2], avatar.track.good
    L, reasons = track_frames(video, progress=progress)
    good = np.array([r is None for r in reasons], bool)
    L = L[:, :, :2].copy()
    L[~good] = np.nan
    return L, good


def dub(video: str | Path, out: str | Path, *, audio: str | Path | None = None, text: str | Path | None = None,
        voice: str | None = None, avatar: str | Path | None = None, home: str | Path | None = None,
        motion: str = "learned", steps: int | None = None, batch: int = 8, device: str = "auto",
        captions: bool = True, language: str | None = None,
        progress: Callable[[DubProgress], None] | None = None) -> DubResult:
    """Dub `video` into the MP4 `out` with new speech; see the module docstring.

    With a recording as the new speech and `captions`, what Whisper hears
    in it (in `language`, or the detected one) is written beside the MP4 as
    `<stem>.<language>.vtt` and `.srt` when the video is complete.

    `avatar` names the person's trained avatar (default: the avatar made from
    this very video file). `steps` overrides the model's sampling steps;
    `batch` frames are generated per model call.
    """
    video, out = Path(video), Path(out)
    if out.suffix.lower() != ".mp4":
        raise RenderError(f"{out}: the output must be an .mp4 file")
    if out.resolve() == video.resolve():
        raise RenderError(f"{out}: the output would overwrite the input video")
    if not video.is_file():
        raise RenderError(f"{video}: video not found")
    if steps is not None and not 1 <= steps <= 50:
        raise RenderError(f"steps {steps}: expected 1 to 50 sampling steps")
    if batch < 1:
        raise RenderError(f"batch {batch}: expected at least 1 frame per model call")
    fps_f, width, height, _ = video_info(video)
    fps = int(round(fps_f))
    if SAMPLE_RATE % fps:
        raise RenderError(f"{video}: frame rate {fps_f:g} is not supported (use 24, 25, 30, 48, 50 or 60)")
    if width % 2 or height % 2:
        raise RenderError(f"{video}: frame size {width}x{height} must be even")
    digest = footage_digest(video)
    av_ = open_avatar(avatar, home) if avatar is not None else find_by_footage(video, home, digest)
    if av_ is None:
        raise AvatarError(f"{video}: no avatar was made from this video; make and train one first "
                          f"(`avatarkit avatar add NAME --footage {video} --consent FILE`, "
                          f"`avatarkit avatar train NAME`) or pass --avatar NAME")
    check_signing()
    dev = "cuda" if device == "auto" and _cuda() else ("cpu" if device == "auto" else device)
    _, model, mouth, reference = load_personal(str(av_.folder), dev)
    timings = {s: 0.0 for s in STAGES}
    wall0 = time.perf_counter()
    report = (lambda stage: (lambda d, n: progress(DubProgress(stage, d, n)))) if progress else (lambda stage: None)

    t0 = time.perf_counter()
    speech = speech_for(audio, text, voice)
    timings["speech"] += time.perf_counter() - t0
    transcript = None
    if captions and audio is not None:
        from .transcribe import transcribe

        t0 = time.perf_counter()
        heard = report("transcribe")    # seconds of the recording heard so far
        transcript = transcribe(audio, language=language,
                                progress=(lambda d, n: heard(int(d), int(n))) if heard else None)
        timings["transcribe"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    points, good = video_landmarks(video, av_, digest, report("landmarks"))
    timings["landmarks"] += time.perf_counter() - t0
    if not good.any():
        raise FaceError(f"{video}: no frame has a usable face (one person, facing the camera); nothing to dub")
    n_video = len(good)
    spf = SAMPLE_RATE // fps
    n_speech = -(-speech.size // spf)
    n_out = max(n_video, n_speech)
    stretch = n_out / n_video
    if stretch > MAX_STRETCH:
        raise RenderError(f"the new speech ({speech.size / SAMPLE_RATE:.1f} s) is more than {MAX_STRETCH}x "
                          f"as long as {video} ({n_video / fps:.1f} s); shorten it or use a longer video")
    speech = np.concatenate([speech, np.zeros(n_out * spf - speech.size, np.float32)])
    t0 = time.perf_counter()
    track = AudioMotion(motion).animate_audio(speech, SAMPLE_RATE, fps=fps, frames=n_out)
    timings["motion"] += time.perf_counter() - t0
    poses = track_poses(points, good)
    source = np.minimum((np.arange(n_out) * n_video) // n_out, n_video - 1)   # output frame -> video frame
    painter = MouthPainter(model, reference, steps)
    painted = 0
    label = LabelStamp(width, height)

    # Written unsigned beside `out`, then signed into place with its Content Credentials (C2PA).
    writer = VideoWriter(unsigned_path(out), width, height, fps, SAMPLE_RATE, title=f"{video.stem} (dubbed)",
                         language=transcript.language if transcript is not None else None)
    with writer:
        writer.write_audio(speech)
        frames_in = video_frames(video)
        current, current_i = None, -1
        pending: list[tuple[np.ndarray, int]] = []

        def flush():
            nonlocal painted
            todo = [(f, j) for f, j in pending if good[source[j]]]
            t1 = time.perf_counter()
            if todo:
                painter.paint([f for f, _ in todo], [poses[source[j]] for _, j in todo],
                              [mouth.retarget(points[source[j]], track.frame(j), poses[source[j]]) for _, j in todo])
                painted += len(todo)
            t2 = time.perf_counter()
            for f, _ in pending:
                label(f)
                writer.write_frame(f)
            timings["render"] += t2 - t1
            timings["encode"] += time.perf_counter() - t2
            pending.clear()

        for j in range(n_out):
            while current_i < source[j]:
                t1 = time.perf_counter()
                current = next(frames_in)
                current_i += 1
                timings["encode"] += time.perf_counter() - t1
            pending.append((current.copy(), j))
            if len(pending) == batch:
                flush()
                if progress:
                    progress(DubProgress("render", j + 1, n_out))
        flush()
    try:
        voices = [voice_entry(get_voice(voice))] if audio is None else []
        sources = [source_entry("video", video, digest)] + ([source_entry("audio", audio)] if audio is not None else [])
        sign_file(writer.path, out, Origin("dub", f"{video.stem} (dubbed)", voices, [avatar_entry(av_)], sources))
    finally:
        writer.path.unlink(missing_ok=True)
    files = {}
    if transcript is not None:
        from .transcribe import write_captions

        files = write_captions(transcript, out, title=f"{video.stem} (dubbed)")
    if progress:
        progress(DubProgress("render", n_out, n_out))
    return DubResult(out, n_out, fps, painted, stretch, label.box, timings, time.perf_counter() - wall0, files,
                     transcript.language if transcript is not None else None)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
