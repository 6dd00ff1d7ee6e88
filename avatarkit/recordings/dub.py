"""Dubbing: the person in an existing video speaks new audio, from the video's own frames.

`dub(video, out, audio=...)` or `dub(video, out, text=..., voice=...)`:

1. The new speech: a recording (any format PyAV reads), or text spoken by a
   catalogue voice; brought to -16 LUFS.
2. Motion for it from the audio-to-motion model (`motion.audio`), at the
   video's frame rate.
3. **footage** (the default, one-shot): the clip itself is the material. It
   is prepared in memory by footage intake (`face.footage.analyse_footage`:
   landmarks, pose, blinks, inner lips, the person's own mouth bank; reused
   from the avatar made from this very file when there is one), and rendered
   by `render.footage.FootageRenderer`: the clip's frames re-timed by a motion
   graph (cuts only between similar poses, cross-faded), the lips and jaw
   warped to the new mouth, the person's own mouths pasted inside the lips.
   No `avatar add`, no training. Parts of the clip without a usable face are
   left out of the material, with a warning naming their seconds.
4. **diffusion** (only when asked for, or when `avatar` names a trained
   avatar): a landmark pass over the video, then frame by frame the person's
   `MouthRig` moves the lips and jaw of that frame's own landmarks and the
   avatar's mouth model repaints the mouth region (`render.diffusion`).

Timing: with the diffusion renderer, when the new speech is longer than the
video, the video's timeline is stretched evenly (frames repeated, at most
1.5x); the footage renderer re-times the clip to any length. When the speech
is shorter, the video keeps its length and the speech is followed by silence
with the mouth at rest. The original sound is replaced, and every frame
carries the AI-generated label (top right), as every avatarkit output does.
The output is written to a hidden partial file and renamed when complete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..compose.text import LabelStamp
from ..errors import FaceError, RenderError
from ..face.avatar import Avatar, AvatarError, find_by_footage, footage_digest, open_avatar
from ..face.crop import track_poses
from ..face.footage import seconds_spans, track_frames, video_frames, video_info
from ..media.provenance import Origin, avatar_entry, check_signing, sign_file, source_entry, unsigned_path, voice_entry
from ..media.writer import VideoWriter
from ..motion.audio import AudioMotion
from ..speech.loudness import NormalizedSpeech
from ..speech.voice import get_voice

SAMPLE_RATE = 48_000
MAX_STRETCH = 1.5
STAGES = ("speech", "transcribe", "motion", "landmarks", "render", "encode")
RENDERERS = ("footage", "diffusion")


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
    captions: dict[str, Path] = field(default_factory=dict)   # "vtt"/"srt" -> file
    language: str | None = None
    renderer: str = "footage"
    warnings: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.frames / self.fps


@dataclass(frozen=True)
class DubProgress:
    stage: str
    done: int
    total: int


def speech_for(audio: str | Path | None, text: str | Path | None, voice: str | None,
               voices_dir=None, progress: Callable[[int, int], None] | None = None) -> NormalizedSpeech:
    """The new speech at 48 kHz and -16 LUFS (`speech.loudness.NormalizedSpeech`): the recording `audio`,
    read from its file in blocks, or `text` spoken by `voice` (`progress(done, total)` in phrases).

    `text` is a `Path` or a name ending in `.txt` (a UTF-8 file to read), or the words themselves.
    """
    return speech_and_words(audio, text, voice, voices_dir, progress)[0]


def speech_and_words(audio: str | Path | None, text: str | Path | None, voice: str | None,
                     voices_dir=None, progress: Callable[[int, int], None] | None = None):
    """`speech_for`'s speech, and for `text` the words it speaks with their times (a `Transcript` in the
    voice's language, for captions without Whisper); None for a recording."""
    if (audio is None) == (text is None):
        raise RenderError("give exactly one of audio (a recording) or text (with a voice)")
    if audio is not None:
        from ..audio.io import stream_audio

        return NormalizedSpeech(lambda: stream_audio(audio, SAMPLE_RATE, SAMPLE_RATE)), None
    from ..speech.align import synthesize_transcript
    from ..speech.whisper import Transcript, TranscriptWord

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
    utt = synthesize_transcript(words, voice, voices_dir, progress).resampled(SAMPLE_RATE)
    spoken = Transcript(get_voice(voice, voices_dir).language.split("-")[0], 1.0, utt.num_samples / SAMPLE_RATE,
                        [TranscriptWord(w.text, w.start / SAMPLE_RATE, w.end / SAMPLE_RATE) for w in utt.words])
    return NormalizedSpeech.from_array(utt.audio), spoken


