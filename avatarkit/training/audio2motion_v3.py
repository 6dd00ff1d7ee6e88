"""Train Audio2Motion v3 (whole lip shapes from running speech) from a seed; reproduces the shipped weights.

    python -m avatarkit.training.audio2motion_v3 --out avatarkit/models/audio2motion-v3 --seed 0

What it learns from: the real talking faces of `--footage` (default
`../shared/media/talking`) with their own sound, split by speaker
(`SPLITS`): `train` speakers teach, `dev` speakers choose the checkpoint,
`test` speakers (`HELD_OUT`) are never read here. Each clip is measured with
MediaPipe and its lip shapes put in the `MotionTrack.shape` contract,
normalised per speaker (`lipshape.py`). A linear basis (PCA, `--components`)
of the training speakers' normalised shapes is the output space; the
network is `Audio2MotionNet` over Whisper-base encoder states and log-mel
bands (50 Hz) with a long causal context (dilations 1..32: 2.6 s) and a
short look-ahead.

Augmentation: every training clip is heard clean and as `--copies` degraded
copies (room reverb, microphone colour and bandwidth, telephone line, noise
or music beds, level, clipping: `augment.augment`) of which half are also
sped up or slowed down by up to ±10 % with the targets stretched to match;
clips where nobody speaks (music, noise, near silence) teach a still mouth.
Loss: squared error of the shape (all 75 points) plus the inner-lip opening
weighted `--open-weight`, plus 1 - r of the opening within each crop
(`--corr-weight`: when the lips part and close, whatever the amplitude).
Two ablations are off by default (measured in docs/quality.md, not
shipped): `--width-weight`, 1 - r of the mouth's width per crop, and
`--phones N`, a second head on the same trunk that learns the v2 model's
phoneme-path channels (jaw, wide, round, press, ...) from `N` examples of
its synthetic corpus (many voices and languages), which teaches width.

Several networks (`--members`) are trained from different seeds on the same
data, each stopped at its best dev checkpoint, and folded into one network
that computes their mean (`fold`): on 75 s of faces a single network's dev r
moves by ±0.015 with the seed alone, and the mean of a few is steadier.

`--cv SPEAKER` leaves training speakers out and scores them beside dev
without choosing on them (cross-validating a choice on more presenters than
the dev split holds). Measured features are cached in `--cache`, so
ablations start at once. Trains on one CPU thread (`torch.set_num_threads(1)`).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ..audio.features import MelConfig
from ..face import landmarks as lm
from ..models.audio2motion import OUTPUTS, Audio2Motion, Audio2MotionConfig, build_network
from . import lipshape as L
from .speakers import V3, splits

# stem -> (speaker, split), from the one speaker table (`speakers.py`). Held out (never trained or tuned
# on): the speakers of avatarkit.mouthbank.HELD_OUT, and the 60 s clip (long running speech, one more presenter).
SPLITS: dict[str, tuple[str, str]] = splits(V3)
HELD_OUT = tuple(s for s, (_, split) in SPLITS.items() if split == "test")
# Groups for reports: GRID, presenters, long speech (the 60 s clip), CREMA-D.
GROUPS = {"grid": ("grid_",), "presenters": ("usgov_WDA", "usgov_RD"), "long": ("usgov_EDTalk",),
          "cremad": ("cremad_",)}


def group_of(stem: str) -> str:
    for g, prefixes in GROUPS.items():
        if stem.startswith(prefixes):
            return g
    return "other"


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    d = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / d) if d > 0 else 0.0


def load_clips(footage: Path, cache: Path, splits=("train", "dev")) -> list[L.MeasuredClip]:
    """Measured clips of `footage` in `splits` (the test speakers only when asked)."""
    out = []
    for p in sorted(footage.iterdir()):
        if p.stem in SPLITS and SPLITS[p.stem][1] in splits:
            audio, fps, real = L.measure(p, cache / "measured")
            out.append(L.MeasuredClip(p.stem, SPLITS[p.stem][0], audio, fps, L.aligned_points(real)))
    return out


def _stretch(audio: np.ndarray, factor: float) -> np.ndarray:
    """Audio played `factor` times slower (factor > 1: longer), by linear interpolation."""
    n = max(1, int(round(audio.size * factor)))
    return np.interp(np.arange(n) / factor, np.arange(audio.size), audio).astype(np.float32)


def targets_at(y: np.ndarray, fps: float, rate: float, count: int, stretch: float = 1.0) -> np.ndarray:
    """Per-video-frame rows `y` (frames, D; NaN = unknown) at `count` frames of `rate` Hz; NaN next to unknowns."""
    t = (np.arange(count) + 0.5) / rate / stretch * fps - 0.5
    i0 = np.clip(np.floor(t).astype(int), 0, y.shape[0] - 1)
    i1 = np.clip(i0 + 1, 0, y.shape[0] - 1)
    f = np.clip(t - i0, 0, 1)[:, None]
    out = y[i0] * (1 - f) + y[i1] * f
    out[(t < -0.5) | (t > y.shape[0] - 0.5)] = np.nan
    return out.astype(np.float32)


class Features:
    """The v3 front end on one CPU thread, with a disk cache of features per (name)."""

    def __init__(self, kind: str, cache: Path):
        from ..models.frontends import WhisperFrontend, make_frontend

        self.kind, self.cache = kind, cache / f"features-{kind}"
        self.cache.mkdir(parents=True, exist_ok=True)
        if kind == "whisper":
            from ..speech.whisper import Whisper

            self.f = WhisperFrontend(MelConfig(), whisper=Whisper(threads=1))
        else:
            self.f = make_frontend(kind, MelConfig())

    def __call__(self, audio: np.ndarray, name: str | None = None) -> np.ndarray:
        p = self.cache / f"{name}.npy" if name else None
        if p is not None and p.exists():
            return np.load(p)
        x = self.f(audio).astype(np.float32)
        if p is not None:
            np.save(p, x)
        return x


def build_data(clips, norms, feats: Features, rate: float, copies: int, seed: int, non_speech: int,
               speed: bool = True):
    """Training sequences: list of (features (T, F), targets (T, 150) NaN-masked, name)."""
    from .augment import augment
    from .augment import non_speech as make_non_speech

    seqs = []
    for c in clips:
        y = L.normalised(c.points, norms[c.speaker]).reshape(c.points.shape[0], -1)
        for k in range(copies + 1):
            rng = np.random.default_rng([seed, k, sum(map(ord, c.stem))])
            audio, factor = c.audio, 1.0
            if k and speed and rng.random() < 0.5:
                factor = float(rng.uniform(0.9, 1.1))
                audio = _stretch(audio, factor)
            if k:
                audio = augment(audio, 16000, rng)
            f = feats(audio, f"{c.stem}-s{seed}-c{k}" + ("" if speed else "-nospeed"))
            seqs.append((f, targets_at(y, c.fps, rate, f.shape[0], factor), c.stem))
    dim = seqs[0][1].shape[1] if seqs else 2 * len(L.POINTS)
    for k in range(non_speech):
        rng = np.random.default_rng([seed, 10_000 + k])
        audio = make_non_speech(int(16000 * rng.uniform(3, 6)), 16000, rng)
        f = feats(audio, f"nonspeech-s{seed}-{k}")
        seqs.append((f, np.zeros((f.shape[0], dim), np.float32), f"nonspeech-{k}"))
    return seqs


def fit_basis(clips, norms, k: int):
    """PCA of the normalised training shapes: mean (D,), basis (k, D) orthonormal rows, coefficient std (k,)."""
    Y = np.concatenate([L.normalised(c.points, norms[c.speaker]).reshape(c.points.shape[0], -1) for c in clips])
    Y = Y[np.isfinite(Y).all(1)]
    mean = Y.mean(0)
    _, s, vt = np.linalg.svd(Y - mean, full_matrices=False)
    basis = vt[:k]
    coef = (Y - mean) @ basis.T
    explained = float((s[:k] ** 2).sum() / (s ** 2).sum())
    return mean.astype(np.float32), basis.astype(np.float32), coef.std(0).astype(np.float32), explained


def selection_score(dev: dict) -> float:
    """The figure checkpoints are chosen by: the mean r over the dev clips (cross-validation clips, scored
    beside them, never count)."""
    return float(np.mean([v for k, v in dev.items() if SPLITS.get(k, ("", ""))[1] == "dev"]))


def dev_scores(model: Audio2Motion, clips, feats: Features) -> dict:
    """Per clip: r of the predicted inner-lip gap against the measured one, at the video frames."""
    out = {}
    rate = model.config.frame_rate
    for c in clips:
        f = feats(c.audio, f"{c.stem}-clean")
        pcs = model.predict_features(f)[:, :model.config.shape_components]
        n = c.points.shape[0]
        pos = (np.arange(n) + 0.5) / c.fps * rate - 0.5
        j = np.arange(pcs.shape[0])
        pcs_v = np.stack([np.interp(pos, j, pcs[:, i]) for i in range(pcs.shape[1])], 1)
        shape = model.decode_shape(pcs_v, normalised=True)
        out[c.stem] = pearson(L.opening(shape), L.opening(c.points))
    return out


def timing_terms(gp, gy, m):
    """(velocity error, 1 - r) of a predicted against a measured series (B, T) with a mask (B, T): the
    inner-lip gap, or the mouth's width.

    The velocity error is the mean squared error of the frame-to-frame
    change; 1 - r is averaged over the sequences whose gap moves (still crops,
    such as the non-speech clips, have no timing to follow and would divide
    by zero). Both are 0 for a perfect prediction."""
    import torch

    mv = m[:, 1:] * m[:, :-1]
    dv = (gp[:, 1:] - gp[:, :-1]) - (gy[:, 1:] - gy[:, :-1])
    vel = (dv ** 2 * mv).sum() / mv.sum().clamp(min=1)
    k = m.sum(1).clamp(min=1)[:, None]
    a = (gp - (gp * m).sum(1, keepdim=True) / k) * m
    b = (gy - (gy * m).sum(1, keepdim=True) / k) * m
    va, vb = (a * a).sum(1), (b * b).sum(1)
    moving = (m.sum(1) >= 10) & (vb / k[:, 0] > 1e-3)
    if not moving.any():
        return vel, gp.new_zeros(())
    r = (a * b).sum(1) / torch.sqrt(va * vb + 1e-8)
    return vel, (1 - r[moving]).mean()


def shape_loss(net, x, y, open_weight: float = 20.0, vel_weight: float = 0.0, corr_weight: float = 0.0,
               width_weight: float = 0.0):
    """Training loss of a shape model on features `x` (B, T + r - 1, F) and normalised shapes `y` (B, T, 2P)
    (NaN rows = unknown): squared error of every point, plus the inner-lip gap's, weighted `open_weight`.

    Squared error alone rewards a damped mouth that is roughly right on
    average; what a viewer (and r) reads is *when* the lips part and close.
    `vel_weight` adds the squared error of the gap's frame-to-frame change
    (opening and closing speed), `corr_weight` adds 1 - r of the gap within
    each crop that moves (scale-free: only the timing counts), and `width_weight` the same 1 - r for the
    mouth's corner-to-corner width (spread "ee" against rounded "oo"; the point error alone left v3's width
    following the filmed one at r 0.40 on dev, v2's `wide` - `round` at 0.56)."""
    import torch

    m = torch.isfinite(y).all(-1).float()
    y = torch.nan_to_num(y)
    pred = net.shape_mean + net(x)[..., :net.shape_basis.shape[0]] @ net.shape_basis
    P, Y = pred.view(*pred.shape[:2], -1, 2), y.view(*y.shape[:2], -1, 2)
    up, lo = list(L.UPPER_ROWS), list(L.LOWER_ROWS)
    n = m.sum().clamp(min=1)
    points = (((pred - y) ** 2).mean(-1) * m).sum() / n
    gp = (P[:, :, lo, 1] - P[:, :, up, 1]).mean(-1)
    gy = (Y[:, :, lo, 1] - Y[:, :, up, 1]).mean(-1)
    loss = points * 15 + open_weight * (((gp - gy) ** 2 * m).sum() / n)
    if vel_weight or corr_weight:
        vel, corr = timing_terms(gp, gy, m)
        loss = loss + vel_weight * vel + corr_weight * corr
    if width_weight:
        left, right = L.CORNER_ROWS
        wp = P[:, :, right, 0] - P[:, :, left, 0]
        wy = Y[:, :, right, 0] - Y[:, :, left, 0]
        loss = loss + width_weight * timing_terms(wp, wy, m)[1]
    return loss


