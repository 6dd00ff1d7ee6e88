"""Speed of dubbing with the diffusion renderer, per stage, as compute seconds per second of video.

Dubs the first `--seconds` of a trained avatar's footage (re-encoded to a
new file, so the landmark pass runs as it would on any new video) with
eSpeak speech of the same length, at each of `--steps`, and times the
model alone per frame at each crop size in `--sizes` (an untrained network
of the default architecture: speed does not depend on the weights).

    python benchmarks/diffusion.py --avatar franck --home /tmp/q4/home
    python benchmarks/diffusion.py --avatar franck --device cuda --sizes 128,256   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def cut_clip(src: Path, dst: Path, seconds: float) -> int:
    from avatarkit.face.footage import video_frames, video_info
    from avatarkit.media.writer import VideoWriter

    fps, w, h, _ = video_info(src)
    n = int(seconds * round(fps))
    with VideoWriter(dst, w, h, int(round(fps)), 48000, crf=18) as vw:
        for i, f in enumerate(video_frames(src)):
            if i >= n:
                break
            vw.write_frame(f)
        vw.write_audio(np.zeros(n * 48000 // int(round(fps)), np.float32))
    return n


def unet_speed(size: int, steps: int, batch: int, device: str, repeat: int = 3) -> float:
    """Seconds per frame of `steps` sampler steps at crop `size`, in batches of `batch`."""
    from avatarkit.models.mouth_diffusion import IN_CHANNELS, MouthDiffusion, MouthDiffusionConfig

    m = MouthDiffusion(MouthDiffusionConfig(size=size, steps=steps), device=device)
    m.unet.eval()
    cond = torch.rand((batch, IN_CHANNELS - 3, size, size), device=device)
    m.sample(cond)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeat):
        m.sample(cond)
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / (repeat * batch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--avatar", default=None, help="trained avatar to dub with (skip the dub timing if absent)")
    ap.add_argument("--home", default=None)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--steps", default="4,2,1")
    ap.add_argument("--sizes", default="128")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = [int(s) for s in args.steps.split(",")]
    out: dict = {"device": args.device, "threads": torch.get_num_threads(), "unet": {}, "dub": {}}
    if args.device == "cuda":
        out["gpu"] = torch.cuda.get_device_name(0)
    for size in (int(s) for s in args.sizes.split(",")):
        for st in steps:
            for batch in (1, 8) if args.device == "cpu" else (8, 32):
                spf = unet_speed(size, st, batch, args.device)
                out["unet"][f"{size}px/{st} steps/batch {batch}"] = round(spf * 1000, 1)
                print(f"model {size} px, {st} steps, batch {batch}: {spf * 1000:.1f} ms per frame", flush=True)
    if args.avatar:
        from avatarkit.face.avatar import open_avatar
        from avatarkit.recordings.dub import dub
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the tests' speech helper
        from tests.audiofiles import speech, write_audio

        a = open_avatar(args.avatar, args.home)
        with tempfile.TemporaryDirectory() as d:
            clip = Path(d) / "clip.mp4"
            n = cut_clip(a.footage, clip, args.seconds)
            audio, sr, _ = speech(int(args.seconds))
            audio = audio[: int(args.seconds * sr)]
            wav = write_audio(Path(d) / "speech.wav", audio, sr)
            for st in steps:
                r = dub(clip, Path(d) / f"dub{st}.mp4", audio=wav, avatar=a.folder, steps=st, device=args.device)
                per = {k: round(v / r.duration, 3) for k, v in r.timings.items()}
                out["dub"][f"{st} steps"] = {"s_per_s": round(r.wall_s / r.duration, 3), "stages_s_per_s": per,
                                             "fps": round(r.frames / r.wall_s, 1), "frames": r.frames,
                                             "size": r.frames and a.meta.get("model", {}).get("size")}
                print(f"dub {n} frames, {st} steps: {r.wall_s / r.duration:.3f} s/s ({r.frames / r.wall_s:.1f} fps); "
                      f"stages {per}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
