"""Train an avatar's mouth model on its own footage (`avatarkit avatar train`).

Every usable footage frame gives one example: its lower-face crop is the
target, the same crop with the mouth masked out plus the frame's own lips
and jaw drawn as the condition image are the inputs, and another frame of
the same person at least a second away is the reference. Crops are cut once
and kept in memory with their condition images (4800 frames at 128 px: 400 MB). Batches are flipped
left-right at random, all inputs together.

Training resumes: a checkpoint (weights, EMA weights, optimiser, step,
random states) is written every `checkpoint_every` steps into
`<model>/checkpoint/`, and a later run continues from it (at the crop size
it started with; other model settings are refused unless `restart`). A preview PNG (real | condition | generated) is written every
`preview_every` steps into `<model>/previews/`. The final EMA weights are
saved with `save_pretrained`.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..face.avatar import Avatar
from ..face.crop import CONDITION_CHANNELS, crop_matrix, cut, draw_condition, mouth_mask, to_crop
from ..face.footage import video_frames
from ..models.mouth_diffusion import MouthDiffusion, MouthDiffusionConfig, to_tensor, to_uint8


@dataclass
class TrainSettings:
    """How to train; `size` None means 256 px on a GPU and 128 px on the CPU."""

    steps: int = 3000
    batch: int | None = None
    size: int | None = None
    lr: float = 2e-4
    ema: float = 0.995
    until: float = 1.0               # train on this leading share of the footage (the rest validates)
    checkpoint_every: int = 250
    preview_every: int = 250
    seed: int = 0
    device: str = "auto"
    mask_weight: float = 4.0
    restart: bool = False            # start afresh even when a checkpoint of other settings exists


@dataclass
class CropSet:
    """Crops of footage frames: images (N,S,S,3) uint8, landmarks in crop pixels (N,478,2), frame indices."""

    images: np.ndarray
    landmarks: np.ndarray
    frames: np.ndarray
    conditions: np.ndarray           # (N, 2, S, S) uint8


def cut_crops(avatar: Avatar, size: int, frames: np.ndarray,
              progress: Callable[[int, int], None] | None = None) -> CropSet:
    """Cut the lower-face crops of the given footage `frames` (sorted indices of usable frames)."""
    poses = avatar.poses
    wanted = set(int(i) for i in frames)
    last = int(frames.max()) if frames.size else -1
    images, lms = [], []
    for i, rgb in enumerate(video_frames(avatar.footage)):
        if i > last:
            break
        if i in wanted:
            m = crop_matrix(poses[i], size)
            images.append(cut(rgb, m, size))
            lms.append(to_crop(avatar.track.landmarks[i], m).astype(np.float32))
        if progress and i % 100 == 0:
            progress(i, last + 1)
    lms_a = np.stack(lms)
    conds = np.stack([(draw_condition(p, size) * 255).round().astype(np.uint8) for p in lms_a])
    return CropSet(np.stack(images), lms_a, np.asarray(frames), conds)


def batch_inputs(crops: CropSet, idx: np.ndarray, refs: np.ndarray, flip: np.ndarray | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(target, conditioning) tensors for examples `idx` with reference crops `refs`."""
    size = crops.images.shape[1]
    hard, _ = mouth_mask(size)
    target = to_tensor(crops.images[idx])
    ref = to_tensor(crops.images[refs])
    mask = torch.from_numpy(hard)[None, None].expand(len(idx), 1, size, size)
    masked = target * (1 - mask)
    cond_img = torch.from_numpy(crops.conditions[idx]).float() / 255.0
    if flip is not None and flip.any():
        f = torch.from_numpy(flip)
        target[f], ref[f], masked[f] = target[f].flip(-1), ref[f].flip(-1), masked[f].flip(-1)
        cond_img[f] = cond_img[f].flip(-1)
    return target, MouthDiffusion.conditioning(masked, mask.clone(), ref, cond_img)


def _references(rng: np.random.Generator, frames: np.ndarray, idx: np.ndarray, min_gap: int) -> np.ndarray:
    """For each example in `idx`, a random other example at least `min_gap` footage frames away (8 tries)."""
    n = len(frames)
    refs = rng.integers(0, n, size=len(idx))
    for k, i in enumerate(idx):
        for _ in range(8):
            if abs(int(frames[refs[k]]) - int(frames[i])) >= min_gap:
                break
            refs[k] = rng.integers(0, n)
    return refs


