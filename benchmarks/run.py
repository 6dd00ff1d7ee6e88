"""Speed and memory benchmark: render generated scripts and report per-stage cost.

    python benchmarks/run.py                 # 60 s at 720p25 and 1080p25, memory at 60 s and 10 min
    python benchmarks/run.py --quick         # 20 s at 720p25 only (a smoke run)
    python benchmarks/run.py --voices en-us-joe en-us-bella   # 60 s at 720p25 with each voice, and the ratio

Each case runs in its own process so its peak resident memory (ru_maxrss)
is its own. Figures are compute seconds per second of output video (lower
is better; 1.0 is real time). Stage times add up to more than the wall
time because speech for the next phrase is synthesised on a second thread.
Results are printed and written to benchmarks/results/<case>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = [
    "Welcome to this short course on working safely with customer data.",
    "In the next few minutes we will look at what counts as personal information.",
    "Names, email addresses and account numbers are all personal data.",
    "Before you share a file, ask yourself who really needs to see it.",
    "[nod] If you are unsure, the privacy team is always happy to help.",
    "Keep passwords in the company password manager, never in a spreadsheet.",
    "Lock your screen whenever you step away from your desk.",
    "*Phishing* emails often look urgent, and they often ask you to click a link.",
    "[pause 400ms] Take a moment, check the sender, and report anything odd.",
    "When a customer asks what we store about them, we answer within thirty days.",
    "Old records should be deleted on schedule, not kept just in case.",
    "[tilt] Thank you for taking the time to complete this module.",
]
WORDS_PER_S = 2.9


def make_script(seconds: float, resolution: str, path: Path, voice: str = "en-us-joe") -> Path:
    """Write a script of about `seconds` of speech, cycling scenes, layouts and backgrounds."""
    words_needed = int(seconds * WORDS_PER_S)
    segments, words, i = [], 0, 0
    while words < words_needed:
        s = SENTENCES[i % len(SENTENCES)]
        segments.append(s)
        words += len(s.split())
        i += 1
    scenes = []
    backgrounds = ["studio", '{kind: gradient, colors: ["#16324f", "#3d7ea6"]}', '"#2d3e50"', "photo"]
    for k in range(0, len(segments), 4):
        chunk = segments[k:k + 4]
        n = k // 4
        segs = "\n".join(f"      - text: {json.dumps(t)}" for t in chunk)
        scenes.append(f"  - id: s{n}\n    layout: {'pip' if n % 3 == 2 else 'full'}\n"
                      f"    background: {backgrounds[n % 4]}\n    segments:\n{segs}")
    path.write_text(textwrap.dedent(f"""\
        title: Benchmark {seconds:.0f} s
        defaults:
          avatar: {ROOT / 'samples' / 'avatar.png'}
          voice: {voice}
          resolution: {resolution}
          fps: 25
        scenes:
        """) + "\n".join(scenes) + "\n", encoding="utf-8")
    return path


def run_case(seconds: float, resolution: str, voice: str = "en-us-joe") -> dict:
    """Render one generated script in this process and return its figures."""
    import avatarkit

    with tempfile.TemporaryDirectory() as tmp:
        script = make_script(seconds, resolution, Path(tmp) / "bench.yaml", voice)
        samples: list[tuple[float, float]] = []
        page = resource.getpagesize()

        def progress(ev):
            # Current (not peak) resident memory as the render advances.
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * page / 2**20
            samples.append((ev.video_s, rss))

        result = avatarkit.render(script, out_dir=Path(tmp) / "out", progress=progress)
        size = result.video.stat().st_size
    dur = result.duration
    return {
        "resolution": resolution, "target_s": seconds, "voice": voice, "video_s": round(dur, 2),
        "frames": result.frames, "wall_s": round(result.wall_s, 2),
        "wall_per_video_s": round(result.wall_s / dur, 3),
        "stages_per_video_s": {k: round(v / dur, 4) for k, v in result.timings.items()},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "mp4_mib": round(size / 2**20, 2),
        # Resident memory after 10%, 50% and 100% of the video: flat means no growth with length.
        "rss_mib_at": {f"{int(q * 100)}%": round(next(r for t, r in samples if t >= q * samples[-1][0]), 1)
                       for q in (0.1, 0.5, 1.0)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one 20 s case at 720p")
    ap.add_argument("--voices", nargs="+", help="render 60 s at 720p once with each of these voices")
    ap.add_argument("--case", nargs=3, metavar=("SECONDS", "RESOLUTION", "VOICE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:  # child process
        print(json.dumps(run_case(float(args.case[0]), args.case[1], args.case[2])))
        return
    cases = [(20, "1280x720", "en-us-joe")] if args.quick else \
        [(60, "1280x720", v) for v in args.voices] if args.voices else \
        [(60, "1280x720", "en-us-joe"), (60, "1920x1080", "en-us-joe"), (600, "1280x720", "en-us-joe")]
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for seconds, res, voice in cases:
        print(f"rendering {seconds} s at {res} with {voice} ...", file=sys.stderr, flush=True)
        p = subprocess.run([sys.executable, __file__, "--case", str(seconds), res, voice],
                           capture_output=True, text=True, check=False)
        if p.returncode:
            sys.exit(f"case {seconds} s {res} failed:\n{p.stderr[-3000:]}")
        row = json.loads(p.stdout.strip().splitlines()[-1])
        rows.append(row)
        tag = f"_{voice}" if args.voices else ""
        (out_dir / f"{int(seconds)}s_{res}{tag}.json").write_text(json.dumps(row, indent=2))
    stages = list(rows[0]["stages_per_video_s"])
    head = f"{'case':>16} {'voice':>12} " \
        f"{'video s':>8} {'wall/s':>7} " + " ".join(f"{s:>8}" for s in stages) + f" {'peak MiB':>9}  RSS at 10/50/100%"
    print(head)
    for r in rows:
        rss = "/".join(f"{v:.0f}" for v in r["rss_mib_at"].values())
        print(f"{r['target_s']:>5.0f} s {r['resolution']:>9} {r['voice']:>12} {r['video_s']:>8.1f} {r['wall_per_video_s']:>7.3f} "
              + " ".join(f"{r['stages_per_video_s'].get(s, 0):>8.3f}" for s in stages) + f" {r['peak_rss_mib']:>9.0f}  {rss}")
    if args.voices and len(rows) > 1:
        for r in rows[1:]:
            print(f"{r['voice']}: {r['wall_per_video_s'] / rows[0]['wall_per_video_s']:.3f}x the wall time of "
                  f"{rows[0]['voice']} per second of video")


if __name__ == "__main__":
    main()
