"""A sync judge of our own: a small audio-visual network in the spirit of SyncNet.

Two tiny convolutional encoders map a 5-frame window of grayscale mouth crops
(`CROP_H` x `CROP_W`, cut along the eye line from MediaPipe landmarks) and
the 20 log-mel frames (0.2 s, 64 bands, `audio.features.LogMel`) centred on
the same instant to unit embeddings; their cosine distance is small when the
lips and the sound belong together. `judge` slides the audio against the
video by -15..+15 frames, averages the distance over all windows at each
offset, and reports SyncNet's figures: the offset of least mean distance
(positive = the sound comes late) and the confidence, the median of those
mean distances minus their minimum.

The shipped weights live in `avatarkit/models/syncjudge/` (config, weights
and `training.json`, which records the command, seed and speaker split);
`python -m avatarkit.training.syncjudge` reproduces them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .clips import CROP_H, CROP_W, EvalError, mouth_crop, read_clip

WINDOW = 5                  # video frames per window
MEL_WINDOW = 20             # log-mel frames (10 ms each) per window
MAX_OFFSET = 15             # frames searched either side
SAMPLE_RATE = 16_000
MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "syncjudge"


@dataclass(frozen=True)
class SyncConfig:
    """Encoder widths and the embedding size (the whole architecture; see `SyncNetwork`)."""

    widths: tuple[int, ...] = (16, 32, 64, 128)
    embed: int = 64
    crop_h: int = CROP_H
    crop_w: int = CROP_W
    window: int = WINDOW
    n_mels: int = 64
    mel_window: int = MEL_WINDOW

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "SyncConfig":
        d = dict(d)
        if "widths" in d:
            d["widths"] = tuple(d["widths"])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class SyncVerdict:
    """`offset_frames`: + = the audio is late; `confidence`: median minus minimum of the mean distances."""

    offset_frames: int
    confidence: float
    distances: tuple[float, ...] = ()   # mean distance at offsets -MAX_OFFSET..MAX_OFFSET
    windows: int = 0                    # video windows compared


# -- mouth crops ---------------------------------------------------------------

def crops_from_frames(frames, landmarks=None) -> np.ndarray:
    """Mouth crops (N, CROP_H, CROP_W) uint8 of RGB frames; frames without a face are zeros (and skipped)."""
    from ..face.detect import try_detect_landmarks

    out = []
    for i, f in enumerate(frames):
        pts = landmarks[i] if landmarks is not None else try_detect_landmarks(f)
        c = mouth_crop(f, pts)
        out.append(np.zeros((CROP_H, CROP_W), np.uint8) if c is None else c)
    return np.stack(out) if out else np.zeros((0, CROP_H, CROP_W), np.uint8)


def read_video(path: str | Path, max_seconds: float = 60.0, max_height: int = 512) -> tuple[np.ndarray, np.ndarray, float]:
    """Mouth crops, 16 kHz audio (sample 0 = frame 0) and fps of a video file, via `eval.clips.read_clip`."""
    clip = read_clip(path, max_seconds, max_height, keep_mouths=True)
    return clip.mouths, clip.audio, clip.fps


# -- features ------------------------------------------------------------------

_MEL = {}


def log_mel(audio: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Log-mel frames (T, 64) at 100 Hz less each band's mean over the louder frames (gain-free).

    `reference` replaces that mean (see `mel_reference`), for a part of a longer recording.
    """
    from ..audio.features import LogMel

    if "m" not in _MEL:
        _MEL["m"] = LogMel()
    mel = _MEL["m"](np.asarray(audio, np.float32))
    if len(mel):
        mel = mel - (mel_reference(mel) if reference is None else reference)
    return np.maximum(mel, -12.0).astype(np.float32)


def mel_reference(mel: np.ndarray) -> np.ndarray:
    """Per-band mean of the frames louder than the quietest fifth (speech sets the level)."""
    loud = mel.mean(1) > np.percentile(mel.mean(1), 20)
    return (mel[loud] if loud.any() else mel).mean(0)


