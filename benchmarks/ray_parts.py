"""The five-language sample course rendered here and as Ray tasks (one per scene and language): speed and identity.

    python benchmarks/ray_parts.py               # samples/course.yaml at 720p, every language
    python benchmarks/ray_parts.py --cpus 4      # a local Ray instance with 4 CPUs (default: all of this machine's)

Each executor runs in a fresh process (eSpeak NG's timing depends on
what its process synthesised before), from the same script, and the
videos are then compared frame by frame and sample by sample. Figures:
wall seconds per second of video for the whole course, Ray's start-up
time apart, how many parts became tasks, and the driver's own compute
(speech, transitions, join). Results go to benchmarks/results/ray_parts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUN = """
import json, sys, time
from avatarkit.pipeline.course import render_course
executor, cpus = sys.argv[3], int(sys.argv[4])
t0 = time.perf_counter()
if executor == "ray":
    import ray
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
start = time.perf_counter() - t0
t0 = time.perf_counter()
results = render_course(sys.argv[1], sys.argv[2], executor=executor, resolution=(1280, 720), cache=False)
wall = time.perf_counter() - t0
print(json.dumps({"start_s": start, "wall_s": wall, "video_s": sum(r.duration for r in results.values()),
                  "scenes": sum(len(r.scenes) for r in results.values()),
                  "driver_s": {k: sum(r.timings.get(k, 0.0) for r in results.values()) for k in ("speech", "encode")}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpus", type=int, default=os.cpu_count())
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from tests.audiofiles import decode_mp4

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for f in ("course.yaml", "course.translations.yaml", "avatar.png"):
            shutil.copy(ROOT / "samples" / f, d / f)
        for executor in ("local", "ray"):
            print(f"rendering with the {executor} executor ...", flush=True)
            p = subprocess.run([sys.executable, "-c", RUN, str(d / "course.yaml"), str(d / executor), executor,
                                str(args.cpus)], capture_output=True, text=True, check=True)
            out[executor] = json.loads(p.stdout.strip().splitlines()[-1])
        same = True
        for mp4 in sorted((d / "local").glob("*.mp4")):
            fa, aa = decode_mp4(mp4)
            fb, ab = decode_mp4(d / "ray" / mp4.name)
            same &= len(fa) == len(fb) and all(np.array_equal(x, y) for x, y in zip(fa, fb)) and np.array_equal(aa, ab)
    for r in out.values():
        r["wall_per_video_s"] = round(r["wall_s"] / r["video_s"], 3)
    out["identical"] = bool(same)
    out["cpus"] = args.cpus
    res = ROOT / "benchmarks" / "results"
    res.mkdir(exist_ok=True)
    (res / "ray_parts.json").write_text(json.dumps(out, indent=2))
    print(f"{'executor':>9} {'video s':>8} {'wall s':>7} {'wall/s':>7} {'start s':>8}")
    for ex in ("local", "ray"):
        r = out[ex]
        print(f"{ex:>9} {r['video_s']:8.1f} {r['wall_s']:7.1f} {r['wall_per_video_s']:7.3f} {r['start_s']:8.1f}")
    print(f"videos identical: {same}; Ray CPUs: {args.cpus}")


if __name__ == "__main__":
    main()
