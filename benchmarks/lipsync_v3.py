"""Audio2Motion v3 against v2 and the baselines on the held-out speakers, by group (issue 28).

    python benchmarks/lipsync_v3.py                      # rendered: avatarkit eval lipsync's own scoring
    python benchmarks/lipsync_v3.py --direct             # the models' own mouth opening, no rendering (fast)
    python benchmarks/lipsync_v3.py --direct --split dev --extra noaug=build/a2m3/abl-noaug
    python benchmarks/lipsync_v3.py --direct --split train --methods phoneme   # the phoneme path, from a transcript

Rendered (default): each held-out clip (`training.audio2motion_v3.HELD_OUT`)
goes through `eval.lipsync` (first frame re-animated from the audio by the
warp renderer, MediaPipe on every generated frame), with the methods
`learned:v3`, `learned:v2`, `loudness`, `still`, `shuffled` and any
`--extra name=model-folder`. Direct (`--direct`): the Pearson r between the
opening each model asks for (v3: the inner-lip gap of its shape; others:
the `jaw` channel; `phoneme`: the opening the renderers draw from the
phoneme path's channels, on the clip's Whisper transcript aligned to its
audio) and the filmed inner-lip gap, at the video frames; and, as
"<method> width" (not for `phoneme`), the same for the mouth's width (v3: its shape's
corner-to-corner distance; channel models: `wide` minus `round`) against
the filmed corner-to-corner distance (both in the face's axes), which says
whether a model spreads and rounds the lips when the speaker does.

Results are reported per clip and per group (GRID, presenters, long speech =
the 60 s clip, CREMA-D), frame-weighted, and over all held-out clips.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avatarkit.training.audio2motion_v3 import SPLITS, group_of, pearson  # noqa: E402

FOOTAGE = ROOT.parent / "shared/media/talking"
GROUP_ORDER = ("grid", "presenters", "long", "cremad")


def clips(split: str) -> list[Path]:
    return [p for p in sorted(FOOTAGE.iterdir()) if p.stem in SPLITS and SPLITS[p.stem][1] == split]


def direct(paths, methods: dict[str, str | None], cache: Path, degrade: int = 0, gate: str = "speech") -> dict:
    """{stem: {"frames", method: r}} of the requested opening against the filmed one; with `degrade` the
    audio is first degraded `degrade` ways by `training.augment.augment` (seeded) and r averaged. `gate`:
    what rests a shape model's mouth (`motion.audio.GATES`)."""
    from avatarkit.motion.audio import AudioMotion
    from avatarkit.training import lipshape as L

    models = {name: (PhonemeOpening(cache) if kind == "phoneme" else AudioMotion(kind, model_path=mp, gate=gate))
              for name, (kind, mp) in methods.items()}
    out = {}
    for p in paths:
        audio, fps, real = L.measure(p, cache / "measured")
        P = L.aligned_points(real)
        gap, span = L.opening(P), L.width(P)
        row = {"frames": int(np.isfinite(gap).sum()), "fps": fps}
        from avatarkit.training.augment import augment

        heard = [audio] if not degrade else [augment(audio, 16000, np.random.default_rng([99, k, len(p.stem)]))
                                             for k in range(degrade)]
        for name, m in models.items():
            if isinstance(m, PhonemeOpening):   # aligned to the clean recording: degrading it would only move the DTW
                row[name] = pearson(m.opening(p, audio, fps, P.shape[0]), gap)
                continue
            rs, ws = [], []
            for x in heard:
                tr = m.animate_audio(x, 16000, fps=int(round(fps)), frames=P.shape[0])
                if tr.shape is not None:
                    ask, wide = L.opening(tr.shape), L.width(tr.shape)
                else:
                    ask, wide = tr["jaw"], tr["wide"] - tr["round"]
                rs.append(pearson(np.asarray(ask, np.float64), gap))
                ws.append(pearson(np.asarray(wide, np.float64), span))
            row[name] = float(np.mean(rs))
            row[f"{name} width"] = float(np.mean(ws))
        out[p.stem] = row
        print(p.stem, {k: round(v, 3) for k, v in row.items() if k not in ("frames", "fps")}, flush=True)
    return out