def calibrate_rest(model: Audio2Motion, feats: Features) -> float:
    """Make digital silence decode to the rest shape: the shape the network gives 3 s of zeros (normalised)
    is taken out of `shape_mean`. Returns the largest offset removed (units of the opening range)."""
    import torch

    pcs = model.predict_features(feats(np.zeros(3 * 16000, np.float32), "silence-3s"))[:, :model.config.shape_components]
    rest = np.median(model.decode_shape(pcs, normalised=True), 0).reshape(-1)
    with torch.no_grad():
        model.net.shape_mean -= torch.from_numpy(rest.astype(np.float32))
    return float(np.abs(rest).max())


def phone_data(args, feats: Features):
    """The synthetic corpus of the v2 model (`training.data`: many voices and languages, targets from the
    phoneme path), heard through v3's front end: (features (T, F) float16, channel targets (T, 7), starts),
    cached in `--cache`."""
    from . import whisper_data as W
    from .data import sample_specs

    if feats.kind != "whisper":
        # The corpus's targets are on the Whisper states' 50 Hz clock; log-mel frames run at 100 Hz.
        raise SystemExit("--phones needs --features whisper")
    path = args.cache / f"phones-{feats.kind}-{args.phones}-{args.seed}.npz"
    if path.exists():
        x, y, _, starts = W.load(path)
        return x, y, starts
    print(f"phones: speaking {args.phones} synthetic examples", flush=True)
    data = W.synthetic(sample_specs(args.phones, args.seed, piper_share=0.4), feats.f, args.seed, workers=2,
                       label="phones")
    W.save(path, data)
    return data[0], data[1], data[3]


