"""How well a voice's word times match its own audio, measured against Piper's exact alignments.

    python benchmarks/voice_timing.py                         # kokoro:af_heart and kokoro:am_michael
    python benchmarks/voice_timing.py --voice kokoro:bf_emma

Piper's phone times are the sample counts its decoder expanded, so they are
exact for its audio. Each test sentence is spoken by Piper `en-us-joe` and by
the voice under test; `speech.align.align` (the DTW over log-mel frames that
places a transcript on a recording) carries each word start the voice
reports onto Piper's audio, where it is compared with Piper's start of the
same word. Reported: the median and mean
signed error (ms; negative = the voice says a word starts before it is heard)
and the share of words within 50 ms and 100 ms. eSpeak `en-espeak`, whose
times are also exact (its synthesiser's own sample counter), is run the same
way first: its error is the floor of the method (DTW across two different
voices). Writes benchmarks/results/voice_timing.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SENTENCES = [
    "First, keep every receipt, even the small ones from taxis and coffee shops.",
    "Then submit your report within thirty days, and always use the Expenses app.",
    "Managers approve reports every Monday morning before nine o'clock.",
    "If a receipt is lost, write a short note that explains what you bought and why.",
    "Travel booked through the portal is paid directly, so it never appears on your report.",
    "Questions about a refund go to the finance team, who answer within two working days.",
    "Remember that alcohol, fines and personal gifts can never be claimed back.",
    "Thank you for watching, and good luck with your next business trip.",
]


def measure(voice: str, reference: str = "en-us-joe") -> dict:
    from avatarkit.speech.align import align
    from avatarkit.speech.engines.base import make_engine
    from avatarkit.speech.utterance import Token
    from avatarkit.speech.voice import get_voice

    ref, test = make_engine(get_voice(reference)), make_engine(get_voice(voice))
    errors = []
    for s in SENTENCES:
        tokens = [Token(w) for w in s.split()]
        r, t = ref.synthesize(tokens), test.synthesize(tokens)
        mapped = {w.index: w.start / r.sample_rate for w in align(r.audio, r.sample_rate, t).words}
        for w in r.words[1:]:  # the first word's start is where both begin: DTW pins it
            if w.index in mapped:
                errors.append(mapped[w.index] - w.start / r.sample_rate)
    e = np.array(errors) * 1000
    return {"voice": voice, "reference": reference, "words": int(e.size),
            "median_ms": round(float(np.median(e)), 1), "mean_ms": round(float(e.mean()), 1),
            "mae_ms": round(float(np.abs(e).mean()), 1),
            "within_50ms": round(float(np.mean(np.abs(e) <= 50)), 3),
            "within_100ms": round(float(np.mean(np.abs(e) <= 100)), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--voice", nargs="*", default=["kokoro:af_heart", "kokoro:am_michael"])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "voice_timing.json")
    args = ap.parse_args()
    rows = [measure("en-espeak")] + [measure(v) for v in args.voice]
    for r in rows:
        print(f"{r['voice']:22s} words {r['words']:3d}  median {r['median_ms']:+6.1f} ms  mean {r['mean_ms']:+6.1f}  "
              f"MAE {r['mae_ms']:5.1f}  ≤50 ms {r['within_50ms']:.0%}  ≤100 ms {r['within_100ms']:.0%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
