"""Train the sync judge (`avatarkit.eval.sync`) on the shared real footage, on CPU in minutes.

    python -m avatarkit.training.syncjudge --out avatarkit/models/syncjudge --seed 0

Every clip of `--footage` (default `../shared/media/talking`) is read with
`eval.clips.read_clip` (MediaPipe landmarks, mouth crops, audio with
sample 0 at frame 0) and cached under `--cache`. Clips are split by
speaker: `HELD_OUT` speakers are never trained on and are where the judge
is scored. A batch holds `--segments` runs of `--length` consecutive frames
from random training clips; every video window is compared with the audio
windows of its own clip at offsets -15..+15 frames and with every other
segment's audio. The aligned audio is the one right answer (softmax
cross-entropy over the candidates); same-clip offsets of 1 and 2 frames are
left out (they share most of the window). Augmentation: brightness and
contrast, small shifts and zoom of the crops, audio gain (free, the features
are mean-normalised per clip) and noise added to the waveform.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..audio.features import LogMel
from ..eval import sync as S

DEFAULT_FOOTAGE = Path(__file__).resolve().parents[2].parent / "shared" / "media" / "talking"
# Held-out speakers, as elsewhere in the project: one file stem prefix each.
HELD_OUT = ("usgov_WDA_KatieHill_000", "usgov_RD_Radio34_000", "grid_brbk7n", "cremad_1001")
EXTENSIONS = (".mp4", ".mpg", ".flv", ".mov", ".mkv", ".webm", ".avi")
NEAR = 2   # same-clip offsets 1..NEAR are neither positive nor negative


def split_of(stem: str) -> str:
    return "test" if stem.startswith(HELD_OUT) else "train"


def footage(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in EXTENSIONS)


def load_clip(path: Path, cache: Path | None) -> dict:
    """Mouth crops (N, 48, 96) uint8, log-mel (T, 64) and fps of one clip (cached as .npz)."""
    from ..eval.clips import read_clip

    f = cache / f"{path.stem}.npz" if cache else None
    if f is not None and f.is_file():
        z = np.load(f)
        return {"name": path.name, "mouths": z["mouths"], "audio": z["audio"], "fps": float(z["fps"])}
    clip = read_clip(path, 60.0, keep_mouths=True)
    d = {"name": path.name, "mouths": clip.mouths, "audio": clip.audio, "fps": clip.fps}
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(f, mouths=clip.mouths, audio=clip.audio, fps=clip.fps)
    return d


def _augment_crops(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Same random brightness/contrast, shift and zoom for all frames of a segment: x (T, H, W) uint8."""
    import cv2

    h, w = x.shape[1:]
    s = 1.0 + rng.uniform(-0.08, 0.08)
    m = np.array([[s, 0, (1 - s) * w / 2 + rng.uniform(-4, 4)], [0, s, (1 - s) * h / 2 + rng.uniform(-3, 3)]])
    out = np.stack([cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REPLICATE) for f in x]).astype(np.float32)
    out = out * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30)
    return np.clip(out, 0, 255).astype(np.uint8) * (x.reshape(len(x), -1).any(1)[:, None, None])


