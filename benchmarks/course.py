"""A course in five languages, rendered and packaged: speed per language and per format.

    python benchmarks/course.py            # samples/course.yaml at 720p, every language, then every package format

Figures: seconds of compute per second of video for each language's render
(each language has its own length, since each runs on its own audio), the
time to package all languages in each format, and the time of a rerun
that finds every language up to date. Results go to
benchmarks/results/course.json.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from avatarkit.export import FORMATS
    from avatarkit.pipeline.course import export_course, render_course

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for f in ("course.yaml", "course.translations.yaml", "avatar.png"):
            shutil.copy(ROOT / "samples" / f, d / f)
        t0 = time.perf_counter()
        results = render_course(d / "course.yaml", d / "renders", cache=False)     # timed: never from the cache
        render_s = time.perf_counter() - t0
        langs = {lang: {"video_s": round(r.duration, 2), "wall_per_video_s": round(r.wall_s / r.duration, 3),
                        "stages_per_video_s": {k: round(v / r.duration, 4) for k, v in r.timings.items()}}
                 for lang, r in results.items()}
        t0 = time.perf_counter()
        render_course(d / "course.yaml", d / "renders", cache=False)
        rerun_s = time.perf_counter() - t0
        packages = {}
        for fmt in FORMATS:
            out = d / ("web" if fmt == "html" else f"course-{fmt}.zip")
            t0 = time.perf_counter()
            export_course(d / "course.yaml", out, format=fmt, renders=d / "renders", cache=False)
            size = sum(p.stat().st_size for p in out.rglob("*")) if out.is_dir() else out.stat().st_size
            packages[fmt] = {"seconds": round(time.perf_counter() - t0, 3), "mib": round(size / 2**20, 2)}
    row = {"languages": langs, "render_all_s": round(render_s, 1), "rerun_up_to_date_s": round(rerun_s, 2),
           "packages": packages}
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "course.json").write_text(json.dumps(row, indent=2))
    print(f"{'language':>8} {'video s':>8} {'wall/s':>7}")
    for lang, r in langs.items():
        print(f"{lang:>8} {r['video_s']:>8.1f} {r['wall_per_video_s']:>7.3f}")
    print(f"all languages: {render_s:.1f} s; rerun with every language up to date: {rerun_s:.2f} s")
    for fmt, p in packages.items():
        print(f"{fmt:>10}: {p['seconds']:.3f} s, {p['mib']:.1f} MiB")


if __name__ == "__main__":
    main()