def preview(model: MouthDiffusion, crops: CropSet, idx: np.ndarray, ref: int, path: Path) -> None:
    """Save a PNG: per example a row of real crop | condition | generated crop."""
    from PIL import Image

    target, cond = batch_inputs(crops, idx, np.full(len(idx), ref))
    gen = to_uint8(model.sample(cond.to(model.device)))
    real = to_uint8(target)
    c = crops.conditions[idx]
    cimg = np.stack([c[:, 0], c[:, 1], np.maximum(c[:, 0], c[:, 1])], -1)
    rows = [np.concatenate([r, ci, g], 1) for r, ci, g in zip(real, cimg, gen)]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(path)


def pick_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def split(avatar: Avatar, until: float) -> tuple[np.ndarray, np.ndarray]:
    """Usable frame indices before and after `until` (a share of the footage's frames)."""
    good = np.flatnonzero(avatar.track.good)
    cut_at = int(round(until * avatar.track.frames))
    return good[good < cut_at], good[good >= cut_at]


def train(avatar: Avatar, settings: TrainSettings | None = None, config: MouthDiffusionConfig | None = None,
          progress: Callable[[str, int, int, dict], None] | None = None) -> MouthDiffusion:
    """Train (or resume training) `avatar`'s mouth model and save it into `avatar.model_dir`.

    `progress(stage, done, total, info)` reports `crops` and `train` stages;
    `info` carries the running loss. Returns the trained model (EMA weights).
    """
    from ..face.avatar import AvatarError

    s = settings or TrainSettings()
    if min(s.steps, s.preview_every, s.checkpoint_every) < 1 or not 0 < s.until <= 1:
        raise AvatarError("steps, preview_every and checkpoint_every must be at least 1, and until in (0, 1]")
    device = pick_device(s.device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AvatarError(f"device {device!r}: no CUDA GPU is available here; use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise AvatarError(f"device {device!r}: expected auto, cpu or cuda")
    out = avatar.model_dir
    ckpt_dir = out / "checkpoint"
    state = None
    if (ckpt_dir / "state.pt").is_file() and not s.restart:
        try:
            state = torch.load(ckpt_dir / "state.pt", map_location="cpu", weights_only=True)
        except Exception as e:   # a truncated or foreign file: say so rather than crash mid-way
            raise AvatarError(f"{ckpt_dir / 'state.pt'}: unreadable checkpoint ({e}); train with --restart") from None
    if config is None and state is not None and s.size is None:
        config = MouthDiffusionConfig.from_dict(state["meta"]["config"])   # resume at the size it was started
    size = s.size or (config.size if config else (256 if device == "cuda" else 128))
    batch = s.batch or (32 if device == "cuda" else 8)
    config = config or MouthDiffusionConfig(size=size)
    if config.size != size:
        config = MouthDiffusionConfig.from_dict({**config.to_dict(), "size": size})
    if state is not None and state["meta"]["config"] != config.to_dict():
        raise AvatarError(f"avatar {avatar.name!r} has a checkpoint at step {state['step']} of a model with other "
                          f"settings (size {state['meta']['config']['size']}); keep them to resume, or train with "
                          f"--restart to start afresh")
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    train_idx, val_idx = split(avatar, s.until)
    if len(train_idx) < 2 * avatar.track.fps:
        raise AvatarError(f"avatar {avatar.name!r}: only {len(train_idx)} usable frames to train on")
    crops = cut_crops(avatar, config.size, np.concatenate([train_idx, val_idx]),
                      progress=(lambda d, n: progress("crops", d, n, {})) if progress else None)
    ntrain = len(train_idx)
    model = MouthDiffusion(config, device=device)
    ema = copy.deepcopy(model.unet).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.unet.parameters(), lr=s.lr, weight_decay=0.0)
    step, history, seconds = 0, [], 0.0
    meta = {"settings": asdict(s), "config": config.to_dict()}
    gen = torch.Generator().manual_seed(s.seed)
    if state is not None:
        model.unet.load_state_dict(state["unet"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step, history, seconds = state["step"], state["history"], state["seconds"]
        rng.bit_generator.state = json.loads(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        gen.set_state(state["gen_rng"])
    hard, _ = mouth_mask(config.size)
    weight = (1 + (s.mask_weight - 1) * torch.from_numpy(hard))[None, None].to(device)
    # The reference: the best neutral frame the model trains on (not one of the held-out frames).
    neutral = [i for i in avatar.track.neutral if i in set(train_idx.tolist())]
    ref_frame = int(np.searchsorted(crops.frames, neutral[0])) if neutral else 0
    show = np.linspace(ntrain if len(val_idx) else 0, len(crops.frames) - 1, 4).astype(int)
    running = None
    t_start = time.perf_counter() - seconds

    def save_checkpoint():
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        tmp = ckpt_dir / "state.pt.tmp"
        torch.save({"meta": meta, "unet": model.unet.state_dict(), "ema": ema.state_dict(),
                    "opt": opt.state_dict(), "step": step, "history": history,
                    "seconds": time.perf_counter() - t_start, "rng": json.dumps(rng.bit_generator.state),
                    "torch_rng": torch.get_rng_state(), "gen_rng": gen.get_state()}, tmp)
        tmp.replace(ckpt_dir / "state.pt")

    model.unet.train()
    while step < s.steps:
        idx = rng.integers(0, ntrain, size=batch)
        refs = _references(rng, crops.frames[:ntrain], idx, int(avatar.track.fps))
        target, cond = batch_inputs(crops, idx, refs, flip=rng.random(batch) < 0.5)
        loss = model.loss(target.to(device), cond.to(device), gen, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(s.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.unet.parameters()):
                pe.lerp_(pm, 1 - decay)
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 50 == 0 or step == s.steps:
            history.append({"step": step, "loss": round(running, 5),
                            "seconds": round(time.perf_counter() - t_start, 1)})
        if progress:
            progress("train", step, s.steps, {"loss": running})
        if step % s.preview_every == 0 or step == s.steps:
            snap = MouthDiffusion(config, ema, device)
            preview(snap, crops, show, ref_frame, out / "previews" / f"step_{step:06d}.png")
        if step % s.checkpoint_every == 0 or step == s.steps:
            save_checkpoint()
    final = MouthDiffusion(config, ema, device)
    final.training_info = {
        "command": " ".join(sys.argv), "avatar": avatar.name, "device": device, "steps": step,
        "batch": batch, "train_frames": int(ntrain), "validation_frames": int(len(val_idx)),
        "reference_frame": int(crops.frames[ref_frame]), "seconds": round(time.perf_counter() - t_start, 1),
        "validation_loss": validation_loss(final, crops, np.arange(ntrain, len(crops.frames)), ref_frame),
        "history": history, "settings": asdict(s),
    }
    # `config.json` marks a usable model: remove it first and let `save_pretrained` write it last,
    # so an interrupted save leaves "not trained", never a model with a mismatched reference.
    (out / "config.json").unlink(missing_ok=True)
    from PIL import Image

    from ..face.mouthrig import MouthRig

    Image.fromarray(crops.images[ref_frame]).save(out / "reference.png")
    MouthRig.fit(avatar.track, train_idx).save(out / "mouthrig.json")
    final.save_pretrained(out)
    avatar.meta["model"] = {"size": config.size, "steps": step, "device": device,
                            "trained": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    avatar.save_meta()
    return final


@torch.no_grad()
def validation_loss(model: MouthDiffusion, crops: CropSet, idx: np.ndarray, ref: int, limit: int = 64) -> float | None:
    """Mean squared error (in -1..1 units) of sampled crops against the real ones inside the mask."""
    if len(idx) == 0:
        return None
    idx = idx[np.linspace(0, len(idx) - 1, min(limit, len(idx))).astype(int)]
    hard = torch.from_numpy(mouth_mask(crops.images.shape[1])[0])
    errs = []
    for k in range(0, len(idx), 16):
        part = idx[k:k + 16]
        target, cond = batch_inputs(crops, part, np.full(len(part), ref))
        gen = model.sample(cond.to(model.device)).cpu()
        errs.append((((gen - target) ** 2) * hard).sum().item() / (hard.sum().item() * 3 * len(part)))
    return round(float(np.mean(errs)), 5)


__all__ = ["CONDITION_CHANNELS", "TrainSettings", "train", "cut_crops", "batch_inputs", "split"]