def phone_batch(phones, n: int, crop: int, cfg, rng):
    """`n` random crops of the synthetic corpus: features (n, crop + r - 1, F) and targets (n, crop, 7), the
    targets aligned with the frames the network outputs for those features."""
    x, y, _ = phones
    r, la = cfg.receptive_field, cfg.lookahead
    starts = rng.integers(0, x.shape[0] - crop - r, size=n)
    xs = np.stack([x[a:a + crop + r - 1] for a in starts]).astype(np.float32)
    ys = np.stack([y[a + r - 1 - la:a + r - 1 - la + crop] for a in starts]).astype(np.float32)
    return xs, ys


def _fit(net, cfg, feats, padded, p, dev_c, cv_c, rng, args, sil, phones=None, phone_rng=None):
    """Train one network; returns (its state at the best dev checkpoint, the log). With `phones` (the
    synthetic corpus, `phone_data`) a second head on the same trunk learns the phoneme path's channels
    from it (weight `--phone-weight`); the head is used only in training."""
    import torch

    from .audio2motion import WEIGHTS  # the v2 model's channel weights, for the same targets

    model = Audio2Motion(cfg, net)
    model.features = feats.f
    r, crop = cfg.receptive_field, args.crop
    params = list(net.parameters())
    head = None
    if phones is not None:
        head = torch.nn.Conv1d(cfg.width, phones[1].shape[1], 1)
        params += list(head.parameters())
        channel_w = torch.tensor([WEIGHTS[k] for k in OUTPUTS], dtype=torch.float32)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    warm = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(   # linear warm-up, then cosine decay to 5 %
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(1.0, s / args.steps)))))
    log, best, best_state = [], -9.0, None
    losses = []
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        net.train()
        xs, ys = [], []
        for i in rng.choice(len(padded), size=args.batch, p=p):
            f, y, _ = padded[i]
            n = min(crop, y.shape[0])
            a = int(rng.integers(0, y.shape[0] - n + 1))
            x = f[a:a + n + r - 1]
            yy = y[a:a + n]
            if n < crop:   # short sequences: pad targets as unknown, features with silence
                x = np.concatenate([x, np.repeat(sil[None], crop - n, 0)])
                yy = np.concatenate([yy, np.full((crop - n, yy.shape[1]), np.nan, np.float32)])
            xs.append(x)
            ys.append(yy)
        x = torch.from_numpy(np.stack(xs))
        y = torch.from_numpy(np.stack(ys))
        if args.loudness_jitter:   # level changes the log-mel part: shift it by a random gain per crop
            g = torch.empty(x.shape[0], 1, 1).uniform_(-args.loudness_jitter, args.loudness_jitter)
            x = x.clone()
            x[:, :, -64:] += g
        loss = shape_loss(net, x, y, args.open_weight, args.vel_weight, args.corr_weight, args.width_weight)
        if head is not None:
            px, py = phone_batch(phones, args.batch, crop, cfg, phone_rng)
            pred = head(net.trunk(torch.from_numpy(px))).transpose(1, 2)
            loss = loss + args.phone_weight * ((pred - torch.from_numpy(py)).abs() * channel_w).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % args.eval_every == 0 or step == args.steps:
            net.eval()
            dev = dev_scores(model, dev_c + cv_c, feats)
            score = selection_score(dev)
            entry = {"step": step, "loss": float(np.mean(losses[-args.eval_every:])), "dev_r": dev, "dev_mean": score,
                     "seconds": round(time.perf_counter() - t0, 1)}
            log.append(entry)
            print(json.dumps(entry), flush=True)
            if score > best:
                best = score
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return best_state, log


