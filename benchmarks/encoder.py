"""Encoder settings by measured quality: each x264 preset and CRF against the frames the pipeline draws.

    python benchmarks/encoder.py                       # 30 s of the benchmark script, 720p25 and 1080p25
    python benchmarks/encoder.py --seconds 60 --sizes 1280x720
    python benchmarks/encoder.py --presets veryfast superfast --crfs 20 21 22

The generated benchmark script (`benchmarks/run.py`) is rendered once per
size, losslessly (x264 at CRF 0, which is exact for 8-bit 4:2:0): those
frames are exactly what the encoder is given in a real render. Each
candidate then encodes them with the pipeline's own x264 parameters and
thread count (`media.segments`), in the caller's thread, timed; its output
is decoded and compared with the lossless frames: PSNR over Y, U and V
(weighted 6:1:1), PSNR of Y, SSIM of Y (every 5th frame) and the bitrate.
The rule that picks the setting: the fastest (encoder CPU seconds) whose
PSNR and SSIM are no lower than the current setting's, less the noise
(0.05 dB, 0.0005), and whose file is no larger. Writes
benchmarks/results/encoder.json and prints a table per size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from floor import cpu_name, save_results  # noqa: E402
from run import make_script  # noqa: E402

from avatarkit.media.segments import DEFAULT_CRF, DEFAULT_PRESET, ENCODER_THREADS, X264_PARAMS  # noqa: E402
from avatarkit.pipeline.core import Pipeline  # noqa: E402

PSNR_NOISE, SSIM_NOISE = 0.05, 0.0005


def planes(frame: av.VideoFrame) -> np.ndarray:
    """A yuv420p frame as one contiguous I420 array (height * 3 / 2, width)."""
    return frame.to_ndarray(format="yuv420p")


def reference(seconds: float, size: str, folder: Path, voice: str) -> Path:
    """Render the benchmark script losslessly; return the MP4."""
    script = make_script(seconds, size, folder / "bench.yaml", voice)
    return Pipeline(preset="ultrafast", crf=0).render(script, folder / "lossless").video


def encode(frames: list[np.ndarray], width: int, height: int, fps: int, preset: str, crf: int, out: Path) -> dict:
    """Encode I420 `frames` with the pipeline's x264 settings at `preset`/`crf`; wall and CPU seconds, bytes."""
    c = av.open(str(out), mode="w", format="mp4")
    v = c.add_stream("libx264", rate=fps)
    v.width, v.height, v.pix_fmt = width, height, "yuv420p"
    v.options = {"preset": preset, "crf": str(crf), "threads": str(ENCODER_THREADS), "x264-params": X264_PARAMS}
    v.codec_context.time_base = Fraction(1, fps)
    t, cpu = time.perf_counter(), time.process_time()
    for i, f in enumerate(frames):
        vf = av.VideoFrame.from_numpy_buffer(f, format="yuv420p")
        vf.pts = i
        for p in v.encode(vf):
            c.mux(p)
    for p in v.encode():
        c.mux(p)
    c.close()
    return {"encode_s": time.perf_counter() - t, "encode_cpu_s": time.process_time() - cpu,
            "bytes": out.stat().st_size}


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two 8-bit planes (Gaussian window, sigma 1.5; Wang et al. 2004 constants)."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return float(s.mean())