class PhonemeOpening:
    """The `phoneme` path's opening on a clip: its Whisper transcript (cached as `<cache>/transcripts/<stem>.txt`)
    spoken by Piper, the phones carried onto the real audio by DTW (`eval.lipsync.PhonemeMethod`), and the
    opening the renderers draw from the channels, jaw x (1 - press) x (1 - 0.7 dental) (`face.deform`)."""

    def __init__(self, cache: Path):
        from avatarkit.eval.lipsync import PhonemeMethod

        self.folder = cache / "transcripts"
        self.method = PhonemeMethod()

    def text(self, stem: str, audio: np.ndarray) -> str:
        f = self.folder / f"{stem}.txt"
        if not f.exists():
            from avatarkit.speech.whisper import get_whisper

            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(get_whisper().transcribe([audio]).text.strip() + "\n", encoding="utf-8")
        return f.read_text(encoding="utf-8").strip()

    def opening(self, path: Path, audio: np.ndarray, fps: float, frames: int) -> np.ndarray:
        from avatarkit.eval.clips import Clip

        n = min(frames, int(audio.size / 16000 * fps))
        clip = Clip(path, fps, np.zeros((1, 1, 3), np.uint8), np.zeros((n, 1, 2)), audio[: int(n / fps * 16000)])
        tr = self.method.track(clip, self.text(path.stem, audio))
        out = np.full(frames, np.nan)
        out[:n] = tr["jaw"] * (1 - tr["press"]) * (1 - 0.7 * tr["dental"])
        return out


def rendered(paths, names: list[str], extra: dict[str, str], out_json: Path) -> dict:
    from avatarkit.eval.lipsync import _evaluate_video, load_methods
    from avatarkit.motion.audio import AudioMotion

    models = load_methods(names)
    for k, folder in extra.items():
        models[k] = AudioMotion("learned", model_path=folder)
    done = json.loads(out_json.read_text()) if out_json.exists() else {}
    for p in paths:
        if p.stem in done:
            continue
        t0 = time.perf_counter()
        v = _evaluate_video(p, models, 60.0, None, None)
        done[p.stem] = v.to_dict()
        out_json.write_text(json.dumps(done, indent=1))
        print(p.stem, f"{time.perf_counter() - t0:.0f} s",
              {m: round(s.pearson, 3) for m, s in v.methods.items()}, flush=True)
    return done