def fold(cfg: Audio2MotionConfig, states: list[dict]):
    """One network of width `len(states) * cfg.width` that computes the mean of the members' outputs.

    The members are placed side by side: the input layer stacks their
    channels, every block's convolutions are block-diagonal (member i's
    channels only ever see member i's), and the output layer averages. The
    members share the feature normalisation and the shape basis (the same
    data made them), so the result is exactly the ensemble mean, loadable by
    the ordinary `Audio2Motion` code; it costs `len(states)` squared times
    the network's compute (a few ms per second of audio for two or three).
    """
    import dataclasses

    import torch

    n, w = len(states), cfg.width
    wide = dataclasses.replace(cfg, width=n * w)
    net = build_network(wide)
    out = {}
    for k, v in net.state_dict().items():
        parts = [s[k] for s in states]
        if k.startswith("inp."):
            out[k] = torch.cat(parts, 0)
        elif k.startswith("blocks.") and k.endswith(".weight"):
            z = torch.zeros_like(v)
            for i, part in enumerate(parts):
                z[i * w:(i + 1) * w, i * w:(i + 1) * w] = part
            out[k] = z
        elif k.startswith("blocks."):
            out[k] = torch.cat(parts, 0)
        elif k == "out.weight":
            out[k] = torch.cat(parts, 1) / n
        elif k in ("out.bias", "shape_mean"):
            out[k] = torch.stack(parts).mean(0)
        else:   # feature normalisation, shape basis and limits: the same in every member
            out[k] = parts[0]
    net.load_state_dict(out)
    return wide, net


