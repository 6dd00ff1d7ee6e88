"""Build the mouth bank from filmed talking faces: `python -m avatarkit.mouthbank.build`.

Every frame of every clip in `--media` (default `../shared/media/talking`)
whose speaker is not held out (`HELD_OUT`) is measured with MediaPipe
FaceMesh (tracking mode, reset per clip); frames whose inner lips are open
by more than `--min-open` of the eye distance, and whose mouth is seen
nearly square on (its two corners' depth differs by less than a fifth of
the mouth width), are cut into the canonical crop by their inner-lip
corners (`corner_similarity`). Every `--step`-th kept frame becomes an
entry. The bank is written with `build.json` beside it (the command, the
seed, the clips, the counts and the size).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .bank import DEFAULT_PATH, HEIGHT, HELD_OUT, WIDTH, MouthBank
from .cut import mouth_entries

SEED = 0
VIDEO_EXT = (".mp4", ".mpg", ".flv", ".mov", ".mkv", ".avi", ".webm")


def measure_clip(path: Path, max_frames: int | None = None):
    from ..face.detect import reset_tracking, try_detect_landmarks
    from ..face.footage import video_frames

    reset_tracking()
    frames, marks = [], []
    for f in video_frames(path):
        if max_frames is not None and len(frames) >= max_frames:
            break
        p = try_detect_landmarks(np.ascontiguousarray(f))
        frames.append(f)
        marks.append(p if p is not None else np.full((478, 3), np.nan, np.float32))
    return frames, np.asarray(marks, np.float32)


def build(media: Path, out: Path, *, held_out=HELD_OUT, min_open: float = 0.06, step: int = 1, quality: int = 90,
          max_frames: int | None = None, clips: list[str] | None = None, log=print) -> MouthBank:
    paths = sorted(p for p in Path(media).iterdir() if p.suffix.lower() in VIDEO_EXT)
    paths = [p for p in paths if p.stem not in set(held_out) and (clips is None or p.stem in clips)]
    if not paths:
        raise SystemExit(f"{media}: no talking-face clips to build a mouth bank from")
    all_crops, all_shapes, all_clip, all_frame, names = [], [], [], [], []
    for p in paths:
        t0 = time.time()
        frames, marks = measure_clip(p, max_frames)
        crops, shapes, idx = mouth_entries(frames, marks, min_open)
        crops, shapes, idx = crops[::step], shapes[::step], idx[::step]
        if crops:
            names.append(p.stem)
            all_crops += crops
            all_shapes += shapes
            all_clip += [len(names) - 1] * len(crops)
            all_frame += idx
        log(f"{p.name}: {len(frames)} frames, {len(crops)} entries ({time.time() - t0:.1f} s)")
    meta = {"command": "python -m avatarkit.mouthbank.build " + " ".join(sys.argv[1:]) if __name__ == "__main__"
            else "avatarkit.mouthbank.build.build", "seed": SEED, "media": str(media), "held_out": list(held_out),
            "min_open": min_open, "step": step, "quality": quality, "size": [WIDTH, HEIGHT]}
    bank = MouthBank.from_entries(all_crops, all_shapes, all_clip, all_frame, names, quality, meta)
    bank.save(out)
    info = {**meta, "entries": len(bank), "clips": names, "bytes": out.stat().st_size,
            "entries_per_clip": {n: int((bank.clip == k).sum()) for k, n in enumerate(names)}}
    out.with_name("build.json").write_text(json.dumps(info, indent=2) + "\n")
    log(f"wrote {out}: {len(bank)} entries, {out.stat().st_size / 1e6:.2f} MB")
    return bank


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m avatarkit.mouthbank.build", description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=Path("../shared/media/talking"))
    ap.add_argument("--out", type=Path, default=DEFAULT_PATH)
    ap.add_argument("--min-open", type=float, default=0.06)
    ap.add_argument("--step", type=int, default=1)
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--max-frames", type=int, default=None)
    a = ap.parse_args(argv)
    build(a.media, a.out, min_open=a.min_open, step=a.step, quality=a.quality, max_frames=a.max_frames)


if __name__ == "__main__":
    main()
