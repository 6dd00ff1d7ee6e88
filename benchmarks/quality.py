"""Lip-sync quality: the learned audio-to-motion model against the phoneme path and two baselines.

    python benchmarks/fetch_real_speech.py               # once: real recordings + transcripts
    python benchmarks/quality.py                         # both sets, writes benchmarks/results/quality_*.json
    python benchmarks/quality.py --tts 4 --real none     # a quick run

Two sets of reference videos are made, then scored by the evaluation
harness (`avatarkit eval lipsync`) exactly as real talking-face videos are:

* `tts`: held-out synthetic speech (eSpeak NG voices in languages and voice
  variants the model never saw in training). The reference mouth motion is
  the phoneme path on the exact phoneme times: the model's ground truth.
* `real`: real recordings with transcripts (see `fetch_real_speech.py`).
  No lawfully usable talking-face video with sound could be found offline,
  so the reference is a stand-in: the phoneme path on the transcript
  aligned to the recording by DTW (`avatarkit.speech.align`).

Each reference video is the sample avatar animated by that reference
motion, with the recording as its soundtrack (AI-generated). The harness
re-animates its first frame from the audio alone with each method.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FPS = 25
SR = 48_000
METHODS = ("learned", "loudness", "still", "shuffled")


def reference_video(utt, out: Path) -> Path:
    """The sample avatar speaking `utt` (48 kHz, phones timed) with the phoneme path, as an MP4."""
    from avatarkit.face.rig import load_avatar
    from avatarkit.media.writer import VideoWriter
    from avatarkit.motion.animate import PhonemeMotion
    from avatarkit.render.base import make_renderer

    spf = SR // FPS
    pad = (-utt.num_samples) % spf
    utt = utt.padded(0, pad)
    track = PhonemeMotion().animate(utt, fps=FPS)
    rig = load_avatar(ROOT / "samples" / "avatar.png")
    bound = make_renderer("warp").bind(rig)
    h, w = rig.image.shape[:2]
    with VideoWriter(out, w - w % 2, h - h % 2, FPS, SR, title="lip-sync reference") as vw:
        vw.write_audio(np.clip(utt.audio, -1, 1))
        for i in range(len(track)):
            f = bound.render_frame(track.frame(i))
            img = rig.image.copy()
            x0, y0, x1, y1 = f.box
            img[y0:y1, x0:x1] = f.rgb
            vw.write_frame(np.ascontiguousarray(img[: h - h % 2, : w - w % 2]))
    return out


def tts_set(n: int, folder: Path) -> list[Path]:
    from avatarkit.training.data import sample_specs, speak

    paths = []
    for k, spec in enumerate(sample_specs(n, seed=20261126, held_out=True)):
        utt = speak(spec).resampled(SR)
        lead = np.zeros(SR // 2, np.float32)
        utt = utt.padded(lead.size, lead.size)
        name = f"tts{k:02d}-{spec.language}-{spec.variant or 'default'}.mp4"
        if (folder / name).exists():
            paths.append(folder / name)
            continue
        paths.append(reference_video(utt, folder / name))
        print(f"  reference {name}", file=sys.stderr, flush=True)
    return paths


def real_set(src: Path, folder: Path, max_seconds: float) -> list[Path]:
    from avatarkit.audio.io import load_audio
    from avatarkit.speech.align import align

    paths = []
    for wav in sorted(src.glob("*.wav")):
        text = wav.with_suffix(".txt").read_text().strip()
        audio = load_audio(wav, SR)
        if audio.size > max_seconds * SR:
            continue
        if (folder / f"{wav.stem}.mp4").exists():
            paths.append(folder / f"{wav.stem}.mp4")
            continue
        audio = np.concatenate([np.zeros(SR // 2, np.float32), audio, np.zeros(SR // 2, np.float32)])
        utt = align(audio, SR, text, "en-us-joe")
        paths.append(reference_video(utt, folder / f"{wav.stem}.mp4"))
        print(f"  reference {wav.stem} ({audio.size / SR:.1f} s)", file=sys.stderr, flush=True)
    return paths


def score(paths: list[Path], label: str, model: str | None = None) -> dict:
    from avatarkit.eval.lipsync import evaluate

    report = evaluate(paths, methods=METHODS, model_path=model, max_seconds=120)
    print(f"\n{label}\n" + report.table(), flush=True)
    out = report.to_dict()
    out["set"] = label
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tts", type=int, default=12, help="held-out synthetic clips (0: skip)")
    ap.add_argument("--real", default=str(ROOT / "benchmarks" / "real_speech"),
                    help="folder of <name>.wav + <name>.txt ('none': skip)")
    ap.add_argument("--max-seconds", type=float, default=80.0, help="skip longer recordings")
    ap.add_argument("--work", help="keep the reference videos here and reuse them (default: a temporary folder)")
    ap.add_argument("--references-only", action="store_true", help="make the reference videos, score nothing")
    ap.add_argument("--model", help="audio-to-motion model folder to score (default: the shipped one)")
    ap.add_argument("--tag", default="", help="suffix of the result files, e.g. a model name")
    args = ap.parse_args()
    res = ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        if args.tts:
            d = work / "tts"
            d.mkdir(parents=True, exist_ok=True)
            paths = tts_set(args.tts, d)
            if not args.references_only:
                out = score(paths, "held-out TTS (unseen languages / voices)", args.model)
                (res / f"quality_tts{args.tag}.json").write_text(json.dumps(out, indent=1))
        if args.real != "none":
            src = Path(args.real)
            if not any(src.glob("*.wav")):
                sys.exit(f"no recordings in {src}: run benchmarks/fetch_real_speech.py first")
            d = work / "real"
            d.mkdir(parents=True, exist_ok=True)
            paths = real_set(src, d, args.max_seconds)
            if not args.references_only:
                out = score(paths, "real speech (reference: aligned phoneme path)", args.model)
                (res / f"quality_real{args.tag}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
