"""One-shot dubbing speed and memory at 512 px, 720p and 1080p: seconds of compute per second of video.

    python benchmarks/dub_speed.py                       # 30 s of speech at each size
    python benchmarks/dub_speed.py --seconds 600 --sizes 720    # memory over a 10-minute dub

The material is an 8 s presenter clip of `../shared/media/talking`
(RD_Radio2, 512x512), scaled to the height of each size and padded to its
width (edge pixels repeated), so the face covers what it would in a
head-and-shoulders shot at that size. The new speech is the clip's own
sound repeated to `--seconds`. Each case runs `avatarkit.recordings.dub.dub` (the
footage renderer: preparation in memory, motion graph, jaw warp, own
mouths, encoding) in a child process, so start-up and model loads count, and
reports the wall time per second of output, the CPU seconds (all threads,
and the drawing thread alone: on a shared machine the wall time counts other
work too), the dub's seconds per stage, the output's bit rate and the
child's peak resident memory, overall and before the finished MP4 is signed
(C2PA signing reads the file whole). Writes
`benchmarks/results/dub_speed.json`. The outputs are AI-generated.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLIP = ROOT.parent / "shared" / "media" / "talking" / "usgov_RD_Radio2_000.mp4"
SIZES = {"512": (512, 512), "720": (1280, 720), "1080": (1920, 1080)}

CHILD = """
import json, os, resource, sys, time
import avatarkit.recordings.dub as D

def hwm_kb():
    return int(next(x for x in open("/proc/self/status") if x.startswith("VmHWM")).split()[1])

seen = {}
sign = D.sign_file

def signing(*a, **k):     # the peak before the finished MP4 is signed (C2PA reads the file whole)
    seen["kb"] = hwm_kb()
    return sign(*a, **k)

D.sign_file = signing
t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
r = D.dub(sys.argv[1], sys.argv[2], audio=sys.argv[3], captions=False)
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "main": time.thread_time() - m0,
                  "frames": r.frames, "fps": r.fps, "timings": r.timings, "renderer": r.renderer,
                  "bytes": os.path.getsize(sys.argv[2]), "before_sign_kb": seen.get("kb", 0),
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def material(size: tuple[int, int], out: Path) -> Path:
    """The clip scaled to the height of `size` and padded to its width, with its sound."""
    import cv2
    import numpy as np

    from avatarkit.audio.io import load_audio
    from avatarkit.face.footage import video_frames, video_info
    from avatarkit.media.writer import VideoWriter

    fps, _, _, _ = video_info(CLIP)
    w, h = size
    sound = load_audio(CLIP, 48_000)
    with VideoWriter(out, w, h, int(round(fps)), 48_000) as vw:
        for f in video_frames(CLIP):
            g = cv2.resize(f, (h * f.shape[1] // f.shape[0], h), interpolation=cv2.INTER_CUBIC)
            pad = w - g.shape[1]
            g = np.pad(g, ((0, 0), (pad // 2, pad - pad // 2), (0, 0)), mode="edge") if pad > 0 else g[:, :w]
            vw.write_frame(np.ascontiguousarray(g))
        vw.write_audio(sound.astype("float32"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="seconds of new speech (and of output)")
    ap.add_argument("--sizes", default="512,720,1080")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "dub_speed.json"))
    args = ap.parse_args()

    import numpy as np
    import soundfile as sf

    from avatarkit.audio.io import load_audio

    results = {"cpu": platform.processor() or platform.machine(), "seconds": args.seconds, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        speech = load_audio(CLIP, 48_000)
        reps = int(np.ceil(args.seconds * 48_000 / speech.size))
        sf.write(tmp / "speech.wav", np.tile(speech, reps)[: int(args.seconds * 48_000)], 48_000)
        for name in args.sizes.split(","):
            src = material(SIZES[name], tmp / f"clip{name}.mp4")
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-c", CHILD, str(src), str(tmp / f"dub{name}.mp4"),
                                str(tmp / "speech.wav")], capture_output=True, text=True, cwd=ROOT)
            wall = time.perf_counter() - t0
            if p.returncode:
                print(p.stderr[-2000:], file=sys.stderr)
                return 1
            r = json.loads(p.stdout.strip().splitlines()[-1])
            video_s = r["frames"] / r["fps"]
            case = {"size": SIZES[name], "video_s": video_s, "process_wall_s": wall,
                    "s_per_s": wall / video_s, "dub_s_per_s": r["wall"] / video_s,
                    "cpu_s_per_s": r["cpu"] / video_s, "main_thread_cpu_s_per_s": r["main"] / video_s,
                    "stages_s_per_s": {k: v / video_s for k, v in r["timings"].items()},
                    "mbit_per_s": r["bytes"] * 8 / video_s / 1e6,
                    "peak_rss_mb": r["peak_kb"] / 1024, "peak_rss_before_signing_mb": r["before_sign_kb"] / 1024,
                    "renderer": r["renderer"]}
            results["cases"][name] = case
            stages = "  ".join(f"{k} {v:.3f}" for k, v in case["stages_s_per_s"].items())
            # On a shared machine the wall time counts other processes' use of the cores too; the CPU
            # seconds (all threads, and the drawing thread alone) do not: on 2 idle cores the dub takes
            # about the larger of half the first and the second.
            print(f"{name:>5}: {video_s:6.1f} s of video, {case['s_per_s']:.2f} s/s whole process "
                  f"({case['dub_s_per_s']:.2f} in dub; CPU {case['cpu_s_per_s']:.2f} s/s, drawing thread "
                  f"{case['main_thread_cpu_s_per_s']:.2f}), {case['mbit_per_s']:.1f} Mbit/s, "
                  f"peak RSS {case['peak_rss_mb']:.0f} MB ({case['peak_rss_before_signing_mb']:.0f} before "
                  f"signing); per stage (s/s): {stages}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