def train(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    clips = load_clips(args.footage, args.cache, ("train", "dev"))
    train_c = [c for c in clips if SPLITS[c.stem][1] == "train" and c.speaker not in args.cv]
    dev_c = [c for c in clips if SPLITS[c.stem][1] == "dev"]
    # Cross-validation: training speakers left out of this run and scored beside dev, never selected on.
    cv_c = [c for c in clips if c.speaker in args.cv]
    norms = {s: L.speaker_norm([c.points for c in train_c + dev_c + cv_c if c.speaker == s])
             for s in sorted({c.speaker for c in clips})}
    pop_range = float(np.median([norms[s].range for s in {c.speaker for c in train_c}]))
    if args.no_speaker_norm:   # ablation: one range for everyone (offsets in IOD, scaled by a constant)
        norms = {s: L.SpeakerNorm(n.neutral, pop_range) for s, n in norms.items()}
    mean, basis, coef_std, explained = fit_basis(train_c, norms, args.components)
    dw = np.concatenate([L.width(L.normalised(c.points, norms[c.speaker])) for c in train_c])
    dw = dw[np.isfinite(dw)]
    wide_range = (float(-np.percentile(dw, 5)), float(np.percentile(dw, 95)))

    cfg = Audio2MotionConfig(features=args.features, width=args.width, kernel=3, dilations=tuple(args.dilations),
                             lookahead=args.lookahead,
                             outputs=tuple(f"pc{i}" for i in range(args.components)) + ("level",),
                             shape_points=lm.MOUTH_SHAPE, shape_range=pop_range, wide_range=wide_range,
                             shape_gain=args.gain, dropout=args.dropout)
    feats = Features(args.features, args.cache)
    rate = cfg.frame_rate
    t0 = time.perf_counter()
    seqs = build_data(train_c, norms, feats, rate, args.copies, args.seed, args.non_speech, speed=not args.no_speed)
    for c in dev_c:
        feats(c.audio, f"{c.stem}-clean")
    t_data = time.perf_counter() - t0
    print(f"data: {len(seqs)} sequences, {sum(s[0].shape[0] for s in seqs) / rate:.0f} s, {t_data:.0f} s to make",
          flush=True)

    allf = np.concatenate([s[0] for s in seqs])
    fmean, fstd = allf.mean(0), allf.std(0) + 1e-3
    del allf
    sil = feats.f.silence()
    r, la = cfg.receptive_field, cfg.lookahead
    # Each sequence padded with the silence frame as inference pads it.
    padded = [(np.concatenate([np.repeat(sil[None], r - 1 - la, 0), f, np.repeat(sil[None], la, 0)]), y, n)
              for f, y, n in seqs]
    lengths = np.array([y.shape[0] for _, y, _ in padded], float)
    speech = np.array([not n.startswith("nonspeech") for _, _, n in padded])
    p = np.where(speech, lengths, 0.0)
    p = p / p.sum() * (1 - args.non_speech_share)
    if (~speech).any():
        p[~speech] = args.non_speech_share / (~speech).sum()
    p = p / p.sum()

    def fresh(member: int):
        # Member 0 draws exactly what a single model always drew (the same seed), so `--members 1`
        # reproduces the earlier weights; the others start from seeds of their own.
        torch.manual_seed(args.seed if member == 0 else args.seed * 1000 + member)
        net = build_network(cfg)
        net.feature_mean.copy_(torch.from_numpy(fmean))
        net.feature_std.copy_(torch.from_numpy(fstd))
        net.shape_mean.copy_(torch.from_numpy(mean))
        net.shape_basis.copy_(torch.from_numpy(basis))
        net.coef_limit.copy_(torch.from_numpy(4 * coef_std))
        return net

    phone_members = args.members if args.phone_members is None else args.phone_members
    if not 0 <= phone_members <= args.members:
        raise SystemExit(f"--phone-members {phone_members}: must be between 0 and --members ({args.members})")
    phones = phone_data(args, feats) if args.phones and phone_members else None
    states, logs = [], []
    t0 = time.perf_counter()
    for member in range(args.members):
        net = fresh(member)
        rng = np.random.default_rng(args.seed if member == 0 else [args.seed, member])
        # The synthetic crops have numpy draws of their own, so the real crops are those a run without them
        # draws (dropout and loudness jitter, from torch's generator, are not).
        hears_phones = phones is not None and member >= args.members - phone_members
        state, log = _fit(net, cfg, feats, padded, p, dev_c, cv_c, rng, args, sil, phones if hears_phones else None,
                          np.random.default_rng([args.seed, 7919, member]))
        states.append(state)
        logs.append(log)
    if args.members == 1:
        net = fresh(0)
        net.load_state_dict(states[0])
        final_cfg = cfg
    else:
        final_cfg, net = fold(cfg, states)
    net.eval()
    model = Audio2Motion(final_cfg, net)
    model.features = feats.f
    log = logs[0] if args.members == 1 else [{"member": i, **e} for i, lg in enumerate(logs) for e in lg]
    final_dev = dev_scores(model, dev_c + cv_c, feats)
    best = selection_score(final_dev)
    print(json.dumps({"final_dev_r": final_dev, "dev_mean": best}), flush=True)
    # The rest: digital silence already decodes to it through the level gate (`Audio2Motion.split_cues`), and
    # pauses in speech were taught as closed lips. Moving the whole output so that 3 s of digital zeros -- an
    # input no training clip holds -- decodes to rest shifted closed lips by 0.17-0.25 of the opening range,
    # to lips pressed into each other (dev, rendered: r 0.604 -> 0.630 without it); `--rest silence` keeps it.
    rest = calibrate_rest(model, feats) if args.rest == "silence" else 0.0
    n_params = sum(p.numel() for p in net.parameters())
    meta = {
        "command": "python -m avatarkit.training.audio2motion_v3 " + " ".join(sys.argv[1:]),
        "seed": args.seed,
        "data": {
            "train": sorted(c.stem for c in train_c), "dev": sorted(c.stem for c in dev_c),
            "cross_validation_left_out": sorted(c.stem for c in cv_c),
            "held_out_never_read": list(HELD_OUT),
            "train_seconds": round(sum(c.audio.size for c in train_c) / 16000, 1),
            "copies": args.copies, "non_speech_clips": args.non_speech, "speed": not args.no_speed,
            "speaker_norm": not args.no_speaker_norm,
            "speaker_ranges_iod": {s: round(n.range, 4) for s, n in norms.items()},
        },
        "basis": {"components": args.components, "explained_variance": round(explained, 4)},
        "rest_calibration": args.rest, "rest_calibration_max": round(rest, 4),
        "parameters": n_params,
        "steps": args.steps, "batch": args.batch, "crop_frames": args.crop, "lr": args.lr,
        "members": args.members,
        "loss": {"open_weight": args.open_weight, "vel_weight": args.vel_weight, "corr_weight": args.corr_weight,
                 "width_weight": args.width_weight, "phone_weight": args.phone_weight if phones else 0.0},
        "phones": {"examples": args.phones if phones else 0,
                   "hours": round(len(phones[0]) / rate / 3600, 3) if phones else 0.0,
                   "members": phone_members if phones else 0},
        "best_step": [max(lg, key=lambda e: e["dev_mean"])["step"] for lg in logs],
        "dev_r_best": best,
        "dev_r": final_dev,
        "log": log,
        "seconds": {"data": round(t_data, 1), "total": round(time.perf_counter() - t_start, 1)},
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    model.save_pretrained(args.out, meta)
    return meta


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--footage", type=Path, default=Path(__file__).resolve().parents[3] / "shared/media/talking")
    p.add_argument("--cache", type=Path, default=Path("build/a2m3"))
    p.add_argument("--features", default="whisper", choices=("whisper", "logmel"))
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--dilations", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 1])
    p.add_argument("--lookahead", type=int, default=6)
    p.add_argument("--components", type=int, default=12)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--gain", type=float, default=1.0,
                   help="gain on the decoded motion at inference (chosen on the dev speakers' rendered mouths)")
    p.add_argument("--copies", type=int, default=15, help="degraded copies of each training clip (0: clean only)")
    p.add_argument("--no-speed", action="store_true", help="no tape-speed changes in the copies")
    p.add_argument("--no-speaker-norm", action="store_true", help="one mouth range for every speaker")
    p.add_argument("--non-speech", type=int, default=16, help="clips where nobody speaks")
    p.add_argument("--non-speech-share", type=float, default=0.08)
    p.add_argument("--loudness-jitter", type=float, default=1.0, help="random log-mel offset per crop (nats)")
    p.add_argument("--steps", type=int, default=900)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=100)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--open-weight", type=float, default=20.0)
    p.add_argument("--vel-weight", type=float, default=0.0, help="weight of the opening's frame-to-frame change")
    p.add_argument("--corr-weight", type=float, default=1.0, help="weight of 1 - r of the opening per crop")
    p.add_argument("--width-weight", type=float, default=0.0, help="weight of 1 - r of the mouth's width per crop")
    p.add_argument("--phones", type=int, default=0,
                   help="synthetic examples (v2's corpus) whose phoneme-path channels a training head learns")
    p.add_argument("--phone-weight", type=float, default=1.0, help="weight of the synthetic channels' loss")
    p.add_argument("--phone-members", type=int, default=None,
                   help="with --phones: how many members (the last ones) learn from them (default: all)")
    p.add_argument("--rest", default="none", choices=("none", "silence"),
                   help="silence: shift the output so that digital silence decodes to rest (the earlier recipe)")
    p.add_argument("--cv", nargs="*", default=[],
                   help="training speakers to leave out and score beside dev (cross-validating a choice)")
    p.add_argument("--members", type=int, default=2,
                   help="networks trained from different seeds and folded into one that averages them")
    p.add_argument("--eval-every", type=int, default=150)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    meta = train(args)
    print(json.dumps({k: meta[k] for k in ("dev_r_best", "best_step", "parameters", "seconds")}))


if __name__ == "__main__":
    main()
