"""Speed and memory of lip sync from a recording: the motion model alone and the whole render.

    python benchmarks/lipsync.py            # motion: 60 s and 60 min; lipsync render: 60 s at 720p25
    python benchmarks/lipsync.py --quick    # motion on 60 s only
    python benchmarks/lipsync.py --long     # also a 10-minute lipsync render (resident memory over time)

The narration is 60 s of Piper speech (en-us-joe), written as a 44.1 kHz
MP3 like a user's file; the 60-minute input is that narration repeated.
Each case runs in its own process so its peak resident memory is its own.
Figures are compute seconds per second of audio (1.0 = real time) per stage;
in the motion cases `features` is the front end (Whisper-base's encoder,
CTranslate2 int8 on 2 threads, and the log-mel bands) and `network` the
motion network (PyTorch on one thread). The target is 0.05 s per second of
audio on 2 cores. The lipsync render includes transcribing the recording for
its captions (`transcribe`).
Results are printed and written to benchmarks/results/lipsync_<case>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TEXT = ("Welcome to this short course on working safely with customer data. In the next few minutes "
        "we will look at what counts as personal information. Names, email addresses and account "
        "numbers are all personal data. Before you share a file, ask yourself who really needs to see it. "
        "If you are unsure, the privacy team is always happy to help. Keep passwords in the company "
        "password manager, never in a spreadsheet. Lock your screen whenever you step away from your desk. "
        "Phishing emails often look urgent, and they often ask you to click a link. Take a moment, check "
        "the sender, and report anything odd. When a customer asks what we store about them, we answer "
        "within thirty days. Old records should be deleted on schedule, not kept just in case.")


def make_narration(minutes: int, folder: Path) -> Path:
    """A `minutes`-long MP3 at 44.1 kHz stereo built from ~60 s of Piper speech."""
    from avatarkit.audio.features import resample
    from avatarkit.script import parse_text
    from avatarkit.script.model import Script
    from avatarkit.speech.engines.base import make_engine
    from avatarkit.speech.phrases import tokens_for
    from avatarkit.speech.voice import get_voice
    from tests.audiofiles import write_audio

    voice = get_voice("en-us-joe")
    eng = make_engine(voice)
    parts = []
    for ph in parse_text(TEXT):
        u = eng.synthesize(tokens_for(ph, Script("", []), "en"))
        parts += [u.audio, np.zeros(int(0.35 * u.sample_rate), np.float32)]
    x = resample(np.concatenate(parts), u.sample_rate, 44100)
    x = x[: 60 * 44100] if x.size > 60 * 44100 else np.pad(x, (0, 60 * 44100 - x.size))
    x = np.tile(x * 0.7, minutes)
    return write_audio(folder / f"narration_{minutes}min.mp3", np.stack([x, x], 1), 44100)


def motion_case(path: Path) -> dict:
    """Decode at 16 kHz, features, network, track at 25 fps, streamed in blocks."""
    import torch

    from avatarkit.audio.io import audio_info, stream_audio
    from avatarkit.motion.audio import AudioMotion

    torch.set_num_threads(1)
    motion = AudioMotion("learned")
    stream = motion.stream(25)
    decode = 0.0
    blocks = stream_audio(path, 16000, block=16000 * 4)
    n = frames = 0
    rss = []
    while True:
        t0 = time.perf_counter()
        b = next(blocks, None)
        decode += time.perf_counter() - t0
        if b is None:
            break
        n += b.size
        tr = stream.push(b)
        frames += len(tr) if tr is not None else 0
        if n % (16000 * 60) < b.size:
            rss.append(_rss())
    tr = stream.finish(-(-n * 25 // 16000))
    frames += len(tr) if tr is not None else 0
    audio_s = n / 16000
    t = {"decode": decode, **stream.timings}
    return {"case": f"motion_{audio_s / 60:.0f}min", "audio_s": round(audio_s, 1), "frames": frames,
            "duration_in_file_s": round(audio_info(path).duration, 1),
            "per_audio_s": {k: round(v / audio_s, 5) for k, v in t.items()},
            "total_per_audio_s": round(sum(t.values()) / audio_s, 5),
            "peak_rss_mib": _peak_mib(),
            "rss_mib_first_last_minute": [rss[0], rss[-1]] if rss else []}


def _peak_mib() -> float:
    # VmHWM starts afresh at exec; ru_maxrss would keep the parent's peak from before the fork.
    with open("/proc/self/status") as f:
        return round(next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024, 1)


def _rss() -> float:
    with open("/proc/self/statm") as f:
        return round(int(f.read().split()[1]) * resource.getpagesize() / 2**20, 1)


def lipsync_case(path: Path) -> dict:
    import avatarkit

    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        r = avatarkit.recordings.lipsync(ROOT / "samples" / "avatar.png", path, Path(tmp) / "talk.mp4",
                              progress=lambda ev: samples.append((ev.done_s, _rss())))
    return {"case": f"lipsync_720p25_{r.duration / 60:.0f}min", "video_s": round(r.duration, 2),
            "wall_per_video_s": round(r.wall_s / r.duration, 3),
            "stages_per_video_s": {k: round(v / r.duration, 4) for k, v in r.timings.items()},
            "peak_rss_mib": _peak_mib(),
            "rss_mib_at": {f"{int(q * 100)}%": next(m for t, m in samples if t >= q * samples[-1][0])
                           for q in (0.1, 0.5, 1.0)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--long", action="store_true", help="also render 10 min of lip sync (memory over time)")
    ap.add_argument("--case", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        kind, path = args.case
        print(json.dumps(motion_case(Path(path)) if kind == "motion" else lipsync_case(Path(path))))
        return
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        one = make_narration(1, Path(tmp))
        cases = [("motion", one)]
        if not args.quick:
            cases += [("motion", make_narration(60, Path(tmp))), ("lipsync", one)]
        if args.long:
            cases += [("lipsync", make_narration(10, Path(tmp)))]
        for kind, path in cases:
            print(f"{kind} on {path.name} ...", file=sys.stderr, flush=True)
            p = subprocess.run([sys.executable, __file__, "--case", kind, str(path)],
                               capture_output=True, text=True, check=False)
            if p.returncode:
                sys.exit(f"case {kind} {path.name} failed:\n{p.stderr[-3000:]}")
            row = json.loads(p.stdout.strip().splitlines()[-1])
            (out_dir / f"lipsync_{row['case']}.json").write_text(json.dumps(row, indent=2))
            print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
