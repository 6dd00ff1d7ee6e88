"""Start-up: seconds from the `avatarkit render` command to its first frame, cold and warm.

    python benchmarks/startup.py                  # samples/welcome.yaml with its voice, and with the default voice
    python benchmarks/startup.py --runs 5

Each run starts the real command line (`avatarkit render SCRIPT -o TMP`) as
a child process and watches its work folder: the first part's segment file
appears when the first frame has been drawn and handed to the encoder. The
first run of a case starts with an empty `$AVATARKIT_HOME` cache
(`cache/rigs`, `cache/speech`) and is reported as cold (the operating
system's file cache stays warm, so model files are read from memory); the
rest are warm: the figure to quote is their median. Writes
benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from floor import cpu_name, save_results  # noqa: E402

AVATARKIT = Path(sys.executable).with_name("avatarkit")


def first_frame(script: Path, home: Path) -> tuple[float, float]:
    """Seconds to the first frame and to the end of one `avatarkit render` of `script`."""
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        p = subprocess.Popen([str(AVATARKIT), "render", str(script), "-o", out],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "AVATARKIT_HOME": str(home)})
        first = None
        while p.poll() is None:
            if first is None and any(Path(out).glob(".*.parts/.part-*.mp4.partial")):
                first = time.perf_counter() - t0
            time.sleep(0.004)
        total = time.perf_counter() - t0
        if p.returncode:
            sys.exit(f"avatarkit render {script} failed:\n{p.stderr.read().decode()[-2000:]}")
    return (first if first is not None else total), total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=4, help="runs per case (the first is cold)")
    args = ap.parse_args()
    sample = ROOT / "samples" / "welcome.yaml"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        default_voice = tmp / "welcome-default-voice.yaml"
        text = sample.read_text(encoding="utf-8").replace("avatar: avatar.png", f"avatar: {ROOT / 'samples' / 'avatar.png'}")
        default_voice.write_text("\n".join(ln for ln in text.splitlines() if not ln.strip().startswith("voice:")) + "\n")
        for name, script in (("welcome.yaml (en-us-joe, Piper)", sample),
                             ("welcome.yaml, language default (en-us-heart, Kokoro)", default_voice)):
            home = tmp / "home"
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir()
            # Kokoro's joined model is a cache of registry packages, not of this render: keep it out of "cold".
            kokoro = Path(os.environ.get("AVATARKIT_HOME", Path.home() / ".avatarkit")) / "cache" / "kokoro"
            if kokoro.is_dir():
                (home / "cache").mkdir()
                os.symlink(kokoro, home / "cache" / "kokoro")
            runs = [first_frame(script, home) for _ in range(args.runs)]
            warm = [f for f, _ in runs[1:]]
            row = {"case": name, "cold_first_frame_s": round(runs[0][0], 2),
                   "warm_first_frame_s": round(statistics.median(warm), 2) if warm else None,
                   "warm_runs_s": [round(f, 2) for f in warm], "total_s": [round(t, 2) for _, t in runs]}
            rows.append(row)
            print(f"{name}: first frame cold {row['cold_first_frame_s']:.2f} s, warm {row['warm_first_frame_s']} s "
                  f"(runs {row['warm_runs_s']}); whole render {row['total_s']}", flush=True)
    print(f"CPU: {cpu_name()}")
    save_results("startup.json", {"cpu": cpu_name(), "rows": rows})


if __name__ == "__main__":
    main()
