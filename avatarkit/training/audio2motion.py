"""Train the audio-to-motion model from a seed; reproduces the shipped weights.

    python -m avatarkit.training.audio2motion --out avatarkit/models/audio2motion

makes the data (`data.py`: synthetic speech in many voices and languages,
augmented to sound recorded), trains `Audio2MotionNet` on random crops, checks
it every few hundred steps on held-out languages and voices, and writes the
model folder with `training.json` beside the weights: the command, seed,
data size, final validation loss and correlations, and the time it took.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ..audio.features import LogMel, MelConfig
from ..models.audio2motion import OUTPUTS, Audio2Motion, Audio2MotionConfig, build_network
from .data import Spec, make_example, sample_specs

# Mouth opening matters most to a viewer; voice and onset only steer the head.
WEIGHTS = {"jaw": 3.0, "wide": 1.0, "round": 1.0, "press": 1.5, "dental": 1.0, "voice": 0.5, "onset": 0.5}

_MEL: LogMel | None = None


def _worker(spec: Spec):
    global _MEL
    if _MEL is None:
        _MEL = LogMel(MelConfig())
    import torch

    torch.set_num_threads(1)
    f, y, _ = make_example(spec, _MEL)
    return f, y


def make_dataset(specs: list[Spec], workers: int, label: str, progress=True):
    """Concatenated (features, targets, starts) for `specs`; utterances keep their silence padding."""
    feats, ys = [], []
    t0 = time.perf_counter()
    ctx = mp.get_context("fork")
    with ctx.Pool(workers) as pool:
        for i, (f, y) in enumerate(pool.imap(_worker, specs, chunksize=8)):
            feats.append(f)
            ys.append(y)
            if progress and (i + 1) % max(1, len(specs) // 20) == 0:
                print(f"  {label}: {i + 1}/{len(specs)} examples, {time.perf_counter() - t0:.0f} s", flush=True)
    starts = np.cumsum([0] + [len(f) for f in feats])
    return np.concatenate(feats), np.concatenate(ys), starts


def warp_mel_axis(x, alphas):
    """Vocal-tract-length perturbation on log-mel crops (B, T, F): band k takes band k / alpha.

    Stretching the frequency axis by 0.85-1.15 moves formants as a longer or
    shorter vocal tract would, so a few voices stand in for many speakers.
    """
    import torch

    f = x.shape[-1]
    src = (torch.arange(f, dtype=x.dtype)[None, :] / alphas[:, None]).clamp(0, f - 1)   # (B, F)
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=f - 1)
    w = (src - lo)[:, None, :]
    idx_lo = lo[:, None, :].expand(-1, x.shape[1], -1)
    idx_hi = hi[:, None, :].expand(-1, x.shape[1], -1)
    return x.gather(2, idx_lo) * (1 - w) + x.gather(2, idx_hi) * w


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    d = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / d) if d > 0 else 0.0


def evaluate(model: Audio2Motion, data) -> dict:
    """Validation loss and per-channel correlations on a dataset, utterance by utterance."""
    feats, ys, starts = data
    preds = np.concatenate([model.predict_features(feats[a:b]) for a, b in zip(starts[:-1], starts[1:])])
    w = np.array([WEIGHTS[k] for k in OUTPUTS])
    loss = float((np.abs(preds - ys) * w).mean())
    return {"loss": loss, **{f"corr_{k}": pearson(preds[:, i], ys[:, i]) for i, k in enumerate(OUTPUTS)}}


def train(args) -> dict:
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    cfg = Audio2MotionConfig(width=args.width, lookahead=args.lookahead)
    t0 = time.perf_counter()
    print(f"making {args.examples} training examples ({args.workers} workers)", flush=True)
    train_data = make_dataset(sample_specs(args.examples, args.seed, piper_share=args.piper_share),
                              args.workers, "train")
    print(f"making {args.val} held-out examples (unseen languages or voices)", flush=True)
    val_data = make_dataset(sample_specs(args.val, args.seed + 1, held_out=True), args.workers, "held-out")
    t_data = time.perf_counter() - t0
    x_all, y_all, _ = train_data
    hours = len(x_all) / cfg.mel.frame_rate / 3600
    print(f"data: {len(x_all)} frames ({hours:.2f} h) in {t_data:.0f} s", flush=True)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    net = build_network(cfg)
    net.feature_mean.copy_(torch.from_numpy(x_all.mean(0)))
    net.feature_std.copy_(torch.from_numpy(x_all.std(0) + 1e-3))
    net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    w = torch.tensor([WEIGHTS[k] for k in OUTPUTS], device=device)
    r, la = cfg.receptive_field, cfg.lookahead
    ctx = r - 1
    rng = np.random.default_rng(args.seed)
    x_t, y_t = torch.from_numpy(x_all), torch.from_numpy(y_all)
    model = Audio2Motion(cfg, net)
    history = []
    t1 = time.perf_counter()
    for step in range(1, args.steps + 1):
        net.train()
        starts = rng.integers(0, len(x_all) - args.crop - ctx, size=args.batch)
        xb = torch.stack([x_t[s:s + args.crop + ctx] for s in starts])
        if args.vtlp > 0:
            xb = warp_mel_axis(xb, 1 + args.vtlp * (2 * torch.rand(args.batch) - 1))
        xb = xb.to(device)
        yb = torch.stack([y_t[s + ctx - la:s + ctx - la + args.crop] for s in starts]).to(device)
        pred = net(xb)
        err = (pred - yb).abs() * w
        vel = ((pred[:, 1:] - pred[:, :-1]) - (yb[:, 1:] - yb[:, :-1])).abs() * w
        loss = err.mean() + args.velocity * vel.mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % args.eval_every == 0 or step == args.steps:
            net.eval()
            m = evaluate(model, val_data)
            history.append({"step": step, "train_loss": loss.item(), **m})
            print(f"step {step}/{args.steps}  train {loss.item():.4f}  held-out {m['loss']:.4f}  "
                  f"jaw r={m['corr_jaw']:.3f}  {time.perf_counter() - t1:.0f} s", flush=True)
    net.eval()
    final = evaluate(model, val_data)
    net.cpu()
    meta = {
        "command": " ".join(["python -m avatarkit.training.audio2motion", *args.argv]),
        "seed": args.seed,
        "data": {"train_examples": args.examples, "train_frames": int(len(x_all)), "train_hours": round(hours, 3),
                 "held_out_examples": args.val, "held_out_frames": int(len(val_data[0])),
                 "held_out": "eSpeak NG in it/pl/fi, or training languages with unseen voice variants"},
        "steps": args.steps, "batch": args.batch, "crop_frames": args.crop, "lr": args.lr,
        "piper_share": args.piper_share, "vtlp": args.vtlp,
        "final_validation": final,
        "history": history,
        "seconds": {"data": round(t_data, 1), "training": round(time.perf_counter() - t1, 1)},
        "machine": f"{platform.machine()} {mp.cpu_count()} cpus, torch {torch.__version__}, {args.threads} threads, "
                   f"device {device}",
    }
    model.save_pretrained(args.out, meta)
    print(f"saved {args.out}: held-out loss {final['loss']:.4f}, jaw r={final['corr_jaw']:.3f}", flush=True)
    return meta


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m avatarkit.training.audio2motion", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="avatarkit/models/audio2motion", help="model folder to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--examples", type=int, default=5000, help="training utterances to synthesise")
    p.add_argument("--val", type=int, default=300, help="held-out utterances")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--crop", type=int, default=200, help="frames (10 ms) per training crop")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--velocity", type=float, default=1.0, help="weight of the frame-to-frame change loss")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--lookahead", type=int, default=8, help="future frames (10 ms) the model may see")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--piper-share", type=float, default=0.4, help="share of training speech from the Piper voice")
    p.add_argument("--vtlp", type=float, default=0.12, help="frequency-axis stretch range (0 = off)")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    args.argv = argv
    Path(args.out).mkdir(parents=True, exist_ok=True)
    meta = train(args)
    print(json.dumps(meta["final_validation"], indent=1))


if __name__ == "__main__":
    main()