def video_windows(crops: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(len(centres), WINDOW, H, W) float32 windows of standardised crops around each frame index (edges repeat)."""
    n = len(crops)
    idx = np.clip(centres[:, None] + np.arange(WINDOW) - WINDOW // 2, 0, n - 1)
    x = crops[idx].astype(np.float32)
    x -= x.mean(axis=(1, 2, 3), keepdims=True)
    x /= x.std(axis=(1, 2, 3), keepdims=True) + 8.0
    return x


def audio_windows(mel: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(len(times), 1, 64, MEL_WINDOW) float32 windows of `mel` centred on `times` seconds (silence outside)."""
    start = np.round(times * 100.0).astype(int) - MEL_WINDOW // 2
    idx = start[:, None] + np.arange(MEL_WINDOW)
    pad = np.concatenate([np.full((1, mel.shape[1]), -12.0, np.float32), mel]) if len(mel) else \
        np.full((1, 64), -12.0, np.float32)
    ok = (idx >= 0) & (idx < len(mel))
    x = pad[np.where(ok, idx + 1, 0)]               # (N, MEL_WINDOW, 64)
    return (x.transpose(0, 2, 1)[:, None] / 4.0).astype(np.float32)


# -- the network ---------------------------------------------------------------

def _encoder(cin: int, widths, embed: int, first_stride):
    import torch.nn as nn

    layers, c = [], cin
    for i, w in enumerate(widths):
        layers += [nn.Conv2d(c, w, 3, stride=first_stride if i == 0 else 2, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
        c = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, embed)]
    return nn.Sequential(*layers)


def build_network(config: SyncConfig | None = None):
    """A `SyncNetwork` (torch module): `.video(x)` and `.audio(x)` give unit embeddings."""
    import torch
    import torch.nn as nn

    config = config or SyncConfig()

    class SyncNetwork(nn.Module):
        def __init__(self, cfg: SyncConfig):
            super().__init__()
            self.config = cfg
            self.video_net = _encoder(cfg.window, cfg.widths, cfg.embed, 2)
            self.audio_net = _encoder(1, cfg.widths, cfg.embed, (2, 1))
            self.logit_scale = nn.Parameter(torch.tensor(10.0))

        def video(self, x):
            return nn.functional.normalize(self.video_net(x), dim=-1)

        def audio(self, x):
            return nn.functional.normalize(self.audio_net(x), dim=-1)

        def forward(self, v, a):
            return 1.0 - (self.video(v) * self.audio(a)).sum(-1)   # cosine distance

    return SyncNetwork(config)


def save(net, folder: str | Path, meta: dict | None = None) -> Path:
    """Write `config.json`, `model.safetensors` and, if given, `training.json` into `folder`."""
    from ..models.weights import save_folder

    return save_folder(folder, net.config.to_dict(), net, meta)


_LOADED: dict[str, object] = {}


def load(folder: str | Path | None = None):
    """The network in `folder` (default: the shipped weights), in eval mode; cached."""
    from ..models.weights import load_folder

    folder = Path(folder) if folder else MODEL_DIR
    key = str(folder.resolve())
    if key not in _LOADED:
        _LOADED[key] = load_folder(folder, SyncConfig.from_dict, build_network, EvalError)[1].eval()
    return _LOADED[key]


def available(folder: str | Path | None = None) -> bool:
    folder = Path(folder) if folder else MODEL_DIR
    return (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()


# -- judging -------------------------------------------------------------------

def judge(frames_or_video, audio: np.ndarray | None = None, fps: float | None = None, *,
          model=None, max_offset: int = MAX_OFFSET) -> SyncVerdict:
    """SyncNet-style offset and confidence of a talking face against its sound.

    `frames_or_video` is a video path (its own audio is used when `audio` is
    None), RGB frames (N, H, W, 3), or mouth crops (N, CROP_H, CROP_W) as
    `clips.mouth_crop` cuts them (all-zero crops = no face, skipped). `audio` is
    mono 16 kHz with sample 0 at frame 0's start; `fps` defaults to 25
    for frames. Offset +k: the sound plays k frames after the lips.
    """
    import torch

    if isinstance(frames_or_video, (str, Path)):
        crops, own, vfps = read_video(frames_or_video)
        audio = own if audio is None else audio
        fps = fps or vfps
    else:
        x = np.asarray(frames_or_video)
        crops = x if x.ndim == 3 else crops_from_frames(x)
    if audio is None:
        raise ValueError("judge: audio is required with frames")
    fps = float(fps or 25.0)
    net = model if model is not None else load()
    n = len(crops)
    face = crops.reshape(n, -1).any(1) if n else np.zeros(0, bool)
    # A window counts when every frame in it has a face.
    ok = np.array([face[max(0, i - 2): i + 3].all() for i in range(n)], bool)
    centres = np.flatnonzero(ok)
    offsets = np.arange(-max_offset, max_offset + 1)
    if len(centres) == 0:
        return SyncVerdict(0, math.nan, (), 0)
    mel = log_mel(audio)
    with torch.no_grad():
        v = torch.cat([net.video(torch.from_numpy(video_windows(crops, c))) for c in np.array_split(
            centres, max(1, len(centres) // 256))])
        # Audio embeddings for every frame the offsets reach, computed once.
        frames = np.arange(centres.min() - max_offset, centres.max() + max_offset + 1)
        a = torch.cat([net.audio(torch.from_numpy(audio_windows(mel, (f + 0.5) / fps))) for f in np.array_split(
            frames, max(1, len(frames) // 256))])
        base = frames[0]
        # Each offset averages only the windows whose sound lies inside the recording: padding is not data.
        last = len(audio) / SAMPLE_RATE * fps
        d = []
        for off in offsets:
            inside = torch.from_numpy((centres + off >= 0) & (centres + off + 1 <= last))
            ai = torch.from_numpy(centres + off - base)
            dist = 1.0 - (v * a[ai]).sum(-1)
            d.append(float(dist[inside].mean()) if inside.any() else math.nan)
    d = np.asarray(d)
    if not np.isfinite(d).any():
        return SyncVerdict(0, math.nan, tuple(float(x) for x in d), len(centres))
    best = int(np.nanargmin(d))
    return SyncVerdict(int(offsets[best]), float(np.nanmedian(d) - d[best]), tuple(float(x) for x in d),
                       len(centres))


__all__ = ["SyncConfig", "SyncVerdict", "judge", "crops_from_frames", "build_network", "load",
           "save", "available", "log_mel", "video_windows", "audio_windows"]
