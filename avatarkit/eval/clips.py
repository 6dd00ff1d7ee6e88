"""Reading a real talking-face video for scoring: frames, landmarks, mouth crops and audio on one clock.

`read_clip` is the one reader the lip-sync harness (`eval.lipsync`), the sync
judge (`eval.sync`) and the training commands share, so every number comes
from the same decoding, downscaling (height at most `MAX_HEIGHT`) and
landmarks. `mouth_crop` cuts the sync judge's grayscale mouth crops.
`EvalError` is what the evaluation raises for a video it cannot score.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AvatarkitError

MAX_HEIGHT = 512        # pixels; frames taller than this are scaled down first
SAMPLE_RATE = 16_000    # Hz; the audio models' own rate
CROP_H, CROP_W = 48, 96     # mouth crop, pixels
# MediaPipe face-mesh indices: outer eye corners and the mouth.
_EYE_R, _EYE_L = 33, 263
_MOUTH = (13, 14, 61, 291, 0, 17)


class EvalError(AvatarkitError):
    """An input video the harness cannot score (unreadable, no video track, no face in the first frame)."""


@dataclass(frozen=True)
class EvalProgress:
    """Sent while a video is measured: `done` of `total` frames of `stage` ("real" or a method)."""

    video: Path
    stage: str
    done: int
    total: int


# -- reading a video -----------------------------------------------------------

def forget_tracked_face() -> None:
    """Show MediaPipe's tracking-mode face mesh an empty frame, so the next sequence starts from detection.

    Without it, where the tracker looks in the first frames depends on the
    sequence measured before, and scores depend on the order of methods.
    Skipped before the first sequence, whose first frame MediaPipe's
    start-up chatter is silenced on.
    """
    from ..face.detect import try_detect_landmarks

    if _TRACKER["used"]:
        try_detect_landmarks(np.zeros((64, 64, 3), np.uint8))
    _TRACKER["used"] = True


_TRACKER = {"used": False}


@dataclass
class Clip:
    """The scored part of a video: `fps`, its first frame (RGB), real landmarks and audio at `SAMPLE_RATE`."""

    path: Path
    fps: float
    first: np.ndarray
    real: np.ndarray       # (frames, 478, 2) pixels of the downscaled frames, NaN = no face
    audio: np.ndarray      # mono float32, sample 0 = the first frame's start
    truncated: bool = False  # the video goes on past `max_seconds`
    mouths: np.ndarray | None = None  # (frames, 48, 96) uint8 mouth crops for `eval.sync` (`keep_mouths`)

    @property
    def frames(self) -> int:
        return int(self.real.shape[0])


def read_clip(path: str | Path, max_seconds: float = 60.0, max_height: int = MAX_HEIGHT,
              progress: Callable[[EvalProgress], None] | None = None,
              on_first: Callable[[np.ndarray], None] | None = None, keep_mouths: bool = False) -> Clip:
    """Decode up to `max_seconds` of a video, measure its face in every frame, and load its audio.

    Frames are scaled down to at most `max_height` pixels high. The audio is
    shifted by the time between its stream's start and the first video
    frame, so audio sample 0 plays with video frame 0. Assumes a constant
    frame rate. `on_first`
    sees the first frame before the rest is decoded, so a caller can reject
    a video early.
    """
    import av

    from ..audio.io import stream_audio
    from ..face.detect import try_detect_landmarks

    path = Path(path)
    if not path.is_file():
        raise EvalError(f"{path}: no such video file")
    # Audio first: a file without sound fails before any decoding. Only what can be scored is kept.
    blocks, have = [], 0
    for block in stream_audio(path, SAMPLE_RATE):
        blocks.append(block)
        have += block.size
        if have > (max_seconds + 2) * SAMPLE_RATE:
            break
    audio = np.concatenate(blocks)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise EvalError(f"{path}: not a video PyAV can read ({e.__class__.__name__})") from None
    try:
        if not container.streams.video:
            raise EvalError(f"{path}: has no video track")
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        rate = vs.average_rate or vs.guessed_rate
        if not rate:
            raise EvalError(f"{path}: the video track has no frame rate")
        fps = float(rate)
        limit = max(1, int(max_seconds * fps))
        v_start = float(vs.start_time * vs.time_base) if vs.start_time is not None else 0.0
        a_start = v_start
        if container.streams.audio:
            a = container.streams.audio[0]
            a_start = float(a.start_time * a.time_base) if a.start_time is not None else v_start
        total = min(limit, vs.frames) if vs.frames else limit
        first = None
        real, mouths = [], []
        truncated = False
        forget_tracked_face()
        try:
            for frame in container.decode(vs):
                if len(real) >= limit:
                    truncated = True
                    break
                h, w = frame.height, frame.width
                s = min(1.0, max_height / h)
                rgb = frame.reformat(width=max(2, round(w * s)), height=max(2, round(h * s)),
                                     format="rgb24").to_ndarray()
                if first is None:
                    first = rgb
                    if frame.time is not None:
                        v_start = float(frame.time)
                    if on_first:
                        on_first(rgb)
                pts = try_detect_landmarks(rgb)
                real.append(np.full((478, 2), np.nan) if pts is None else pts[:, :2].astype(np.float64))
                if keep_mouths:
                    mouths.append(mouth_or_blank(rgb, pts))
                if progress:
                    progress(EvalProgress(path, "real", len(real), total))
        except av.error.FFmpegError as e:
            raise EvalError(f"{path}: the video track is damaged: {e}") from None
    finally:
        container.close()
    if first is None:
        raise EvalError(f"{path}: the video track holds no frames")
    shift = round((a_start - v_start) * SAMPLE_RATE)
    audio = np.concatenate([np.zeros(shift, np.float32), audio]) if shift > 0 else audio[-shift:]
    audio = audio[: round(len(real) / fps * SAMPLE_RATE)]
    return Clip(path, fps, first, np.stack(real), audio.astype(np.float32), truncated,
                np.stack(mouths) if keep_mouths else None)


# -- mouth crops ---------------------------------------------------------------

def mouth_crop(image: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray | None:
    """The (CROP_H, CROP_W) uint8 grayscale crop of the mouth of an RGB image, or None without landmarks.

    The crop is rotated to the eye line, centred on the mouth and 1.2
    inter-ocular distances wide, so it has the same scale for every face.
    """
    import cv2

    if landmarks is None:
        return None
    pts = np.asarray(landmarks, np.float64)[:, :2]
    if not np.isfinite(pts[[_EYE_R, _EYE_L, *_MOUTH]]).all():
        return None
    eye = pts[_EYE_L] - pts[_EYE_R]
    iod = float(np.hypot(*eye))
    if iod < 4:
        return None
    c = pts[list(_MOUTH)].mean(0)
    scale = CROP_W / (1.2 * iod)
    m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), math.degrees(math.atan2(eye[1], eye[0])), scale)
    m[:, 2] += (CROP_W / 2 - c[0], CROP_H / 2 - c[1])
    gray = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return cv2.warpAffine(gray, m, (CROP_W, CROP_H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def mouth_or_blank(rgb: np.ndarray, pts: np.ndarray | None) -> np.ndarray:
    """`mouth_crop`, or an all-zero crop where there is no face (the sync judge skips those)."""
    c = mouth_crop(rgb, pts)
    return np.zeros((CROP_H, CROP_W), np.uint8) if c is None else c
