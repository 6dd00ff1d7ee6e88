"""The render against its floor: the whole render and an encode-only pass of the same frames, side by side.

    python benchmarks/floor.py                    # the 60 s script at 720p25 and 1080p25
    python benchmarks/floor.py --long             # also the 10 min script at 720p25
    python benchmarks/floor.py --voice en-us-joe  # with another voice (default: the script language's default)

Each case renders `benchmarks/run.py`'s generated script in a child process
(so the whole process is timed: start-up, imports, model loads, speech,
drawing, encoding, muxing) and keeps the MP4. The MP4's frames are then
decoded in blocks and encoded again with libx264 at exactly the pipeline's
settings (`media.segments.SegmentWriter`: preset, CRF, threads, x264
parameters); only the encoding is timed. The ratio whole / encode-only is the
figure to quote: 1.0 would mean drawing, speech and everything else cost
nothing beside the encoder. Absolute seconds depend on the CPU, which is
named in the output. Writes benchmarks/results/floor.json (floor_<voice>.json
with --voice). Kokoro phrases come from the speech cache once spoken, so
only a case whose script has not been rendered before pays for its speech
(delete `~/.avatarkit/cache/speech` to measure a first render).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def save_results(name: str, data: dict) -> Path:
    """Write a benchmark's figures as JSON to benchmarks/results/<name> (a folder git ignores)."""
    out = ROOT / "benchmarks" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1))
    return out


def render_child(seconds: float, resolution: str, voice: str | None, out: Path) -> None:
    """In the child: render the generated script into `out` and print the result's figures as JSON."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from run import make_script

    import avatarkit

    script = make_script(seconds, resolution, out / "bench.yaml", voice or "en-us-joe")
    if voice is None:  # the language's default voice: drop the line that names one
        text = script.read_text().replace("  voice: en-us-joe\n", "")
        script.write_text(text)
    r = avatarkit.render(script, out_dir=out)
    print(json.dumps({"video": str(r.video), "video_s": r.duration, "frames": r.frames, "render_wall_s": r.wall_s,
                      "stages_s": r.timings}))


def encode_only(video: Path, block: int = 100) -> dict:
    """Time libx264 alone on `video`'s frames, at the pipeline's settings (decoding is not timed)."""
    import av

    from avatarkit.media.segments import SegmentWriter

    with tempfile.TemporaryDirectory() as tmp, av.open(str(video)) as c:
        s = c.streams.video[0]
        w, h, fps = s.codec_context.width, s.codec_context.height, int(round(float(s.average_rate)))
        # In the caller's thread (ahead=0), so the timed blocks hold all of the encoding and nothing else.
        writer = SegmentWriter(Path(tmp) / "floor.mp4", w, h, fps, ahead=0)
        spent, cpu, frames, buf = 0.0, 0.0, 0, []

        def flush() -> float:
            nonlocal cpu
            t, c = time.perf_counter(), time.process_time()
            for f in buf:
                writer.write_frame(f)
            buf.clear()
            cpu += time.process_time() - c
            return time.perf_counter() - t

        for frame in c.decode(video=0):
            buf.append(frame.to_ndarray(format="rgb24"))
            frames += 1
            if len(buf) == block:
                spent += flush()
        spent += flush()
        t, c = time.perf_counter(), time.process_time()
        writer.close()
        spent += time.perf_counter() - t
        cpu += time.process_time() - c
        size = (Path(tmp) / "floor.mp4").stat().st_size
    return {"encode_s": round(spent, 2), "encode_cpu_s": round(cpu, 2), "frames": frames,
            "encode_mib": round(size / 2**20, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--long", action="store_true", help="also the 10 min script at 720p")
    ap.add_argument("--voice", help="voice id (default: the script language's default voice)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        render_child(float(args.child[0]), args.child[1], args.voice, Path(args.child[2]))
        return
    cases = [(60, "1280x720"), (60, "1920x1080")] + ([(600, "1280x720")] if args.long else [])
    rows = []
    for seconds, res in cases:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"rendering {seconds} s at {res} ...", file=sys.stderr, flush=True)
            cmd = [sys.executable, __file__, "--child", str(seconds), res, tmp] + \
                (["--voice", args.voice] if args.voice else [])
            t, c = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            p = subprocess.run(cmd, capture_output=True, text=True, check=False)
            whole = time.perf_counter() - t
            c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            whole_cpu = c1.ru_utime - c.ru_utime + c1.ru_stime - c.ru_stime
            if p.returncode:
                sys.exit(f"render {seconds} s {res} failed:\n{p.stderr[-3000:]}")
            r = json.loads(p.stdout.strip().splitlines()[-1])
            enc = encode_only(Path(r["video"]))
        dur = r["video_s"]
        row = {"case": f"{seconds} s {res}", "cpu": cpu_name(), "voice": args.voice or "language default",
               "video_s": round(dur, 2), "whole_process_s": round(whole, 2), "render_wall_s": round(r["render_wall_s"], 2),
               "whole_cpu_s": round(whole_cpu, 2), **enc, "ratio_whole_to_encode": round(whole / enc["encode_s"], 2),
               "whole_per_video_s": round(whole / dur, 3), "encode_per_video_s": round(enc["encode_s"] / dur, 3),
               "stages_per_video_s": {k: round(v / dur, 3) for k, v in r["stages_s"].items()}}
        rows.append(row)
        print(f"{row['case']:>14}: whole {row['whole_per_video_s']:.3f} s/s ({whole_cpu / whole:.2f} cores), "
              f"encode-only {row['encode_per_video_s']:.3f} s/s ({enc['encode_cpu_s'] / enc['encode_s']:.2f} cores), "
              f"ratio {row['ratio_whole_to_encode']:.2f}x  stages {row['stages_per_video_s']}", flush=True)
    print(f"CPU: {cpu_name()}")
    save_results(f"floor_{args.voice}.json" if args.voice else "floor.json", {"rows": rows})


if __name__ == "__main__":
    main()
