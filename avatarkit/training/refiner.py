"""Train the mouth refiner (`avatarkit.models.mouth_refiner`) on the shared footage, on one CPU core.

    python -m avatarkit.training.refiner --out avatarkit/models/mouth-refiner --seed 0 --gain 0.5

Pairs come from the evaluation's own code paths (`avatarkit.eval.render`):
a clip's frames and MediaPipe landmarks (`clip_frames`, `clip_landmarks`), one of
its frames as the photo (`rig_from_image`), the bank renderer bound to it
and driven along the clip's landmarks and head pose (`drive_photo`, every
mesh point), so an input is exactly what `avatarkit eval render` scores and
the target is the real frame. Both are cut in the refiner's mouth box,
placed by the renderer's own target landmarks (moved onto the frame by the
head's similarity, as the rendered image is). Several photos per clip
(`--photos` start frames, evenly spaced; each drives a `--window` of frames
from it, wrapping at the clip's end). The bank used for a clip leaves out
every clip of its speaker (`MouthBank.without`), as `benchmarks/
photo_render.py` does on dev, so the refiner never learns from a person's
own teeth pasted back.

Speakers: `training.speakers.REFINER`. `train` clips make the training
pairs; `dev` clips (the four of `benchmarks/photo_render.py --set dev`,
photo = first frame, first 6 s) give the validation loss that picks the
checkpoint; `test` speakers (the held-out five and the bank's other
held-out people) are never read. Pairs are cached under `--cache`.

Loss: L1 on RGB plus L1 on the horizontal and vertical differences
(edges), both under the box's feather, plus a sharpness term (the log
ratio of the Laplacian variances of output and real box, per pair), so the
refiner does not learn to blur what it cannot predict. Augmentation: random
shifts inside a 4-pixel margin, mirror, brightness and colour gains applied
to input and target alike. AdamW with a cosine learning rate over
`--steps` (by step, never by clock); every 100 steps the dev loss is taken
and the weights with the lowest are kept. `--gain` (written to
`config.json`) scales the residual at inference: 0.5 was chosen on the dev
clips with `benchmarks/photo_render.py` (docs/quality.md). Seeded: the same
command on the same footage gives the same weights (one thread; checked by
rebuilding the cache and weights from scratch).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..models.mouth_refiner import RefinerConfig, box_inputs, box_matrix, feather_mask
from .speakers import REFINER, splits

DEFAULT_FOOTAGE = Path(__file__).resolve().parents[2].parent / "shared" / "media" / "talking"
EXTENSIONS = (".mp4", ".mpg", ".flv", ".mov", ".mkv", ".webm", ".avi")
PAD = 4                 # canonical pixels of margin stored around each box, for shift augmentation
DEV_SECONDS = 6.0       # as benchmarks/photo_render.py --set dev


def clips_of(footage: Path, split: str) -> list[Path]:
    """The clips of `footage` whose speaker `REFINER` puts in `split`, sorted by name."""
    table = splits(REFINER)
    return sorted(p for p in Path(footage).iterdir()
                  if p.suffix.lower() in EXTENSIONS and table.get(p.stem, ("", ""))[1] == split)


class _Capture:
    """A bound photo renderer that remembers each frame's target landmarks (rig pixels)."""

    def __init__(self, bound):
        self.bound, self.deformer, self.points = bound, bound.deformer, []

    def render_frame(self, values, shape=None):
        f = self.bound.render_frame(values, shape=shape)
        self.points.append(f.landmarks[:, :2].astype(np.float64))
        return f


