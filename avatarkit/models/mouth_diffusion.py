"""The mouth diffusion model: a diffusers UNet that repaints the lower face.

Given a lower-face crop (`face.crop`) with the mouth region masked out, a
reference crop of the same person, and the target lips and jaw drawn as a
condition image, the model generates the masked region. It is a
`diffusers.UNet2DModel` run on a space-to-depth view of the crop (`patch`
pixels square per cell), which keeps a 128 px crop at the cost of a 64 px
UNet on the CPU, with a diffusers scheduler (DDIM or DPM-Solver++) sampling
in a few steps. The network predicts the clean crop (`prediction_type =
"sample"`), which is what makes 1-4 step sampling sharp and stable.

Temporal consistency comes from sharing: every frame of a clip starts
from the same seeded noise, the sampler is deterministic (DDIM with
eta = 0), and the conditions change smoothly, so still lips stay still and
teeth do not shimmer from frame to frame.

Saved like a diffusers pipeline: `config.json` (this model's settings),
`unet/` and `scheduler/` in diffusers' own formats, and `training.json`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import AvatarkitError
from ..face.crop import CONDITION_CHANNELS

SCHEDULERS = ("ddim", "dpm")
# noisy crop (3) + masked crop (3) + mask (1) + reference crop (3) + landmarks
IN_CHANNELS = 3 + 3 + 1 + 3 + CONDITION_CHANNELS


class ModelError(AvatarkitError):
    """A mouth model folder that is missing, incomplete or incompatible."""


@dataclass
class MouthDiffusionConfig:
    """Settings of a mouth model; `size` is the crop side in pixels."""

    size: int = 128
    patch: int = 2
    block_out_channels: tuple[int, ...] = (32, 64, 128, 128)
    layers_per_block: int = 1
    attention: bool = True          # self-attention at the lowest resolution
    norm_num_groups: int = 16
    scheduler: str = "ddim"
    train_timesteps: int = 1000
    steps: int = 4                  # sampling steps at render time
    seed: int = 0                   # of the noise every frame shares
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.block_out_channels = tuple(int(c) for c in self.block_out_channels)
        if self.scheduler not in SCHEDULERS:
            raise ModelError(f"scheduler {self.scheduler!r}: expected one of {', '.join(SCHEDULERS)}")
        if self.size % (self.patch * 2 ** (len(self.block_out_channels) - 1)):
            raise ModelError(f"size {self.size} must be a multiple of patch x 2^(levels-1) = "
                             f"{self.patch * 2 ** (len(self.block_out_channels) - 1)}")
        if not 1 <= self.steps <= 50:
            raise ModelError(f"steps {self.steps}: expected 1 to 50")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["block_out_channels"] = list(self.block_out_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MouthDiffusionConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ModelError(f"unknown mouth model settings: {', '.join(sorted(unknown))}")
        return cls(**d)


def build_unet(config: MouthDiffusionConfig):
    from diffusers import UNet2DModel

    p2 = config.patch ** 2
    levels = len(config.block_out_channels)
    down = ["DownBlock2D"] * levels
    up = ["UpBlock2D"] * levels
    if config.attention:
        down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=config.size // config.patch, in_channels=IN_CHANNELS * p2, out_channels=3 * p2,
        block_out_channels=config.block_out_channels, layers_per_block=config.layers_per_block,
        down_block_types=tuple(down), up_block_types=tuple(up), norm_num_groups=config.norm_num_groups,
        attention_head_dim=min(32, config.block_out_channels[-1]), add_attention=config.attention)


def build_scheduler(config: MouthDiffusionConfig):
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    common = dict(num_train_timesteps=config.train_timesteps, beta_schedule="squaredcos_cap_v2",
                  prediction_type="sample", timestep_spacing="trailing")
    if config.scheduler == "ddim":
        return DDIMScheduler(clip_sample=True, set_alpha_to_one=True, **common)
    return DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2, **common)


class MouthDiffusion:
    """A mouth model: UNet + scheduler + config; see the module docstring."""

    def __init__(self, config: MouthDiffusionConfig | None = None, unet=None, device: str = "cpu"):
        self.config = config or MouthDiffusionConfig()
        self.unet = (unet or build_unet(self.config)).to(device)
        self.scheduler = build_scheduler(self.config)
        self.training_info: dict = {}
        # Training noise always comes from a DDPM schedule of the same betas: before `set_timesteps`,
        # DPM-Solver++ keeps its sigmas in the opposite order to its timesteps, so its `add_noise` would
        # pair timestep t with the noise level of 999 - t.
        from diffusers import DDPMScheduler

        self.noise_schedule = DDPMScheduler(num_train_timesteps=self.config.train_timesteps,
                                            beta_schedule="squaredcos_cap_v2", prediction_type="sample")

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def to(self, device: str) -> "MouthDiffusion":
        self.unet.to(device)
        return self

    # -- the network on a space-to-depth view -------------------------------------------------
    def _net(self, noisy: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        p = self.config.patch
        x = torch.cat([noisy, cond], 1)
        if p > 1:
            x = F.pixel_unshuffle(x, p)
        y = self.unet(x, t).sample
        return F.pixel_shuffle(y, p) if p > 1 else y

    @staticmethod
    def conditioning(masked: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor,
                     landmarks: torch.Tensor) -> torch.Tensor:
        """Stack the conditions: masked crop (B,3,S,S) and reference (B,3,S,S) in -1..1,
        mask (B,1,S,S) and landmark image (B,2,S,S) in 0..1."""
        return torch.cat([masked, mask, reference, landmarks], 1)

    def loss(self, target: torch.Tensor, cond: torch.Tensor, generator: torch.Generator | None = None,
             weight: torch.Tensor | None = None) -> torch.Tensor:
        """Denoising loss on a batch: `target` (B,3,S,S) crops in -1..1.

        A random timestep per crop, the clean crop predicted from its noised
        copy; mean squared error, weighted per pixel by `weight` (B,1,S,S)
        when given (the training loop weights the mask region up).
        """
        b = target.shape[0]
        noise = torch.randn(target.shape, generator=generator, device="cpu").to(target.device)
        t = torch.randint(0, self.config.train_timesteps, (b,), generator=generator, device="cpu").to(target.device)
        noisy = self.noise_schedule.add_noise(target, noise, t)
        pred = self._net(noisy, cond, t)
        err = (pred - target) ** 2
        if weight is not None:
            err = err * weight
        return err.mean()

    def initial_noise(self, batch: int = 1) -> torch.Tensor:
        """The seeded noise every frame starts from, (batch, 3, S, S)."""
        g = torch.Generator().manual_seed(self.config.seed)
        s = self.config.size
        return torch.randn((1, 3, s, s), generator=g).expand(batch, -1, -1, -1).contiguous()

    @torch.inference_mode()
    def sample(self, cond: torch.Tensor, steps: int | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Generate crops (B,3,S,S) in -1..1 for conditions `cond` in `steps` sampler steps."""
        sched = build_scheduler(self.config)   # per call: schedulers keep per-run state
        sched.set_timesteps(steps or self.config.steps, device=self.device)
        x = (noise if noise is not None else self.initial_noise(cond.shape[0])).to(self.device, cond.dtype)
        x = x * sched.init_noise_sigma
        for t in sched.timesteps:
            tt = torch.full((cond.shape[0],), int(t), device=self.device, dtype=torch.long)
            pred = self._net(sched.scale_model_input(x, t), cond, tt)
            x = sched.step(pred, t, x).prev_sample
        return x.clamp(-1, 1)

    # -- save and load -------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> Path:
        """Write config.json, unet/, scheduler/ and training.json into `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.unet.save_pretrained(folder / "unet", safe_serialization=True)
        self.scheduler.save_pretrained(folder / "scheduler")
        (folder / "training.json").write_text(json.dumps(self.training_info, indent=2) + "\n")
        (folder / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str = "cpu") -> "MouthDiffusion":
        """Load a model saved by `save_pretrained`; `ModelError` if the folder is not one."""
        from diffusers import UNet2DModel

        folder = Path(folder)
        cfg_path = folder / "config.json"
        if not cfg_path.is_file() or not (folder / "unet").is_dir():
            raise ModelError(f"{folder}: not a trained mouth model (config.json and unet/ expected); "
                             f"train one with `avatarkit avatar train`")
        try:
            config = MouthDiffusionConfig.from_dict(json.loads(cfg_path.read_text()))
            unet = UNet2DModel.from_pretrained(folder / "unet", local_files_only=True, low_cpu_mem_usage=False)
        except (ValueError, OSError, json.JSONDecodeError) as e:
            raise ModelError(f"{folder}: cannot load the mouth model ({e})") from None
        model = cls(config, unet.eval(), device)
        info = folder / "training.json"
        model.training_info = json.loads(info.read_text()) if info.is_file() else {}
        return model


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (B,S,S,3) or (S,S,3) RGB -> float (B,3,S,S) in -1..1."""
    a = np.array(images, np.uint8)   # a copy: torch wants writable memory
    if a.ndim == 3:
        a = a[None]
    return torch.from_numpy(a).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (B,3,S,S) in -1..1 -> uint8 (B,S,S,3)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
