"""Transcription: word error rate and compute per second of audio of `avatarkit.recordings.transcribe` (Whisper base, int8).

    python benchmarks/fetch_real_speech.py        # once: recordings with transcripts (benchmarks/real_speech/)
    python benchmarks/transcribe.py               # writes benchmarks/results/transcribe.json
    python benchmarks/transcribe.py --long 20     # also 20 minutes of narration: speed and memory over time

Sets, all real recordings with a known text:

* `talking`: the talking-face clips of ../shared/media/talking whose text
  is known (GRID's six-word commands, CREMA-D's "Don't forget a jacket"), as
  the lip-sync harness hears them, from the video files;
* `real_speech`: the Asterisk prompts, LibriVox excerpts and JFK excerpt of
  `fetch_real_speech.py`.

Words are compared after lower-casing, dropping punctuation and spelling
digits out ("F2" -> "f two"); WER is (substitutions + insertions +
deletions) / reference words, pooled over each set. Compute is the wall
time of `transcribe` (model already loaded) over the audio's length, on the
threads Whisper is given (2).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TALKING = ROOT.parent / "shared" / "media" / "talking"
KNOWN = {
    "grid_bbaf2n": "bin blue at f two now", "grid_brbk7n": "bin red by k seven now",
    "grid_id2_vcd_swwp2s": "set white with p two soon", "grid_lbax4n": "lay blue at x four now",
    "grid_lbbc2a": "lay blue by c two again", "grid_lrwp9a": "lay red with p nine again",
    "grid_pwij3p": "place white in j three please", "grid_sbia1a": "set blue in a one again",
    "grid_sbwe5n": "set blue with e five now",
    **{f"cremad_1001_DFA_{e}_XX": "don't forget a jacket" for e in ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")},
}
DIGITS = "zero one two three four five six seven eight nine".split()


def normalise(text: str) -> list[str]:
    t = text.lower().replace("’", "'")
    t = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", t)
    t = re.sub(r"\d", lambda m: f" {DIGITS[int(m.group())]} ", t)
    t = re.sub(r"[^\w' ]+", " ", t)
    return t.split()


def edits(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance between two sequences (words, or the characters of two strings)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row = row, [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (r != h))
    return row[-1]


def _rss_mib() -> float:
    import resource

    with open("/proc/self/statm") as f:
        return round(int(f.read().split()[1]) * resource.getpagesize() / 2**20, 1)


def long_case(minutes: int) -> dict:
    """`minutes` of narration (60 s of Piper speech repeated) transcribed in one call, resident memory sampled."""
    import tempfile

    from avatarkit.recordings.transcribe import transcribe
    from benchmarks.lipsync import make_narration

    with tempfile.TemporaryDirectory() as tmp:
        path = make_narration(minutes, Path(tmp))
        rss: list[tuple[float, float]] = []
        t0 = time.perf_counter()
        tr = transcribe(path, progress=lambda done, total: rss.append((done, _rss_mib())))
        dt = time.perf_counter() - t0
    return {"minutes": minutes, "words": len(tr.words), "language": tr.language,
            "compute_per_audio_s": round(dt / (minutes * 60), 3),
            "rss_mib_after_piece": [m for _, m in rss], "last_word_end_s": tr.words[-1].end if tr.words else None}


def main() -> None:
    import argparse

    from avatarkit.audio.io import audio_info
    from avatarkit.recordings.transcribe import transcribe
    from avatarkit.speech.whisper import get_whisper

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--long", type=int, default=0, help="also transcribe this many minutes of narration")
    args = ap.parse_args()
    get_whisper()
    sets = {"talking": [(p, KNOWN[p.stem]) for p in sorted(TALKING.glob("*")) if p.stem in KNOWN],
            "real_speech": [(p, p.with_suffix(".txt").read_text().strip())
                            for p in sorted((ROOT / "benchmarks" / "real_speech").glob("*.wav"))]}
    results = {}
    for name, items in sets.items():
        if not items:
            print(f"{name}: no recordings found, skipped", file=sys.stderr)
            continue
        errs = words = 0
        seconds = compute = 0.0
        rows = []
        for path, text in items:
            t0 = time.perf_counter()
            tr = transcribe(path)
            dt = time.perf_counter() - t0
            ref, hyp = normalise(text), normalise(tr.text)
            e = edits(ref, hyp)
            errs, words = errs + e, words + len(ref)
            dur = audio_info(path).duration
            seconds, compute = seconds + dur, compute + dt
            rows.append({"file": path.name, "seconds": round(dur, 2), "reference": text, "heard": tr.text,
                         "language": tr.language, "wer": round(e / max(len(ref), 1), 3)})
            print(f"{path.name}: {e}/{len(ref)} errors  heard {tr.text!r}", file=sys.stderr, flush=True)
        results[name] = {"recordings": len(items), "seconds": round(seconds, 1), "wer": round(errs / words, 4),
                         "compute_per_audio_s": round(compute / seconds, 3), "rows": rows}
        print(f"| {name} | {len(items)} | {seconds:.0f} s | {errs / words:.3f} | {compute / seconds:.3f} |")
    if args.long:
        results["long"] = long_case(args.long)
        print(json.dumps(results["long"]))
    out = ROOT / "benchmarks" / "results" / "transcribe.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
