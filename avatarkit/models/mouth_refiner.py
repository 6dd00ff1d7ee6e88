"""The mouth refiner: a small U-Net that corrects the bank renderer's mouth box (issue 26).

The photo renderer with the mouth bank (`render/bank.py`) pastes a real
mouth from other people inside the target inner lips. The refiner looks at
the rendered *mouth box* (a face-aligned box around the lips, resampled to
`box_w` x `box_h` canonical pixels so the mouth's corners are `mouth_px`
apart, turned with the eye line) together with two masks drawn from the
target landmarks (inside the inner lips; the lips themselves) and predicts
a residual in RGB that is added back under a feathered edge
(`MouthRefiner.refine`). Outside the box the frame is untouched.

It is trained on pairs made by the evaluation's own code paths (the bank
renderer driven by a real clip's landmarks and head pose, against the real
frame; `avatarkit/training/refiner.py`) from training speakers only.

Weights load and save with their config beside them (`save_pretrained` /
`from_pretrained`): `config.json` + `model.safetensors` (+ `training.json`
with the command and seed), as the other models in this package. PyTorch is
imported only when a refiner is built.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import AvatarkitError
from ..face import landmarks as lm
from ..face.crop import LIP_INNER, LIP_OUTER

SHIPPED = Path(__file__).resolve().parent / "mouth-refiner"
CHANNELS = 5            # RGB of the rendered box, inside-the-inner-lips mask, lips mask
MAX_PARAMETERS = 1_000_000


class RefinerError(AvatarkitError):
    """A refiner folder that is missing, incomplete or does not match its config, or a bad config."""


@dataclass
class RefinerConfig:
    """Box geometry (canonical pixels) and the U-Net's widths (channels at full, 1/2, 1/4 ... resolution)."""

    box_w: int = 80
    box_h: int = 64
    mouth_px: float = 40.0      # the outer-lip corners this far apart in the box
    center_y: float = 0.5       # the lips' centre at this fraction of the box height
    widths: tuple[int, ...] = (16, 24, 32)
    bottom: int = 2             # extra 3x3 convolutions at the lowest resolution
    feather: float = 6.0        # canonical pixels over which the residual fades to 0 at the box edge
    gain: float = 1.0           # scale on the predicted residual at inference

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RefinerConfig":
        if not isinstance(d, dict):
            raise RefinerError(f"config.json: expected an object, got {type(d).__name__}")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise RefinerError(f"config.json: unknown fields {sorted(unknown)}")
        d = dict(d)
        if "widths" in d:
            if not isinstance(d["widths"], (list, tuple)) or not all(isinstance(w, int) for w in d["widths"]):
                raise RefinerError(f"config.json: widths must be a list of integers, got {d['widths']!r}")
            d["widths"] = tuple(d["widths"])
        cfg = cls(**d)
        cfg.check()
        return cfg

    def check(self) -> None:
        levels = len(self.widths)
        if levels < 1 or any(w < 1 for w in self.widths):
            raise RefinerError(f"config.json: widths must be one or more positive integers, got {list(self.widths)}")
        step = 2 ** (levels - 1)
        for name in ("box_w", "box_h"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 8 or v % step:
                raise RefinerError(f"config.json: {name} must be an integer >= 8 divisible by {step} "
                                   f"(2 ** (levels - 1)), got {v!r}")
        if not 0 < self.mouth_px < self.box_w:
            raise RefinerError(f"config.json: mouth_px must be in (0, box_w={self.box_w}), got {self.mouth_px}")
        if not 0 <= self.center_y <= 1 or self.feather < 0 or self.bottom < 0:
            raise RefinerError("config.json: center_y must be in 0..1, feather and bottom >= 0")


def _torch():
    try:
        import torch
    except ImportError:
        raise RefinerError("the mouth refiner needs PyTorch: pip install torch==2.13.0") from None
    return torch


def build_network(config: RefinerConfig):
    """The torch module for `config` (random weights; the last layer starts at zero: the identity)."""
    torch = _torch()
    nn = torch.nn
    config.check()

    def conv(i, o, stride=1):
        return nn.Sequential(nn.Conv2d(i, o, 3, stride, 1), nn.ReLU(inplace=True))

    class RefinerNet(nn.Module):
        def __init__(self, cfg: RefinerConfig):
            super().__init__()
            w = list(cfg.widths)
            self.down = nn.ModuleList([nn.Sequential(conv(CHANNELS, w[0]), conv(w[0], w[0]))])
            for a, b in zip(w, w[1:]):
                self.down.append(nn.Sequential(conv(a, b, 2), conv(b, b)))
            self.bottom = nn.Sequential(*[conv(w[-1], w[-1]) for _ in range(cfg.bottom)])
            self.up = nn.ModuleList([conv(b + a, a) for a, b in zip(w[:-1], w[1:])])
            self.out = nn.Conv2d(w[0], 3, 3, 1, 1)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

        def forward(self, x):
            skips = []
            for d in self.down:
                x = d(x)
                skips.append(x)
            x = self.bottom(skips.pop())
            for up in reversed(self.up):
                x = up(torch.cat([nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"), skips.pop()], 1))
            return self.out(x)

    net = RefinerNet(config)
    n = sum(p.numel() for p in net.parameters())
    if n >= MAX_PARAMETERS:
        raise RefinerError(f"config.json: {n} parameters; the refiner must stay under {MAX_PARAMETERS}")
    return net


# -- the box -----------------------------------------------------------------------------------

def box_matrix(points: np.ndarray, config: RefinerConfig) -> np.ndarray:
    """The 2x3 similarity from image pixels to the canonical box of landmarks `points` (478 or 468, 2+)."""
    P = np.asarray(points, np.float64)[:, :2]
    left, right = P[lm.LIP_OUTER_UPPER[0]], P[lm.LIP_OUTER_UPPER[-1]]
    eyes = P[263] - P[33]                            # the eye line gives the angle (steadier than the lips)
    ang = np.arctan2(eyes[1], eyes[0])
    c, s = np.cos(ang), np.sin(ang)
    R = np.array([[c, s], [-s, c]])                  # image -> face axes
    lips = P[list(LIP_OUTER)] @ R.T
    width = max(float(np.linalg.norm(right - left)), 1e-3)
    k = config.mouth_px / width
    center = (lips.min(0) + lips.max(0)) / 2
    A = k * R
    t = np.array([config.box_w / 2, config.box_h * config.center_y]) - A @ (R.T @ center)
    return np.concatenate([A, t[:, None]], 1)


def box_inputs(rgb: np.ndarray, points: np.ndarray, config: RefinerConfig, matrix: np.ndarray | None = None,
               pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The canonical box of `rgb` (uint8, `box_h`+2`pad` x `box_w`+2`pad` x 3) and its two masks (uint8 0..255,
    ... x 2: inside the inner lips, the lips) drawn from `points` in `rgb`'s pixels."""
    M = box_matrix(points, config) if matrix is None else matrix
    M = M.copy()
    M[:, 2] += pad
    size = (config.box_w + 2 * pad, config.box_h + 2 * pad)
    crop = cv2.warpAffine(rgb, M, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    q = np.asarray(points, np.float64)[:, :2] @ M[:, :2].T + M[:, 2]
    q = np.round(q * 16).astype(np.int32)
    inner = np.zeros(size[::-1], np.uint8)
    outer = np.zeros(size[::-1], np.uint8)
    cv2.fillPoly(inner, [q[list(LIP_INNER)]], 255, cv2.LINE_AA, 4)
    cv2.fillPoly(outer, [q[list(LIP_OUTER)]], 255, cv2.LINE_AA, 4)
    lips = np.clip(outer.astype(np.int16) - inner, 0, 255).astype(np.uint8)
    return crop, np.stack([inner, lips], 2)


def feather_mask(config: RefinerConfig) -> np.ndarray:
    """(box_h, box_w) float32: 1 inside, falling linearly to 0 over `feather` pixels at the box's edge."""
    y = np.arange(config.box_h, dtype=np.float32) + 0.5
    x = np.arange(config.box_w, dtype=np.float32) + 0.5
    d = np.minimum(np.minimum(y, config.box_h - y)[:, None], np.minimum(x, config.box_w - x)[None, :])
    if config.feather <= 0:
        return np.ones_like(d)
    return np.clip(d / config.feather, 0, 1).astype(np.float32)


def to_tensor_batch(crops: np.ndarray, masks: np.ndarray):
    """uint8 (N, H, W, 3) and (N, H, W, 2) -> float32 tensor (N, 5, H, W): RGB in -1..1, masks in 0..1."""
    torch = _torch()
    x = np.concatenate([crops.astype(np.float32) / 127.5 - 1, masks.astype(np.float32) / 255], 3)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


class MouthRefiner:
    """A loaded refiner: `refine(rgb, landmarks)` corrects the mouth box of a rendered frame in place."""

    def __init__(self, config: RefinerConfig, network=None):
        self.config = config
        self.net = network if network is not None else build_network(config)
        self.net.eval()
        self.feather = feather_mask(config)
        self._fast = None       # the network laid out channels-last for inference (about 30 % faster on a CPU)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    # -- persistence ------------------------------------------------------
    def save_pretrained(self, folder: str | Path, meta: dict | None = None) -> Path:
        """Write `config.json`, `model.safetensors` and, if given, `training.json` into `folder`."""
        from .weights import save_folder

        return save_folder(folder, self.config.to_dict(), self.net, meta)

    @classmethod
    def from_pretrained(cls, folder: str | Path | None = None) -> "MouthRefiner":
        """Load a folder written by `save_pretrained` (default: the shipped refiner, `SHIPPED`)."""
        _torch()
        from .weights import load_folder

        folder = Path(folder) if folder is not None else SHIPPED
        return cls(*load_folder(folder, RefinerConfig.from_dict, build_network, RefinerError))

    # -- inference --------------------------------------------------------
    def residual(self, crop: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """The predicted residual (box_h, box_w, 3) float32, in 0..255 units, for one box."""
        import copy

        torch = _torch()
        if self._fast is None:
            self._fast = copy.deepcopy(self.net).eval().to(memory_format=torch.channels_last)
        with torch.inference_mode():
            x = to_tensor_batch(crop[None], masks[None]).contiguous(memory_format=torch.channels_last)
            r = self._fast(x)[0]
        return np.asarray(r.permute(1, 2, 0)) * np.float32(127.5 * self.config.gain)

    def refine(self, rgb: np.ndarray, points: np.ndarray) -> tuple[int, int, int, int] | None:
        """Correct the mouth box of `rgb` (uint8 HxWx3, in place) around landmarks `points` (same pixels).

        Returns the changed region (x0, y0, x1, y1), or None when the box lies outside the image."""
        cfg = self.config
        M = box_matrix(points, cfg)
        crop, masks = box_inputs(rgb, points, cfg, M)
        res = self.residual(crop, masks)
        Minv = cv2.invertAffineTransform(M)
        corners = np.array([[0, 0], [cfg.box_w, 0], [0, cfg.box_h], [cfg.box_w, cfg.box_h]], np.float64)
        q = corners @ Minv[:, :2].T + Minv[:, 2]
        h, w = rgb.shape[:2]
        x0, y0 = np.maximum(np.floor(q.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(q.max(0)).astype(int) + 1, [w, h])
        if x1 <= x0 or y1 <= y0:
            return None
        # Region pixel -> box pixel: the box matrix after the region's offset; outside the box the residual is 0.
        to_box = M.copy()
        to_box[:, 2] += M[:, :2] @ [x0, y0]
        out = cv2.warpAffine(np.ascontiguousarray(res * self.feather[..., None]), to_box, (x1 - x0, y1 - y0),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
        region = rgb[y0:y1, x0:x1].astype(np.float32) + out
        rgb[y0:y1, x0:x1] = np.clip(np.round(region), 0, 255).astype(np.uint8)
        return int(x0), int(y0), int(x1), int(y1)