def render_pairs(frames: list[np.ndarray], real: np.ndarray, bank_path: Path, config: RefinerConfig,
                 start: int, count: int) -> dict[str, np.ndarray]:
    """Frame `start` as the photo, the bank renderer driven along the next `count` frames (wrapping): the
    rendered and real mouth boxes (with `PAD`) and the masks, for every driven frame with a face."""
    from ..errors import FaceError
    from ..eval.render import drive_photo, head_poses
    from ..face.rig import rig_from_image
    from ..render.bank import BankRenderer

    n = len(frames)
    order = [(start + i) % n for i in range(min(count, n))]
    sub_real = real[order]
    try:
        rig = rig_from_image(frames[start], source="frame")
    except FaceError:
        return {}
    bound = BankRenderer(bank=bank_path).bind(rig)
    cap = _Capture(bound)
    gen, _ = drive_photo(cap, rig, sub_real)
    S, _ = head_poses(bound.deformer, sub_real)
    out: dict[str, list] = {"inp": [], "tgt": [], "mask": []}
    for i, k in enumerate(order):
        if i == 0 or not np.isfinite(sub_real[i]).all():
            continue
        P = cap.points[i] @ S[i][:, :2].T + S[i][:, 2]         # target landmarks on the real frame
        M = box_matrix(P, config)
        inp, mask = box_inputs(gen[i], P, config, M, PAD)
        tgt, _ = box_inputs(frames[k], P, config, M, PAD)
        out["inp"].append(inp)
        out["tgt"].append(tgt)
        out["mask"].append(mask)
    return {k: np.stack(v) for k, v in out.items() if v}


def clip_pairs(path: Path, config: RefinerConfig, cache: Path | None, photos: int, window: int,
               max_frames: int, seconds: float | None = None) -> dict[str, np.ndarray]:
    """All pairs of one clip (cached as .npz): `photos` evenly spaced photos, `window` frames each."""
    from ..eval.render import clip_frames, clip_landmarks
    from ..mouthbank import load_bank
    from .speakers import SPEAKERS

    key = f"{path.stem}_p{photos}_w{window}_m{max_frames}_s{seconds}_{config.box_w}x{config.box_h}_{config.mouth_px:g}" \
          f"_{config.center_y:g}"
    f = cache / f"{key}.npz" if cache else None
    if f is not None and f.is_file():
        z = np.load(f)
        return {k: z[k] for k in z.files}
    fps, frames = clip_frames(path, seconds if seconds else 1e9)
    frames = frames[:max_frames]
    real = clip_landmarks(frames)
    speaker = SPEAKERS.get(path.stem)
    same = [stem for stem, spk in SPEAKERS.items() if spk == speaker] or [path.stem]
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        bank_path = Path(tmp) / "bank.npz"
        load_bank().without(same).save(bank_path)
        ok = [i for i in range(len(frames)) if np.isfinite(real[i]).all()]
        starts = [ok[int(j * len(ok) / photos)] for j in range(photos)] if ok else []
        for s in dict.fromkeys(starts):
            p = render_pairs(frames, real, bank_path, config, s, window)
            if p:
                parts.append(p)
    d = {k: np.concatenate([p[k] for p in parts]) for k in ("inp", "tgt", "mask")} if parts else {}
    if f is not None and d:
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez(f, **d)
    return d


# -- training ----------------------------------------------------------------------------------