def encoder_preset(width: int, height: int) -> str:
    """x264's preset for a dub of this size: `veryfast` up to 720p; above it `superfast`, which took half
    the CPU of `veryfast` at 1080p (where `veryfast` alone took more than a core for 25 frames a second)
    for the same Y PSNR and a third more bytes (docs/quality.md, one-shot dubbing speed)."""
    return "veryfast" if width * height <= 1280 * 720 else "superfast"


def video_landmarks(video: Path, avatar: Avatar | None, digest: str,
                    progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(landmarks (N, 478, 2) pixels, usable (N,) bool) of every frame of `video` (SHA-256 `digest`).

    When `avatar` was made from this very file, its intake landmarks are reused.
    """
    if avatar is not None and avatar.meta.get("footage", {}).get("sha256") == digest:
        return avatar.track.landmarks[:, :, :2], avatar.track.good
    L, reasons = track_frames(video, progress=progress)
    good = np.array([r is None for r in reasons], bool)
    L = L[:, :, :2].copy()
    L[~good] = np.nan
    return L, good


def dub(video: str | Path, out: str | Path, *, audio: str | Path | None = None, text: str | Path | None = None,
        voice: str | None = None, avatar: str | Path | None = None, home: str | Path | None = None,
        motion: str = "learned", steps: int | None = None, batch: int = 8, device: str = "auto",
        captions: bool = True, language: str | None = None, renderer: str | None = None, seed: int = 0,
        progress: Callable[[DubProgress], None] | None = None) -> DubResult:
    """Dub `video` into the MP4 `out` with new speech; see the module docstring.

    With `captions`, what is said is written beside the MP4 as
    `<stem>.<language>.vtt` and `.srt` when the video is complete: for a
    recording what Whisper hears in it (in `language`, or the detected one),
    for text its own words at the times the voice speaks them.

    `renderer` is "footage" (any clip, no avatar needed) or "diffusion" (a trained avatar); by default
    "diffusion" only when `avatar` names a trained avatar. `avatar` names the person's avatar (default:
    the avatar made from this very video file, whose preparation is then reused). `seed` varies the
    footage renderer's re-timing; `steps` (sampling steps) and `batch` (frames per model call) are the
    diffusion renderer's.
    """
    video, out = Path(video), Path(out)
    if out.suffix.lower() != ".mp4":
        raise RenderError(f"{out}: the output must be an .mp4 file")
    if out.resolve() == video.resolve():
        raise RenderError(f"{out}: the output would overwrite the input video")
    if not video.is_file():
        raise RenderError(f"{video}: video not found")
    if renderer is not None and renderer not in RENDERERS:
        raise RenderError(f"renderer {renderer!r}: expected one of {', '.join(RENDERERS)}")
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
    named = open_avatar(avatar, home) if avatar is not None else None
    kind = renderer or ("diffusion" if named is not None and named.trained else "footage")
    if kind == "diffusion":
        av_ = named or find_by_footage(video, home, digest)
        if av_ is None:
            raise AvatarError(f"{video}: the diffusion renderer needs a trained avatar and none was made from "
                              f"this video (`avatarkit avatar add NAME --footage {video} --consent FILE`, "
                              f"`avatarkit avatar train NAME`, then --avatar NAME); without --renderer diffusion "
                              f"the clip is dubbed from its own frames")
    else:
        if named is not None and named.meta.get("footage", {}).get("sha256") != digest:
            raise AvatarError(f"avatar {named.name!r} was made from other footage and has no trained mouth model "
                              f"(`avatarkit avatar train {named.name}`); leave out --avatar to dub {video} from "
                              f"its own frames")
        av_ = named or find_by_footage(video, home, digest)
    check_signing()
    timings = {s: 0.0 for s in STAGES}
    wall0 = time.perf_counter()
    report = (lambda stage: (lambda d, n: progress(DubProgress(stage, d, n)))) if progress else (lambda stage: None)
    if kind == "diffusion":
        from ..render.diffusion import load_personal

        dev = "cuda" if device == "auto" and _cuda() else ("cpu" if device == "auto" else device)
        personal = load_personal(str(av_.folder), dev)
    else:
        personal = None

    t0 = time.perf_counter()
    speech, spoken = speech_and_words(audio, text, voice, progress=report("speech"))
    timings["speech"] += time.perf_counter() - t0
    material = None
    if kind != "diffusion":
        # The clip's material (an avatar made from it, or the clip prepared now): a clip is checked (a face,
        # long enough) before the recording is transcribed, which takes longer.
        t0 = time.perf_counter()
        material = (av_.track, av_.mouth_bank(), []) if av_ is not None and "lips" in av_.track.features \
            else prepare_clip(video, report("landmarks"))
        timings["landmarks"] += time.perf_counter() - t0
    transcript = spoken if captions else None       # a text's own words need no Whisper
    if captions and audio is not None:
        from .transcribe import transcribe

        t0 = time.perf_counter()
        heard = report("transcribe")    # seconds of the recording heard so far
        transcript = transcribe(audio, language=language,
                                progress=(lambda d, n: heard(int(d), int(n))) if heard else None)
        timings["transcribe"] += time.perf_counter() - t0
    spf = SAMPLE_RATE // fps
    n_speech = -(-speech.samples // spf)

    def writer():   # opened only once the frames are ready to come: a failure before leaves no file
        # Encoding on its own thread, a few frames behind: drawing the next frame overlaps it.
        return VideoWriter(unsigned_path(out), width, height, fps, SAMPLE_RATE, ahead=4, title=f"{video.stem} (dubbed)",
                           language=transcript.language if transcript is not None else None,
                           preset=encoder_preset(width, height))

    label = LabelStamp(width, height)
    if kind == "diffusion":
        n_out, n_video, painted, warnings = _render_diffusion(video, av_, digest, personal, speech, n_speech, fps, motion,
                                                     steps, batch, writer, label, timings, report, progress)
    else:
        n_out, n_video, painted, warnings = _render_footage(video, speech, n_speech, fps, motion, seed, writer, label,
                                                            timings, progress, material)
    try:
        voices = [voice_entry(get_voice(voice))] if audio is None else []
        sources = [source_entry("video", video, digest)] + ([source_entry("audio", audio)] if audio is not None else [])
        avatars = [avatar_entry(av_)] if av_ is not None else []
        sign_file(unsigned_path(out), out, Origin("dub", f"{video.stem} (dubbed)", voices, avatars, sources))
    finally:
        unsigned_path(out).unlink(missing_ok=True)
    files = {}
    if transcript is not None:
        from .transcribe import write_captions

        files = write_captions(transcript, out, title=f"{video.stem} (dubbed)")
    if progress:
        progress(DubProgress("render", n_out, n_out))
    return DubResult(out, n_out, fps, painted, n_out / n_video, label.box, timings,
                     time.perf_counter() - wall0, files, transcript.language if transcript is not None else None,
                     kind, warnings)


def _render_diffusion(video, av_, digest, personal, speech, n_speech, fps, motion, steps, batch, writer, label,
                      timings, report, progress):
    """The trained avatar's mouth model repaints each frame's mouth; returns (frames, video frames, painted,
    warnings)."""
    from ..render.diffusion import MouthPainter

    _, model, mouth, reference = personal
    t0 = time.perf_counter()
    points, good = video_landmarks(video, av_, digest, report("landmarks"))
    timings["landmarks"] += time.perf_counter() - t0
    if not good.any():
        raise FaceError(f"{video}: no frame has a usable face (one person, facing the camera); nothing to dub")
    n_video = len(good)
    spf = SAMPLE_RATE // fps
    n_out = max(n_video, n_speech)
    if n_out / n_video > MAX_STRETCH:
        raise RenderError(f"the new speech ({speech.samples / SAMPLE_RATE:.1f} s) is more than {MAX_STRETCH}x "
                          f"as long as {video} ({n_video / fps:.1f} s); shorten it, use a longer video or the "
                          f"footage renderer")
    speech = speech.array(n_out * spf)     # no longer than 1.5x the video, whose frames are held anyway
    t0 = time.perf_counter()
    track = AudioMotion(motion).animate_audio(speech, SAMPLE_RATE, fps=fps, frames=n_out)
    timings["motion"] += time.perf_counter() - t0
    poses = track_poses(points, good)
    source = np.minimum((np.arange(n_out) * n_video) // n_out, n_video - 1)   # output frame -> video frame
    painter = MouthPainter(model, reference, steps)
    painted = 0
    warnings = []
    if not good.all():
        warnings.append(f"{video}: no usable face at {seconds_spans(~good, fps)}; those frames are left as filmed")

    # Written unsigned beside `out`, then signed into place with its Content Credentials (C2PA).
    with writer() as w:
        w.write_audio(speech)
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
                w.write_frame(f)
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
    return n_out, n_video, painted, warnings


def prepare_clip(video: Path, progress: Callable[[int, int], None] | None = None):
    """(footage track with per-frame features, the person's own mouth bank, warnings) of a clip, in memory.

    Falls back to the shipped mouth bank, with a warning, when the clip never shows an open mouth."""
    from ..face.footage import FrameFeatures, analyse_footage, own_mouths
    from ..mouthbank import load_bank

    feats = FrameFeatures()
    track = analyse_footage(video, progress=progress, features=feats)
    bank = own_mouths(track, feats, video.stem)
    warnings = list(track.warnings)
    if bank is None:
        warnings.append(f"{video}: the clip never shows an open mouth; mouths come from the shipped bank")
        bank = load_bank()
    return track, bank, warnings


def _render_footage(video, speech, n_speech, fps, motion, seed, writer, label, timings, progress, material):
    """The clip's own frames re-timed by the motion graph, own mouths pasted; returns (frames, video frames,
    painted, warnings). `material` is the clip's (track, mouth bank, warnings), as `prepare_clip` gives them."""
    import cv2

    from ..motion.graph import GraphConfig, speech_onsets
    from ..render.footage import FootageRenderConfig, FootageRenderer, FrameStore
    from ..utils.memory import memory_trimmer

    track, bank, warnings = material
    good = np.asarray(track.good, bool)
    n_video = len(good)
    if not good.all():
        warnings.append(f"{video}: no usable face at {track.unusable()}; those parts of the clip are not used")
    spf = SAMPLE_RATE // fps
    n_out = max(n_video, n_speech)
    total = n_out * spf
    t0 = time.perf_counter()
    # One pass over the speech for the motion and the level of each frame (for the onsets), one more as the
    # frames are written: the speech is read from its source in blocks both times, never held whole.
    level = np.zeros(n_out)

    def measured():
        at = 0
        for b in speech.blocks(fps * spf, total):
            k = b.size // spf
            level[at:at + k] = (b.astype(np.float64).reshape(k, spf) ** 2).mean(1)
            at += k
            yield b

    track_motion = AudioMotion(motion).animate_blocks(measured(), total, SAMPLE_RATE, fps=fps, frames=n_out)
    # A signal of one sample per frame at the frame rate whose square is the frame's mean square: the onsets
    # see the same per-frame level as from the 48 kHz speech itself.
    onsets = speech_onsets(np.sqrt(level), fps, fps, n_out)
    timings["motion"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    store = FrameStore.from_video(video, good)
    timings["encode"] += time.perf_counter() - t0
    renderer = FootageRenderer(track, store, bank, FootageRenderConfig(graph=GraphConfig(), seed=seed))
    stamp = _I420Label(label, store.width, store.height)
    trim = memory_trimmer()
    # The encoder thread runs x264 on both cores: OpenCV's pool on top of it would only add switching.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with writer() as w:
            sound = speech.blocks(spf, total)
            t1 = time.perf_counter()
            for j, frame in enumerate(renderer.frames_i420(track_motion, onsets, buffer=w.frame_buffer)):
                t2 = time.perf_counter()
                timings["render"] += t2 - t1
                stamp(frame)
                w.write_yuv(frame)
                # The sound goes in with its frame: an hour's worth at once would be copied whole by the encoder.
                w.write_audio(next(sound))
                t1 = time.perf_counter()
                timings["encode"] += t1 - t2
                if (j + 1) % 250 == 0:
                    trim()
                if progress and (j + 1) % 25 == 0:
                    progress(DubProgress("render", j + 1, n_out))
    finally:
        cv2.setNumThreads(threads)
        store.close()
    return n_out, n_video, n_out, warnings


class _I420Label:
    """`LabelStamp` on an I420 frame: the label's box (to even edges) is converted to RGB, stamped and back."""

    def __init__(self, label: LabelStamp, width: int, height: int):
        import copy

        from ..media.writer import even_box

        self.box = even_box(label.box, width, height)
        self.stamp = copy.copy(label)
        x0, y0, x1, y1 = label.box
        self.stamp.box = (x0 - self.box[0], y0 - self.box[1], x1 - self.box[0], y1 - self.box[1])

    def __call__(self, yuv: np.ndarray) -> None:
        from ..media.writer import i420_box, put_i420_box

        rgb = i420_box(yuv, self.box)
        self.stamp(rgb)
        put_i420_box(yuv, self.box, rgb)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
