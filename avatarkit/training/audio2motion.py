"""Train the audio-to-motion model from a seed; reproduces the shipped weights.

    python -m avatarkit.training.audio2motion --out avatarkit/models/audio2motion

hears everything through Whisper-base's encoder (`--features whisper`, the
default; `logmel` trains the first model's kind). It makes the data:
synthetic speech in many voices and languages, augmented to sound recorded,
with targets from the phoneme path (`data.py`), and the real talking faces
of `--footage` (default `data/talking`) with targets measured on their
filmed mouths (`real.py`, training speakers only). It trains
`Audio2MotionNet` on random crops drawn from both (`--real-share` of them
real), checks it every few hundred steps on held-out synthetic languages
and voices and on the dev speakers, and writes the model folder with
`training.json` beside the weights: the command, seed, data, splits, final
validation figures and the time it took. Made datasets are kept in
`--cache`, so a second run with other training settings starts at once.
The test speakers are never read. Uses CUDA when there is one.
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
    """Concatenated (features, targets, mask, starts) for `specs`; utterances keep their silence padding."""
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
    y = np.concatenate(ys)
    return np.concatenate(feats), y, np.ones_like(y), starts


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
    """Validation loss and per-channel correlations on a dataset, utterance by utterance (masked rows left out)."""
    feats, ys, mask, starts = data
    preds = np.concatenate([model.predict_features(feats[a:b].astype(np.float32)) for a, b in zip(starts[:-1], starts[1:])])
    w = np.array([WEIGHTS[k] for k in OUTPUTS])
    loss = float((np.abs(preds - ys) * w * mask).sum() / max((w * mask).sum(), 1e-9))
    out = {"loss": loss}
    for i, k in enumerate(OUTPUTS):
        ok = mask[:, i] > 0
        if ok.any():
            out[f"corr_{k}"] = pearson(preds[ok, i], ys[ok, i])
    return out


def _datasets(args, cfg):
    """(train parts [(data, share)], validation sets {name: data}, description) for the front end in `cfg`."""
    if cfg.features == "logmel":
        print(f"making {args.examples} training examples ({args.workers} workers)", flush=True)
        train_data = make_dataset(sample_specs(args.examples, args.seed, piper_share=args.piper_share),
                                  args.workers, "train")
        print(f"making {args.val} held-out examples (unseen languages or voices)", flush=True)
        val = make_dataset(sample_specs(args.val, args.seed + 1, held_out=True), args.workers, "held-out")
        return [(train_data, 1.0)], {"synthetic": val}, {}
    from . import real as R
    from . import whisper_data as W

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    frontend = W.WhisperFrontend(cfg.mel)

    def cached(name, make):
        path = cache / f"{name}.npz"
        if path.exists():
            print(f"reading {path}", flush=True)
            return W.load(path)
        data = make()
        W.save(path, data)
        return data

    synth = cached(f"synthetic-{args.examples}-{args.seed}-{args.piper_share}", lambda: W.synthetic(
        sample_specs(args.examples, args.seed, piper_share=args.piper_share), frontend, args.seed, args.workers))
    val = cached(f"synthetic-val-{args.val}-{args.seed + 1}", lambda: W.synthetic(
        sample_specs(args.val, args.seed + 1, held_out=True), frontend, args.seed + 1, args.workers, "held-out"))
    parts, sets = [(synth, 1.0 - args.real_share)], {"synthetic": val}
    info = {}
    if args.footage:
        clips = [R.measure(p) for p in R.clips_in(args.footage)]
        ranges = R.speaker_ranges(clips)
        held = set(args.hold_out or ())
        unknown = held - {c.speaker for c in clips}
        if unknown:
            raise SystemExit(f"--hold-out: no clips of {', '.join(sorted(unknown))} in {args.footage}")
        # Cross-validation: a held-out training speaker joins the dev speakers for this run.
        train_clips = [c for c in clips if c.split == "train" and c.speaker not in held]
        dev_clips = [c for c in clips if c.split == "dev" or c.speaker in held]
        print(f"real footage: {len(train_clips)} training clips ({sum(c.audio.size for c in train_clips) / 16000:.1f} s, "
              f"{len({c.speaker for c in train_clips})} speakers), {len(dev_clips)} dev clips", flush=True)
        parts.append((W.real(train_clips, ranges, frontend, args.real_copies, args.seed), args.real_share))
        sets["real-dev"] = W.real(dev_clips, ranges, frontend, 1, args.seed)
        info = {"real_train": sorted({c.path.name for c in train_clips}),
                "real_train_speakers": sorted({c.speaker for c in train_clips}),
                "real_dev": sorted(c.path.name for c in dev_clips),
                "real_test_never_seen": sorted(n for n, (_, sp) in R.SPLITS.items() if sp == "test"),
                "real_train_seconds": round(sum(c.audio.size for c in train_clips) / 16000, 1),
                "real_copies": args.real_copies, "real_share": args.real_share}
    return parts, sets, info


def train(args) -> dict:
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    cfg = Audio2MotionConfig(width=args.width, lookahead=args.lookahead, features=args.features,
                             dilations=tuple(args.dilations))
    t0 = time.perf_counter()
    parts, val_sets, real_info = _datasets(args, cfg)
    t_data = time.perf_counter() - t0
    frames = sum(len(d[0]) for d, _ in parts)
    hours = len(parts[0][0][0]) / cfg.frame_rate / 3600
    print(f"data: {frames} frames ({hours:.2f} h synthetic) in {t_data:.0f} s", flush=True)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    net = build_network(cfg)
    x_all = np.concatenate([d[0] for d, _ in parts]).astype(np.float32)
    net.feature_mean.copy_(torch.from_numpy(x_all.mean(0)))
    net.feature_std.copy_(torch.from_numpy(x_all.std(0) + 1e-3))
    del x_all
    net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    w = torch.tensor([WEIGHTS[k] for k in OUTPUTS], device=device)
    r, la = cfg.receptive_field, cfg.lookahead
    ctx = r - 1
    rng = np.random.default_rng(args.seed)
    tensors = [tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in d[:3]) for d, _ in parts]
    shares = np.array([s for _, s in parts], np.float64)
    shares /= shares.sum()
    model = Audio2Motion(cfg, net)
    history = []
    t1 = time.perf_counter()
    for step in range(1, args.steps + 1):
        net.train()
        which = rng.choice(len(parts), size=args.batch, p=shares)
        xb, yb, mb = [], [], []
        for j in which:
            x_t, y_t, m_t = tensors[j]
            s = int(rng.integers(0, len(x_t) - args.crop - ctx))
            xb.append(x_t[s:s + args.crop + ctx].float())
            yb.append(y_t[s + ctx - la:s + ctx - la + args.crop])
            mb.append(m_t[s + ctx - la:s + ctx - la + args.crop])
        xb, yb, mb = torch.stack(xb), torch.stack(yb).to(device), torch.stack(mb).to(device)
        if args.vtlp > 0 and cfg.features == "logmel":
            xb = warp_mel_axis(xb, 1 + args.vtlp * (2 * torch.rand(args.batch) - 1))
        pred = net(xb.to(device))
        err = (pred - yb).abs() * w * mb
        mv = mb[:, 1:] * mb[:, :-1]
        vel = ((pred[:, 1:] - pred[:, :-1]) - (yb[:, 1:] - yb[:, :-1])).abs() * w * mv
        loss = err.sum() / (w * mb).sum().clamp(min=1e-6) + args.velocity * vel.sum() / (w * mv).sum().clamp(min=1e-6)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % args.eval_every == 0 or step == args.steps:
            net.eval()
            m = {name: evaluate(model, d) for name, d in val_sets.items()}
            history.append({"step": step, "train_loss": loss.item(), **m})
            summary = "  ".join(f"{n} loss {v['loss']:.4f} jaw r={v['corr_jaw']:.3f}" for n, v in m.items())
            print(f"step {step}/{args.steps}  train {loss.item():.4f}  {summary}  {time.perf_counter() - t1:.0f} s",
                  flush=True)
    net.eval()
    final = {name: evaluate(model, d) for name, d in val_sets.items()}
    net.cpu()
    meta = {
        "command": " ".join(["python -m avatarkit.training.audio2motion", *args.argv]),
        "seed": args.seed,
        "features": cfg.features,
        "data": {"train_examples": args.examples, "train_frames": int(frames), "synthetic_hours": round(hours, 3),
                 "held_out_examples": args.val,
                 "held_out": "eSpeak NG in it/pl/fi, or training languages with unseen voice variants",
                 **real_info},
        "steps": args.steps, "batch": args.batch, "crop_frames": args.crop, "lr": args.lr,
        "piper_share": args.piper_share, "vtlp": args.vtlp if cfg.features == "logmel" else 0,
        "final_validation": final,
        "history": history,
        "seconds": {"data": round(t_data, 1), "training": round(time.perf_counter() - t1, 1)},
        "machine": f"{platform.machine()} {mp.cpu_count()} cpus, torch {torch.__version__}, {args.threads} threads, "
                   f"device {device}",
    }
    model.save_pretrained(args.out, meta)
    print(f"saved {args.out}", flush=True)
    return meta


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m avatarkit.training.audio2motion", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="avatarkit/models/audio2motion", help="model folder to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--examples", type=int, default=3000, help="training utterances to synthesise")
    p.add_argument("--val", type=int, default=200, help="held-out utterances")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--crop", type=int, default=100, help="feature frames per training crop")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--velocity", type=float, default=1.0, help="weight of the frame-to-frame change loss")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--lookahead", type=int, default=4, help="future feature frames the model may see")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--piper-share", type=float, default=0.4, help="share of training speech from the Piper voice")
    p.add_argument("--vtlp", type=float, default=0.12, help="frequency-axis stretch range (0 = off; log-mel only)")
    p.add_argument("--features", default="whisper", choices=["logmel", "whisper"], help="the model's front end")
    p.add_argument("--dilations", type=int, nargs="+", default=[1, 2, 4, 8, 1], help="dilation per block")
    p.add_argument("--footage", default="data/talking", help="folder of real talking-face clips named in "
                                                              "training.real.SPLITS ('' = synthetic only)")
    p.add_argument("--real-share", type=float, default=0.3, help="share of training crops from real footage")
    p.add_argument("--real-copies", type=int, default=12, help="copies of each real clip: clean + degraded")
    p.add_argument("--hold-out", action="append", metavar="SPEAKER",
                   help="leave this training speaker out (it is validated on instead); repeatable, for cross-validation")
    p.add_argument("--cache", default="build/a2m-data", help="folder to keep made datasets in (Whisper front end)")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    args.argv = argv
    Path(args.out).mkdir(parents=True, exist_ok=True)
    meta = train(args)
    print(json.dumps(meta["final_validation"], indent=1))


if __name__ == "__main__":
    main()