def losses(pred, tgt, weight, config: RefinerConfig, sharp: float = 0.05, masks=None):
    """(total, parts) for predicted and real boxes (N, 3, H, W) in -1..1 under `weight` (1, 1, H, W); the
    sharpness term is taken over the lips and what is inside them (`masks`, the input's two mask channels
    (N, 2, H, W), grown by 2 px), or over the whole box inside the feather without them."""
    import torch
    import torch.nn.functional as F

    wsum = weight.sum() * pred.shape[0] * 3
    l1 = (weight * (pred - tgt).abs()).sum() / wsum
    dx = lambda x: x[..., :, 1:] - x[..., :, :-1]
    dy = lambda x: x[..., 1:, :] - x[..., :-1, :]
    wx, wy = torch.minimum(weight[..., :, 1:], weight[..., :, :-1]), torch.minimum(weight[..., 1:, :], weight[..., :-1, :])
    grad = ((wx * (dx(pred) - dx(tgt)).abs()).sum() + (wy * (dy(pred) - dy(tgt)).abs()).sum()) / (2 * wsum)
    lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)
    gray = lambda x: (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    if masks is None:
        inner = (weight >= 1).float()
    else:
        inner = F.max_pool2d((masks.sum(1, keepdim=True) > 0.5).float(), 5, 1, 2)

    def lv(x):
        v = (F.conv2d(gray(x), lap, padding=1) * inner).flatten(1)
        if masks is None:
            return v.var(1) + 1e-4
        n = inner.flatten(1).sum(1).clamp(min=1)
        return (v ** 2).sum(1) / n - (v.sum(1) / n) ** 2 + 1e-4

    sh = (torch.log(lv(pred)) - torch.log(lv(tgt))).abs().mean()
    total = l1 + grad + sharp * sh
    return total, {"l1": l1.item(), "grad": grad.item(), "sharp": sh.item()}


def _batch(data: dict[str, np.ndarray], idx: np.ndarray, config: RefinerConfig, rng: np.random.Generator | None):
    """Tensors (input (N, 5, H, W), target (N, 3, H, W)) for pairs `idx`; augmented when `rng` is given."""
    import torch

    H, W = config.box_h, config.box_w
    inp, tgt, mask = data["inp"][idx], data["tgt"][idx], data["mask"][idx]
    if rng is None:
        sl = (slice(None), slice(PAD, PAD + H), slice(PAD, PAD + W))
        inp, tgt, mask = inp[sl], tgt[sl], mask[sl]
    else:
        cut = lambda a, y, x: a[y:y + H, x:x + W]
        ys, xs = rng.integers(0, 2 * PAD + 1, len(idx)), rng.integers(0, 2 * PAD + 1, len(idx))
        inp = np.stack([cut(a, y, x) for a, y, x in zip(inp, ys, xs)])
        tgt = np.stack([cut(a, y, x) for a, y, x in zip(tgt, ys, xs)])
        mask = np.stack([cut(a, y, x) for a, y, x in zip(mask, ys, xs)])
        flip = rng.random(len(idx)) < 0.5
        inp[flip], tgt[flip], mask[flip] = inp[flip, :, ::-1], tgt[flip, :, ::-1], mask[flip, :, ::-1]
    x = np.concatenate([inp.astype(np.float32) / 127.5 - 1, mask.astype(np.float32) / 255], 3)
    y = tgt.astype(np.float32) / 127.5 - 1
    if rng is not None:
        # The same brightness and colour change on both sides: the refiner must take colour from its input.
        gain = (rng.uniform(0.8, 1.2, (len(idx), 1, 1, 1)) * rng.uniform(0.93, 1.07, (len(idx), 1, 1, 3))).astype(np.float32)
        x[..., :3] = np.clip((x[..., :3] + 1) * gain - 1, -1, 1)
        y = np.clip((y + 1) * gain - 1, -1, 1)
    return (torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))),
            torch.from_numpy(np.ascontiguousarray(y.transpose(0, 3, 1, 2))))


def evaluate(net, data: dict[str, np.ndarray], config: RefinerConfig, batch: int = 64,
             sharp: float = 0.05, region: str = "box") -> dict[str, float]:
    """Mean loss parts of `net` on `data` (no augmentation), and of the identity (the bank as it is)."""
    import torch

    weight = torch.from_numpy(feather_mask(config))[None, None]
    sums: dict[str, float] = {}
    n = len(data["inp"])
    with torch.inference_mode():
        for s in range(0, n, batch):
            idx = np.arange(s, min(n, s + batch))
            x, y = _batch(data, idx, config, None)
            pred = torch.clamp(x[:, :3] + net(x), -1, 1)
            for tag, p in (("", pred), ("bank_", x[:, :3])):
                total, parts = losses(p, y, weight, config, sharp, x[:, 3:] if region == "mouth" else None)
                for k, v in {"loss": float(total), **parts}.items():
                    sums[tag + k] = sums.get(tag + k, 0.0) + v * len(idx)
    return {k: v / max(n, 1) for k, v in sums.items()}