def _wmean(vals, weights):
    ok = [(v, w) for v, w in zip(vals, weights) if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(v * w for v, w in ok) / sum(w for _, w in ok) if ok else float("nan")


def summarise_rendered(done: dict) -> str:
    methods = list(next(iter(done.values()))["methods"])
    lines = ["| group | clips | frames | method | r ↑ | LMD ↓ | offset | sync conf (× real) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    groups = {g: [s for s in done if group_of(s) == g] for g in GROUP_ORDER}
    groups["all"] = list(done)
    for g, stems in groups.items():
        if not stems:
            continue
        fr = [done[s]["frames"] for s in stems]
        for m in methods:
            ms = [done[s]["methods"][m] for s in stems]
            r = _wmean([x["pearson"] for x in ms], [x["frames"] for x in ms])
            lmd = _wmean([x["lmd"] for x in ms], [x["frames"] for x in ms])
            off = _wmean([x["offset"] for x in ms], [x["frames"] for x in ms])
            ratio = _wmean([(x["sync_conf"] / done[s]["sync_conf"]) if x.get("sync_conf") is not None
                            and done[s].get("sync_conf") else None for s, x in zip(stems, ms)], fr)
            lines.append(f"| {g} | {len(stems)} | {sum(fr)} | {m} | {r:.3f} | {lmd:.4f} | {off:+.1f} | {ratio:.2f} |")
    lines.append("")
    lines.append("| clip | frames | " + " | ".join(methods) + " |")
    lines.append("| --- | --- | " + " | ".join("---" for _ in methods) + " |")
    for s, v in done.items():
        lines.append(f"| {s} | {v['frames']} | " + " | ".join(f"{v['methods'][m]['pearson']:.2f}" for m in methods) + " |")
    return "\n".join(lines)


def summarise_direct(res: dict) -> str:
    methods = [k for k in next(iter(res.values())) if k not in ("frames", "fps")]
    groups = {g: [s for s in res if group_of(s) == g] for g in GROUP_ORDER}
    groups["all"] = list(res)
    lines = ["| group | " + " | ".join(methods) + " |", "| --- | " + " | ".join("---" for _ in methods) + " |"]
    for g, stems in groups.items():
        if stems:
            lines.append(f"| {g} | " + " | ".join(
                f"{_wmean([res[s][m] for s in stems], [res[s]['frames'] for s in stems]):.3f}" for m in methods) + " |")
    for s, row in res.items():
        lines.append(f"| {s} | " + " | ".join(f"{row[m]:.2f}" for m in methods) + " |")
    return "\n".join(lines)


def speed(model: str, seconds: list[int], gate: str = "speech") -> list[dict]:
    """Compute per second of audio and peak memory, streaming `seconds` of tiled real speech in 1 s blocks."""
    import resource

    from avatarkit.motion.audio import AudioMotion
    from avatarkit.training import lipshape as L

    audio, _, _ = L.measure(FOOTAGE / "usgov_WDA_KatieHill_000.mp4", ROOT / "build/a2m3/measured")
    motion = AudioMotion("learned", model_path=model, gate=gate)
    rows = []
    for total in seconds:
        s = motion.stream(25)
        t0, n = time.perf_counter(), 0
        frames = 0
        while n < total * 16000:
            block = audio[(n % audio.size):(n % audio.size) + 16000]
            tr = s.push(block)
            frames += len(tr) if tr is not None else 0
            n += block.size
        tr = s.finish(int(n / 16000 * 25))
        frames += len(tr) if tr is not None else 0
        dt = time.perf_counter() - t0
        rows.append({"model": model, "gate": gate, "seconds": total, "compute_s_per_s": dt / total, "frames": frames,
                     "timings": {k: round(v / total, 4) for k, v in s.timings.items()},
                     "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="test", choices=("test", "dev", "train"),
                    help="train: v3's training speakers (for hand-set tables such as the visemes, never for a model)")
    ap.add_argument("--direct", action="store_true")
    ap.add_argument("--methods", default="learned:v3,learned:v2,loudness,still,shuffled")
    ap.add_argument("--extra", nargs="*", default=[], help="name=model-folder")
    ap.add_argument("--only", nargs="*", default=None, help="clip stems (default: the whole split)")
    ap.add_argument("--cache", type=Path, default=ROOT / "build/a2m3")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--degrade", type=int, default=0, help="--direct: score on this many degraded copies")
    ap.add_argument("--gate", default="speech", choices=("speech", "level"),
                    help="--direct and --speed: what rests a shape model's mouth (speech: the VAD; level: near-silence only)")
    ap.add_argument("--speed", nargs="*", type=int, default=None,
                    help="measure speed and memory streaming this many seconds (each) with --methods' models")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from avatarkit.speech import whisper as W

    W._SHARED["base"] = W.Whisper(threads=1)
    if a.speed is not None:
        for m in a.methods.split(","):
            speed(m.split(":")[1], a.speed or [60, 600], a.gate)
        return
    paths = [p for p in clips(a.split) if a.only is None or p.stem in a.only]
    extra = dict(e.split("=", 1) for e in a.extra)
    if a.direct:
        methods = {m: (("learned", m.split(":")[1]) if m.startswith("learned:") else (m, None))
                   for m in a.methods.split(",") if m != "shuffled"}
        methods.update({k: ("learned", v) for k, v in extra.items()})
        res = direct(paths, methods, a.cache, a.degrade, a.gate)
        text = summarise_direct(res)
        out = a.out or a.cache / f"direct-{a.split}{'-degraded' if a.degrade else ''}-{a.gate}.json"
        out.write_text(json.dumps(res, indent=1))
    else:
        out = a.out or a.cache / f"rendered-{a.split}.json"
        res = rendered(paths, a.methods.split(","), extra, out)
        text = summarise_rendered(res)
    print(text)
    out.with_suffix(".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
