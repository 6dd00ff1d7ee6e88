"""Speed of a branded course with slides and burned-in captions, per stage.

    python benchmarks/slides.py            # the sample deck at 720p 16:9, 1080p 16:9, 720p 9:16, and with drift
    python benchmarks/slides.py --quick    # 720p 16:9 only

The sample PowerPoint deck is turned into a script with `from_slides`
(re-laid-out slides: title, bullets revealed as spoken, a chart), repeated
to about a minute, and rendered with the sample brand kit (logo, intro and
outro cards, crossfades, music ducked under the speech) and captions burned
in. Each case runs in its own process. Figures are compute seconds per
second of video (1.0 = real time); stage times overlap because the next
phrase's speech is synthesised on a second thread. Results go to
benchmarks/results/slides_<case>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "720p_16x9": ((1280, 720), None),
    "1080p_16x9": ((1920, 1080), None),
    "720p_9x16": ((720, 1280), None),
    "720p_16x9_office_drift": ((1280, 720), "office"),
}


def run_case(name: str) -> dict:
    """Render the sample course for case `name` in this process and return its figures."""
    from avatarkit.compose.brand import load_brand
    from avatarkit.pipeline.core import render
    from avatarkit.script import load_script
    from avatarkit.script.model import Background
    from avatarkit.slides import from_slides

    size, drift = CASES[name]
    with tempfile.TemporaryDirectory() as tmp:
        yaml_path = from_slides(ROOT / "samples" / "deck.pptx", Path(tmp) / "course.yaml", voice="en-us-joe",
                                avatar=str(ROOT / "samples" / "avatar.png"))
        s = load_script(yaml_path)
        # Twice through the deck: about a minute of video.
        again = [dataclasses.replace(sc, id=f"{sc.id}b") for sc in s.scenes]
        scenes = s.scenes + again
        if drift:
            scenes = [dataclasses.replace(sc, background=Background(drift, (), True)) for sc in scenes]
        s = dataclasses.replace(s, scenes=scenes, resolution=size, captions=True)
        result = render(s, Path(tmp) / "out", brand=load_brand(ROOT / "samples" / "brand.yaml"))
        mp4 = result.video.stat().st_size
    dur = result.duration
    return {
        "case": name, "resolution": f"{size[0]}x{size[1]}", "video_s": round(dur, 2), "frames": result.frames,
        "wall_s": round(result.wall_s, 2), "wall_per_video_s": round(result.wall_s / dur, 3),
        "stages_per_video_s": {k: round(v / dur, 4) for k, v in result.timings.items()},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "mp4_mib": round(mp4 / 2**20, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="720p 16:9 only")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:  # child process
        print(json.dumps(run_case(args.case)))
        return
    names = ["720p_16x9"] if args.quick else list(CASES)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        print(f"rendering {name} ...", file=sys.stderr, flush=True)
        p = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True, text=True, check=False)
        if p.returncode:
            sys.exit(f"case {name} failed:\n{p.stderr[-3000:]}")
        row = json.loads(p.stdout.strip().splitlines()[-1])
        rows.append(row)
        (out_dir / f"slides_{name}.json").write_text(json.dumps(row, indent=2))
    stages = list(rows[0]["stages_per_video_s"])
    print(f"{'case':>24} {'video s':>8} {'wall/s':>7} " + " ".join(f"{s:>8}" for s in stages) + f" {'peak MiB':>9}")
    for r in rows:
        print(f"{r['case']:>24} {r['video_s']:>8.1f} {r['wall_per_video_s']:>7.3f} "
              + " ".join(f"{r['stages_per_video_s'][s]:>8.3f}" for s in stages) + f" {r['peak_rss_mib']:>9.0f}")


if __name__ == "__main__":
    main()