def train(data: dict[str, np.ndarray], dev: dict[str, np.ndarray] | None, config: RefinerConfig, seed: int = 0,
          steps: int = 1300, minutes: float = 40.0, batch: int = 32, lr: float = 2e-3, every: int = 100,
          sharp: float = 0.05, region: str = "box", log=print) -> tuple[object, dict]:
    """Train a fresh refiner on `data`; keep the weights with the lowest dev loss (or the last, without dev)."""
    import copy

    import torch

    from ..models.mouth_refiner import MouthRefiner, build_network

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_network(config)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    weight = torch.from_numpy(feather_mask(config))[None, None]
    t0 = time.time()
    best, best_state, history = float("inf"), None, []
    n = len(data["inp"])
    step = 0
    for step in range(1, steps + 1):
        lr_now = lr * 0.5 * (1 + np.cos(np.pi * step / steps))     # by step only: the same weights on any machine
        for g in opt.param_groups:
            g["lr"] = lr_now
        net.train()
        x, y = _batch(data, rng.integers(0, n, batch), config, rng)
        pred = torch.clamp(x[:, :3] + net(x), -1, 1)
        loss, parts = losses(pred, y, weight, config, sharp, x[:, 3:] if region == "mouth" else None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        done = time.time() - t0 > 60 * minutes
        if step % every == 0 or step == steps or done:
            net.eval()
            row = {"step": step, "seconds": round(time.time() - t0, 1), "train": round(loss.item(), 5)}
            if dev:
                ev = evaluate(net, dev, config, sharp=sharp, region=region)
                row.update({k: round(v, 5) for k, v in ev.items()})
                if ev["loss"] < best:
                    best, best_state = ev["loss"], copy.deepcopy(net.state_dict())
            history.append(row)
            log(json.dumps(row))
        if done:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    return MouthRefiner(config, net), {"steps": step, "seconds": round(time.time() - t0, 1), "history": history,
                                       "best_dev_loss": best if dev else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m avatarkit.training.refiner", description=__doc__.split("\n")[0])
    p.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE)
    p.add_argument("--out", type=Path, default=Path("avatarkit/models/mouth-refiner"))
    p.add_argument("--cache", type=Path, default=Path("build/refiner-cache"))
    p.add_argument("--config", type=Path, default=None, help="a config.json to train (default: RefinerConfig())")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=1300)
    p.add_argument("--minutes", type=float, default=40.0, help="stop after this long even before --steps")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--sharp", type=float, default=0.05, help="weight of the sharpness term of the loss")
    p.add_argument("--sharp-region", choices=("box", "mouth"), default="box",
                   help="where the sharpness term looks: the whole box, or the lips and inside them")
    p.add_argument("--gain", type=float, default=0.5,
                   help="scale on the residual at inference, written to config.json (0.5: chosen on the dev clips)")
    p.add_argument("--photos", type=int, default=6, help="photos (start frames) per training clip")
    p.add_argument("--window", type=int, default=100, help="frames driven from each photo")
    p.add_argument("--max-frames", type=int, default=800, help="frames read per training clip")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)

    import cv2
    import torch

    torch.set_num_threads(a.threads)
    cv2.setNumThreads(1)
    config = RefinerConfig.from_dict(json.loads(a.config.read_text())) if a.config else RefinerConfig()
    t0 = time.time()
    train_clips, dev_clips = clips_of(a.footage, "train"), clips_of(a.footage, "dev")
    parts = []
    for c in train_clips:
        d = clip_pairs(c, config, a.cache, a.photos, a.window, a.max_frames)
        print(f"{c.name}: {len(d.get('inp', []))} pairs", flush=True)
        if d:
            parts.append(d)
    data = {k: np.concatenate([d[k] for d in parts]) for k in ("inp", "tgt", "mask")}
    devs = [clip_pairs(c, config, a.cache, 1, 10 ** 6, 10 ** 6, DEV_SECONDS) for c in dev_clips]
    dev = {k: np.concatenate([d[k] for d in devs if d]) for k in ("inp", "tgt", "mask")}
    prep = time.time() - t0
    print(f"{len(data['inp'])} training pairs from {len(train_clips)} clips, {len(dev['inp'])} dev pairs "
          f"({prep:.0f} s)", flush=True)
    model, info = train(data, dev, config, a.seed, a.steps, a.minutes, a.batch, a.lr, sharp=a.sharp,
                        region=a.sharp_region, log=lambda s: print(s, flush=True))
    model.config.gain = a.gain
    meta = {"command": "python -m avatarkit.training.refiner " + " ".join(sys.argv[1:] if argv is None else argv),
            "seed": a.seed, "parameters": model.parameters, "settings": {k: str(v) for k, v in vars(a).items()},
            "data": {"footage": "../shared/media/talking (see its SOURCES.md; GRID CC BY 4.0, US government video "
                                "presumed public domain); speakers by avatarkit.training.speakers.REFINER",
                     "train": [c.name for c in train_clips], "dev": [c.name for c in dev_clips],
                     "train_pairs": int(len(data["inp"])), "dev_pairs": int(len(dev["inp"]))},
            "prepare_seconds": round(prep, 1), **info}
    model.save_pretrained(a.out, meta)
    print(f"wrote {a.out} ({model.parameters} parameters, {info['steps']} steps, {info['seconds']:.0f} s training)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