def compare(frames: list[np.ndarray], encoded: Path, height: int) -> dict:
    """PSNR (YUV 6:1:1 and Y) and SSIM (Y, every 5th frame) of `encoded` against `frames`."""
    se = np.zeros(3)
    ssims = []
    n = 0
    with av.open(str(encoded)) as c:
        for i, f in enumerate(c.decode(video=0)):
            got, want = planes(f), frames[i]
            quarter = got[height:].size // 2
            for k, (a, b) in enumerate(((got[:height], want[:height]),
                                        (got[height:].reshape(-1)[:quarter], want[height:].reshape(-1)[:quarter]),
                                        (got[height:].reshape(-1)[quarter:], want[height:].reshape(-1)[quarter:]))):
                se[k] += cv2.norm(a, b, cv2.NORM_L2SQR) / a.size
            if i % 5 == 0:
                ssims.append(ssim(got[:height], want[:height]))
            n += 1
    if n != len(frames):
        raise RuntimeError(f"{encoded}: decoded {n} frames, expected {len(frames)}")
    psnr = [99.0 if e / n <= 1e-10 else float(10 * np.log10(255 ** 2 / (e / n))) for e in se]
    return {"psnr_yuv": round((6 * psnr[0] + psnr[1] + psnr[2]) / 8, 3), "psnr_y": round(psnr[0], 3),
            "ssim_y": round(float(np.mean(ssims)), 5)}


def pick(rows: list[dict], current: dict) -> dict:
    """The fastest row no worse than `current` in PSNR and SSIM (within noise) and no larger."""
    ok = [r for r in rows if r["psnr_yuv"] >= current["psnr_yuv"] - PSNR_NOISE
          and r["ssim_y"] >= current["ssim_y"] - SSIM_NOISE and r["kbps"] <= current["kbps"]]
    return min(ok, key=lambda r: r["cpu_per_video_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080"])
    ap.add_argument("--presets", nargs="+", default=["ultrafast", "superfast", "veryfast", "faster"])
    ap.add_argument("--crfs", nargs="+", type=int, default=[18, 20, 21, 22, 24])
    ap.add_argument("--voice", default="en-us-joe")
    args = ap.parse_args()
    out_rows = {}
    for size in args.sizes:
        width, height = (int(x) for x in size.split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            print(f"{size}: rendering the lossless reference ...", file=sys.stderr, flush=True)
            ref = reference(args.seconds, size, tmp, args.voice)
            with av.open(str(ref)) as c:
                fps = int(round(float(c.streams.video[0].average_rate)))
                frames = [planes(f) for f in c.decode(video=0)]
            video_s = len(frames) / fps
            rows = []
            candidates = sorted({(p, c) for p in args.presets for c in args.crfs} | {(DEFAULT_PRESET, DEFAULT_CRF)},
                                key=lambda pc: (args.presets.index(pc[0]) if pc[0] in args.presets else -1, pc[1]))
            for preset, crf in candidates:
                enc = encode(frames, width, height, fps, preset, crf, tmp / f"{preset}-{crf}.mp4")
                q = compare(frames, tmp / f"{preset}-{crf}.mp4", height)
                row = {"preset": preset, "crf": crf, **q, "kbps": round(enc["bytes"] * 8 / 1000 / video_s, 1),
                       "wall_per_video_s": round(enc["encode_s"] / video_s, 4),
                       "cpu_per_video_s": round(enc["encode_cpu_s"] / video_s, 4)}
                rows.append(row)
                print(f"  {preset:>9} crf {crf}: PSNR {row['psnr_yuv']:.2f} dB (Y {row['psnr_y']:.2f}), "
                      f"SSIM {row['ssim_y']:.4f}, {row['kbps']:.0f} kb/s, encode {row['wall_per_video_s']:.3f} s/s "
                      f"wall, {row['cpu_per_video_s']:.3f} CPU s/s", flush=True)
                (tmp / f"{preset}-{crf}.mp4").unlink()
        current = next(r for r in rows if (r["preset"], r["crf"]) == (DEFAULT_PRESET, DEFAULT_CRF))
        best = pick(rows, current)
        print(f"{size}: current {DEFAULT_PRESET}/{DEFAULT_CRF}; the rule picks {best['preset']}/{best['crf']}",
              flush=True)
        out_rows[size] = {"video_s": round(video_s, 2), "rows": rows, "current": current, "pick": best}
    print(f"CPU: {cpu_name()}")
    save_results("encoder.json", {"cpu": cpu_name(), "sizes": out_rows})


if __name__ == "__main__":
    main()
