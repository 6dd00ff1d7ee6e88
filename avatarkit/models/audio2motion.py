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

Version 3 (`audio2motion-v3`) predicts the whole lip shape instead: its
outputs are the coefficients (`pc0`, `pc1`, ...) of a small linear basis of
per-speaker-normalised `MOUTH_SHAPE` offsets (`shape_points`), stored with
the weights (`shape_mean`, `shape_basis`); `decode_shape` turns them into
offsets from the face's rest in IOD along the face's axes, at the
person-independent range `shape_range`, and `shape_channels` derives the
channels (jaw, wide, ...) from the same shape, so renderers that ignore
shapes still see the same mouth (`training/lipshape.py` says how the shapes
are measured).

Weights load and save with their config beside them (`save_pretrained` /
`from_pretrained`), diffusers-style: `config.json` + `model.safetensors`.
Shipped models are named (`MODELS`): `v3` (whole lip shapes, the default:
it wins on the dev speakers by r and LMD, docs/quality.md), `v2`
(channels), `v1` (log-mel, synthetic speech only).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..audio.features import MelConfig
from ..errors import AvatarkitError
from .frontends import FRONTENDS, frontend_dim, frontend_rate, make_frontend

OUTPUTS = ("jaw", "wide", "round", "press", "dental", "voice", "onset")
_HERE = Path(__file__).resolve().parent
SHIPPED = _HERE / "audio2motion"
MODELS = {"v2": SHIPPED, "v3": _HERE / "audio2motion-v3", "v1": _HERE / "audio2motion-logmel"}
DEFAULT_MODEL = "v3"


