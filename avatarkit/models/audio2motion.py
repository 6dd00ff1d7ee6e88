"""Audio2Motion: a small causal convolutional network from audio features to motion.

The network hears one of the front ends of `frontends.py` (`logmel`, or
`whisper`: Whisper-base's encoder states beside log-mel bands). It sees the
past (its receptive field, about 0.6 s with the shipped config) and
`lookahead` frames of the future, so its own latency is
`lookahead / frame_rate` seconds (the Whisper front end adds its window's).
It predicts, at the feature frame rate, the mouth channels of `MotionTrack` plus two
speech cues the head motion follows: `voice` (someone is speaking, 0..1) and
`onset` (a word is starting, 0..1). `AudioMotion` turns these into a
`MotionTrack` at the video frame rate.

Weights load and save with their config beside them (`save_pretrained` /
`from_pretrained`), diffusers-style: `config.json` + `model.safetensors`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..audio.features import MelConfig
from ..errors import AvatarkitError
from .frontends import FRONTENDS, frontend_dim, frontend_rate, make_frontend

OUTPUTS = ("jaw", "wide", "round", "press", "dental", "voice", "onset")
SHIPPED = Path(__file__).resolve().parent / "audio2motion"


class ModelError(AvatarkitError):
    """A model folder that is missing, incomplete or does not match its config."""


@dataclass
class Audio2MotionConfig:
    """Architecture: front end kind, widths (channels), kernel and dilations (frames), look-ahead (frames)."""

    mel: MelConfig = field(default_factory=MelConfig)
    features: str = "logmel"
    width: int = 128
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1)
    lookahead: int = 8
    outputs: tuple[str, ...] = OUTPUTS

    @property
    def frame_rate(self) -> float:
        """Output frames per second (the front end's rate)."""
        return frontend_rate(self.features, self.mel)

    @property
    def receptive_field(self) -> int:
        return 1 + sum((self.kernel - 1) * d for d in self.dilations)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        d["outputs"] = list(self.outputs)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Audio2MotionConfig":
        d = dict(d)
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ModelError(f"config.json: unknown fields {sorted(unknown)}")
        d["mel"] = MelConfig(**d.get("mel", {}))
        for k in ("dilations", "outputs"):
            if k in d:
                d[k] = tuple(d[k])
        cfg = cls(**d)
        if cfg.features not in FRONTENDS:
            raise ModelError(f"config.json: features {cfg.features!r} is not one of {', '.join(FRONTENDS)}")
        if cfg.lookahead < 0 or cfg.lookahead >= cfg.receptive_field:
            raise ModelError(f"config.json: lookahead {cfg.lookahead} must be in 0..{cfg.receptive_field - 1}")
        return cfg


def _torch():
    try:
        import torch
    except ImportError:
        raise ModelError("the learned lip-sync model needs PyTorch: pip install torch==2.13.0") from None
    return torch


def build_network(config: Audio2MotionConfig):
    """The torch module for `config` (random weights)."""
    torch = _torch()
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, width, kernel, dilation):
            super().__init__()
            self.conv = nn.Conv1d(width, width, kernel, dilation=dilation)
            self.mix = nn.Conv1d(width, width, 1)
            self.shrink = (kernel - 1) * dilation

        def forward(self, x):
            y = self.mix(torch.nn.functional.gelu(self.conv(x)))
            return x[:, :, self.shrink:] + y

    class Audio2MotionNet(nn.Module):
        def __init__(self, cfg: Audio2MotionConfig):
            super().__init__()
            self.cfg = cfg
            f = frontend_dim(cfg.features, cfg.mel)
            self.register_buffer("feature_mean", torch.zeros(f))
            self.register_buffer("feature_std", torch.ones(f))
            self.inp = nn.Conv1d(f, cfg.width, 1)
            self.blocks = nn.ModuleList(Block(cfg.width, cfg.kernel, d) for d in cfg.dilations)
            self.out = nn.Conv1d(cfg.width, len(cfg.outputs), 1)

        def forward(self, feats):
            """(B, T + receptive_field - 1, features) → (B, T, outputs)."""
            x = (feats - self.feature_mean) / self.feature_std
            x = self.inp(x.transpose(1, 2))
            for b in self.blocks:
                x = b(x)
            return self.out(x).transpose(1, 2)

    return Audio2MotionNet(config)