def _segment(rng, clip, length, augment):
    """(video windows (L, 5, H, W), audio windows (L + 30, 1, 64, 20), valid (L,)) for a random run of a clip."""
    n = len(clip["mouths"])
    start = int(rng.integers(0, max(1, n - length + 1)))
    centres = np.arange(start, start + length)
    crops = clip["mouths"]
    face = crops.reshape(n, -1).any(1)
    valid = np.array([c < n and face[max(0, c - 2): c + 3].all() for c in centres])
    centres = np.minimum(centres, n - 1)
    lo, hi = max(0, start - 2), min(n, start + length + 2)
    part = crops[lo:hi]
    if augment:
        part = _augment_crops(rng, part)
    v = S.video_windows(part, centres - lo)
    frames = np.arange(start - S.MAX_OFFSET, start + length + S.MAX_OFFSET)
    times = (frames + 0.5) / clip["fps"]
    mel = clip["mel"]
    if augment and rng.random() < 0.7:
        # Noise on the waveform of just the part the windows reach, levelled like the whole clean clip.
        a0 = max(0, int((times[0] - 0.2) * S.SAMPLE_RATE)) // 160 * 160
        a1 = int((times[-1] + 0.2) * S.SAMPLE_RATE)
        part = clip["audio"][a0:a1]
        rms = float(np.sqrt(np.mean(clip["audio"] ** 2)) + 1e-6)
        part = part + rng.normal(0, rms * 10 ** (-rng.uniform(10, 30) / 20), part.shape).astype(np.float32)
        mel = mel.copy()
        seg = S.log_mel(part, clip["ref"])
        mel[a0 // 160: a0 // 160 + len(seg)] = seg[: max(0, len(mel) - a0 // 160)]
    a = S.audio_windows(mel, times)
    return v, a, valid


def batch(rng, clips, segments, length, augment=True):
    import torch

    picks = rng.choice(len(clips), size=segments, replace=len(clips) < segments,
                       p=_weights(clips))
    vs, as_, ok = zip(*(_segment(rng, clips[i], length, augment) for i in picks))
    return (torch.from_numpy(np.concatenate(vs)), torch.from_numpy(np.concatenate(as_)),
            torch.from_numpy(np.concatenate(ok)), picks)


def _weights(clips):
    n = np.array([len(c["mouths"]) for c in clips], np.float64)
    w = np.sqrt(n)   # long clips are drawn more often, but not in proportion
    return w / w.sum()


def loss_fn(net, v, a, ok, segments, length, picks):
    """Softmax cross-entropy: each video window against every audio window in the batch."""
    import torch

    ev, ea = net.video(v), net.audio(a)
    logits = net.logit_scale.clamp(1, 50) * ev @ ea.T          # (S*L, S*(L+30))
    span = length + 2 * S.MAX_OFFSET
    seg_v = torch.arange(segments).repeat_interleave(length)
    pos_v = torch.arange(length).repeat(segments)
    seg_a = torch.arange(segments).repeat_interleave(span)
    pos_a = torch.arange(span).repeat(segments) - S.MAX_OFFSET
    picks = torch.as_tensor(picks)
    same_clip = picks[seg_v][:, None] == picks[seg_a][None, :]
    same_seg = seg_v[:, None] == seg_a[None, :]
    lag = pos_a[None, :] - pos_v[:, None]
    # Other segments of the same clip may overlap in time: use only the aligned segment's audio from that clip.
    mask = (same_seg & (lag.abs() >= 1) & (lag.abs() <= NEAR)) | (same_clip & ~same_seg)
    logits = logits.masked_fill(mask, -1e4)
    target = seg_v * span + pos_v + S.MAX_OFFSET
    ce = torch.nn.functional.cross_entropy(logits[ok], target[ok])
    acc = (logits[ok].argmax(1) == target[ok]).float().mean()
    return ce, float(acc)


def evaluate(net, clips, shift=0) -> list[dict]:
    """Judge each clip (its audio moved `shift` frames later)."""
    out = []
    for c in clips:
        audio = c["audio"]
        k = round(shift / c["fps"] * S.SAMPLE_RATE)
        if k > 0:
            audio = np.concatenate([np.zeros(k, np.float32), audio])[: len(audio)]
        r = S.judge(c["mouths"], audio, c["fps"], model=net)
        out.append({"clip": c["name"], "offset": r.offset_frames, "confidence": round(r.confidence, 4),
                    "windows": r.windows})
    return out


def main(argv: list[str] | None = None) -> int:
    import torch

    p = argparse.ArgumentParser(prog="python -m avatarkit.training.syncjudge", description=__doc__.split("\n")[0])
    p.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE)
    p.add_argument("--out", type=Path, default=Path("avatarkit/models/syncjudge"))
    p.add_argument("--cache", type=Path, default=Path("build/syncjudge-cache"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--minutes", type=float, default=10.0, help="stop after this long even before --steps")
    p.add_argument("--segments", type=int, default=8)
    p.add_argument("--length", type=int, default=24)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--limit", type=int, default=0, help="use only this many clips per split (smoke tests)")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    paths = footage(a.footage)
    train_p = [x for x in paths if split_of(x.stem) == "train"]
    test_p = [x for x in paths if split_of(x.stem) == "test"]
    if a.limit:
        train_p, test_p = train_p[: a.limit], test_p[: a.limit]
    t0 = time.perf_counter()
    train = [load_clip(x, a.cache) for x in train_p]
    test = [load_clip(x, a.cache) for x in test_p]
    for c in train + test:
        c["mel"] = S.log_mel(c["audio"])
        c["ref"] = S.mel_reference(LogMel()(c["audio"])) if len(c["audio"]) else 0.0
    print(f"data: {len(train)} train clips ({sum(len(c['mouths']) for c in train)} frames), "
          f"{len(test)} held out, {time.perf_counter() - t0:.0f} s", flush=True)
    net = S.build_network(S.SyncConfig())
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=a.steps, pct_start=0.1)
    t1 = time.perf_counter()
    step, accs = 0, []
    while step < a.steps and time.perf_counter() - t1 < a.minutes * 60:
        net.train()
        v, au, ok, picks = batch(rng, train, a.segments, a.length)
        if not ok.any():
            continue
        loss, acc = loss_fn(net, v, au, ok, a.segments, a.length, picks)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        accs.append(acc)
        if step % 50 == 0 or step == 1:
            print(f"step {step} loss {float(loss.detach()):.3f} acc {np.mean(accs[-50:]):.3f} "
                  f"{time.perf_counter() - t1:.0f} s", flush=True)
    seconds = time.perf_counter() - t1
    net.eval()
    held = evaluate(net, test)
    shifted = evaluate(net, test, shift=5)
    params = sum(x.numel() for x in net.parameters())
    meta = {"command": "python -m avatarkit.training.syncjudge " + " ".join(sys.argv[1:] if argv is None else argv),
            "seed": a.seed, "steps": step, "seconds": round(seconds, 1), "parameters": params,
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
            "data": {"footage": "../shared/media/talking (see its SOURCES.md; GRID CC BY 4.0, CREMA-D ODbL/DbCL, "
                                "US government video presumed public domain)",
                     "train": [c["name"] for c in train], "held_out": [c["name"] for c in test],
                     "held_out_speakers": list(HELD_OUT)},
            "held_out": held, "held_out_audio_late_5": shifted}
    S.save(net, a.out, meta)
    print(json.dumps({"held_out": held, "audio_late_5": shifted}, indent=1))
    print(f"saved {a.out} ({params} parameters, {step} steps, {seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
