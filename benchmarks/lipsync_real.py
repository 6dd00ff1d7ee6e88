"""Lip sync against filmed mouths: every method on real talking faces, split by speaker.

    python benchmarks/lipsync_real.py                      # held-out test speakers (../shared/media/talking)
    python benchmarks/lipsync_real.py --split dev          # the dev speakers (used for choices while training)
    python benchmarks/lipsync_real.py --model avatarkit/models/audio2motion-logmel --methods learned

Runs `avatarkit eval lipsync` (`avatarkit.eval.evaluate`) on the clips of
one split of `avatarkit.training.real.SPLITS`: each clip's first frame is
re-animated from its own sound by each method and MediaPipe measures both.
Prints a Markdown table (frame-weighted over clips: r, r minus `still`'s r,
LMD, offset in frames, jitter as a multiple of the real video's) and the
per-clip r, and writes `benchmarks/results/lipsync_real_<split>[_<tag>].json`.
The test speakers are never used for training or for any choice.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_FOOTAGE = ROOT.parent / "shared" / "media" / "talking"


def table(report) -> str:
    overall = report.overall()
    still = overall.get("still")
    real_j = report.real_jitter()
    lines = ["| method | r ↑ | r − still | LMD ↓ | offset (frames) | jitter (× real) |", "| --- | --- | --- | --- | --- | --- |"]
    for name, s in overall.items():
        if s.unavailable:
            lines.append(f"| {name} | n/a ({s.unavailable}) | | | | |")
            continue
        gain = f"{s.pearson - still.pearson:+.3f}" if still and name != "still" and not still.unavailable else ""
        off = f"{s.offset:+.0f}" if s.offset == s.offset and name not in ("still", "shuffled") else "–"
        lines.append(f"| {name} | {s.pearson:.3f} | {gain} | {s.lmd:.4f} | {off} | {s.jitter / real_j:.2f} |")
    lines.append(f"| real video | | | | | 1.00 ({real_j:.4f}) |")
    return "\n".join(lines)


def main() -> None:
    from avatarkit.eval.lipsync import evaluate
    from avatarkit.training.real import clips_in

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE, help="folder of the talking-face clips")
    ap.add_argument("--split", default="test", choices=["train", "dev", "test"])
    ap.add_argument("--methods", default="learned,words,phoneme,loudness,still,shuffled")
    ap.add_argument("--model", type=Path, default=None, help="Audio2Motion folder for `learned` (default: shipped)")
    ap.add_argument("--tag", default="", help="suffix of the results file")
    args = ap.parse_args()
    if not args.footage.is_dir():
        sys.exit(f"{args.footage}: no such folder; pass --footage with the talking-face clips")
    paths = clips_in(args.footage, args.split)
    print(f"{len(paths)} {args.split} clips: {', '.join(p.name for p in paths)}", file=sys.stderr, flush=True)
    report = evaluate(paths, args.methods.split(","), model_path=args.model,
                      progress=lambda ev: print(f"\r{ev.video.name}: {ev.stage} {ev.done}/{ev.total}   ",
                                                end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    out = ROOT / "benchmarks" / "results" / f"lipsync_real_{args.split}{'_' + args.tag if args.tag else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    data["model"] = str(args.model) if args.model else "shipped"
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(table(report))
    print()
    names = list(report.overall())
    print("| clip | seconds | transcript | " + " | ".join(names) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in names) + " |")
    for v in report.videos:
        r = [f"{v.methods[n].pearson:.2f}" if n in v.methods and not v.methods[n].unavailable else "–" for n in names]
        print(f"| {v.path.name} | {v.seconds:.1f} | {v.transcript or ''} | " + " | ".join(r) + " |")
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