class Audio2Motion:
    """A loaded model: features in, per-frame outputs (100 Hz) out, in bounded memory."""

    def __init__(self, config: Audio2MotionConfig, network=None):
        self.config = config
        self.net = network if network is not None else build_network(config)
        self.net.eval()
        self.features = make_frontend(config.features, config.mel)

    # -- persistence ------------------------------------------------------
    def save_pretrained(self, folder: str | Path, meta: dict | None = None) -> Path:
        """Write `config.json`, `model.safetensors` and, if given, `training.json` into `folder`."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        state = {k: v.detach().contiguous().cpu() for k, v in self.net.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))
        if meta is not None:
            (folder / "training.json").write_text(json.dumps(meta, indent=2) + "\n")
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path = SHIPPED) -> "Audio2Motion":
        """Load a model folder written by `save_pretrained` (default: the shipped weights)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        cfg_path, w_path = folder / "config.json", folder / "model.safetensors"
        for p in (cfg_path, w_path):
            if not p.exists():
                raise ModelError(f"{folder}: missing {p.name}")
        try:
            cfg = Audio2MotionConfig.from_dict(json.loads(cfg_path.read_text()))
        except (json.JSONDecodeError, TypeError) as e:
            raise ModelError(f"{cfg_path}: {e}") from None
        net = build_network(cfg)
        try:
            net.load_state_dict(load_file(str(w_path)))
        except RuntimeError as e:
            raise ModelError(f"{w_path}: weights do not match config.json ({str(e).splitlines()[0]})") from None
        return cls(cfg, net)

    @property
    def device(self):
        return next(self.net.parameters()).device

    # -- inference --------------------------------------------------------
    def predict_features(self, feats: np.ndarray, chunk: int = 3000) -> np.ndarray:
        """Outputs (T, len(outputs)) for feature frames (T, features); processed in chunks of `chunk` frames.

        Chunks overlap by the receptive field, so the result is the same as one
        pass over the whole input, in memory bounded by `chunk`.
        """
        torch = _torch()
        cfg = self.config
        r, la = cfg.receptive_field, cfg.lookahead
        sil = self.features.silence()
        t = feats.shape[0]
        padded = np.concatenate([np.repeat(sil[None], r - 1 - la, 0), feats, np.repeat(sil[None], la, 0)])
        outs = []
        with torch.inference_mode():
            for a in range(0, t, chunk):
                b = min(t, a + chunk)
                x = torch.from_numpy(np.ascontiguousarray(padded[a:b + r - 1]))[None].to(self.device)
                outs.append(self.net(x)[0].cpu().numpy())
        if not outs:
            return np.zeros((0, len(cfg.outputs)), np.float32)
        return np.concatenate(outs).astype(np.float32)

    def stream(self) -> "OutputStream":
        """Incremental `predict_features`: push feature blocks, get the outputs they complete."""
        return OutputStream(self)

    def predict(self, audio: np.ndarray) -> np.ndarray:
        """Outputs, one per feature frame, for mono audio at `config.mel.sample_rate`."""
        return self.predict_features(self.features(audio))


class OutputStream:
    """Outputs for a feature stream; frame t is known once frame t + lookahead has arrived."""

    def __init__(self, model: Audio2Motion, chunk: int = 1000):
        cfg = model.config
        self.model, self.chunk = model, chunk
        self.r, self.la = cfg.receptive_field, cfg.lookahead
        self.sil = model.features.silence()
        self.buf = np.repeat(self.sil[None], self.r - 1 - self.la, 0)

    def _run(self, count: int) -> np.ndarray:
        torch = _torch()
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(self.buf[:count + self.r - 1]))[None].to(self.model.device)
            y = self.model.net(x)[0].cpu().numpy().astype(np.float32)
        self.buf = self.buf[count:]
        return y

    def push(self, feats: np.ndarray) -> np.ndarray:
        self.buf = np.concatenate([self.buf, feats])
        ready = self.buf.shape[0] - (self.r - 1)
        outs = []
        while ready >= self.chunk or (ready > 0 and feats.shape[0] == 0):
            n = min(ready, self.chunk)
            outs.append(self._run(n))
            ready -= n
        return np.concatenate(outs) if outs else np.zeros((0, len(self.model.config.outputs)), np.float32)

    def finish(self) -> np.ndarray:
        self.buf = np.concatenate([self.buf, np.repeat(self.sil[None], self.la, 0)])
        return self.push(np.zeros((0, self.sil.size), np.float32))