def resolve_model(name_or_path: str | Path | None = None) -> Path:
    """The folder of a shipped model named in `MODELS` (None: `DEFAULT_MODEL`), or `name_or_path` as a folder."""
    if name_or_path is None:
        return MODELS[DEFAULT_MODEL]
    return MODELS.get(str(name_or_path), Path(name_or_path))


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
    # Version 3: the face-mesh points whose offsets `pc*` outputs encode, their person-independent opening
    # range (IOD) and the normalised width change at the 5th and 95th percentile (for the `wide` channel).
    shape_points: tuple[int, ...] = ()
    shape_range: float = 0.0
    wide_range: tuple[float, float] = (1.0, 1.0)
    # Gain on the decoded motion (about rest): a network trained on squared error predicts a damped mouth
    # where it is unsure; chosen on the dev speakers' rendered mouths.
    shape_gain: float = 1.0
    dropout: float = 0.0

    @property
    def shape_components(self) -> int:
        """Number of shape coefficients among the outputs (0: a channels-only model)."""
        return sum(1 for o in self.outputs if o.startswith("pc") and o[2:].isdigit())

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
        d["shape_points"] = list(self.shape_points)
        d["wide_range"] = list(self.wide_range)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Audio2MotionConfig":
        d = dict(d)
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ModelError(f"config.json: unknown fields {sorted(unknown)}")
        d["mel"] = MelConfig(**d.get("mel", {}))
        for k in ("dilations", "outputs", "shape_points", "wide_range"):
            if k in d:
                d[k] = tuple(d[k])
        cfg = cls(**d)
        if cfg.features not in FRONTENDS:
            raise ModelError(f"config.json: features {cfg.features!r} is not one of {', '.join(FRONTENDS)}")
        if cfg.shape_components and not (cfg.shape_points and cfg.shape_range > 0):
            raise ModelError("config.json: shape outputs need shape_points and a positive shape_range")
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
            self.out = nn.Conv1d(cfg.width, cfg.shape_components or len(cfg.outputs), 1)
            self.drop = nn.Dropout(cfg.dropout)
            # `level`: the sound's own log power at each output frame (no weights), for the silence gate.
            self.level = "level" in cfg.outputs
            self.n_mels = cfg.mel.n_mels
            if cfg.shape_components:
                k, p = cfg.shape_components, 2 * len(cfg.shape_points)
                self.register_buffer("shape_mean", torch.zeros(p))
                self.register_buffer("shape_basis", torch.zeros(k, p))
                self.register_buffer("coef_limit", torch.full((k,), 1e3))

        def trunk(self, feats):
            """(B, T + receptive_field - 1, features) → (B, width, T): what the output layer reads (training
            heads for other targets read it too)."""
            x = (feats - self.feature_mean) / self.feature_std
            x = self.inp(self.drop(x).transpose(1, 2))
            for b in self.blocks:
                x = b(x)
            return x

        def forward(self, feats):
            """(B, T + receptive_field - 1, features) → (B, T, outputs)."""
            y = self.out(self.trunk(feats)).transpose(1, 2)
            if self.level:
                r, la = self.cfg.receptive_field, self.cfg.lookahead
                mel = feats[:, r - 1 - la: feats.shape[1] - la, -self.n_mels:]
                y = torch.cat([y, torch.logsumexp(mel, -1, keepdim=True)], -1)
            return y

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
        from .weights import save_folder

        return save_folder(folder, self.config.to_dict(), self.net, meta)

    @classmethod
    def from_pretrained(cls, folder: str | Path | None = None) -> "Audio2Motion":
        """Load a model folder written by `save_pretrained`, or a shipped model by name (`MODELS`; default
        `DEFAULT_MODEL`)."""
        from .weights import load_folder

        return cls(*load_folder(resolve_model(folder), Audio2MotionConfig.from_dict, build_network, ModelError))

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

    # -- whole lip shapes (version 3) ----------------------------------------
    @property
    def has_shape(self) -> bool:
        return self.config.shape_components > 0

    def decode_shape(self, coefs: np.ndarray, normalised: bool = False) -> np.ndarray:
        """(T, len(shape_points), 2) offsets for shape coefficients (T, K): IOD along the face's (u, v), at the
        person-independent range (`normalised`: in units of the opening range, as trained)."""
        net = self.net
        lim = net.coef_limit.cpu().numpy()
        c = np.clip(np.asarray(coefs, np.float32), -lim, lim)
        flat = net.shape_mean.cpu().numpy()[None] + c @ net.shape_basis.cpu().numpy()
        out = flat.reshape(c.shape[0], len(self.config.shape_points), 2)
        return out if normalised else out * np.float32(self.config.shape_range * self.config.shape_gain)

    def split_cues(self, cues: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shape coefficients (T, K), silence gate (T,)) from a shape model's cues. The gate is 0 for digital
        silence and up to 10 dB above the log-mel floor, 1 from 20 dB above (white noise at about -65 dBFS;
        a recorded room is louder), so a silent stretch rests exactly instead of showing the network's
        small jitter on empty input."""
        cfg = self.config
        k = cfg.shape_components
        if "level" not in cfg.outputs:
            return cues[:, :k], np.ones(cues.shape[0], np.float32)
        floor = float(np.log(np.exp(self.features.silence()[-cfg.mel.n_mels:].astype(np.float64)).sum()))
        level = cues[:, cfg.outputs.index("level")]
        return cues[:, :k], np.clip((level - floor) / np.log(10) - 1, 0, 1).astype(np.float32)

    def shape_channels(self, shape: np.ndarray) -> dict[str, np.ndarray]:
        """Channels (jaw, wide, round, press, dental, voice, onset) agreeing with shapes from `decode_shape`.

        `jaw` is the inner-lip gap over the range, mapped as the footage
        rig maps it (the range's top is `JAW_AT_P95`); `wide` the corner
        distance over its own range; `round` the narrowing; `press` the rest
        value while the lips are together; `voice` follows the opening (it
        only steers the head's sway); `onset` is not predicted (0).
        """
        from ..face.landmarks import shape_opening, shape_width
        from ..face.mouthrig import JAW_AT_P95

        s = np.asarray(shape, np.float32) / np.float32(self.config.shape_range)
        gap, dw = shape_opening(s), shape_width(s)
        lo, hi = self.config.wide_range
        jaw = np.clip(gap * JAW_AT_P95, 0, 1)
        wide = np.clip(np.where(dw >= 0, dw / max(hi, 1e-6), dw / max(lo, 1e-6)), -1, 1)
        n = jaw.size
        voice = np.clip(np.convolve(jaw * 6, np.ones(7) / 7, "same"), 0, 1) if n else jaw
        return {"jaw": jaw, "wide": wide, "round": np.clip(-wide, 0, 1) * 0.6,
                "press": 0.25 * np.clip(1 - 4 * jaw, 0, 1), "dental": np.zeros(n, np.float32),
                "voice": voice.astype(np.float32), "onset": np.zeros(n, np.float32)}

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
