"""Milliseconds per frame of the bank renderer's mouth stage (retrieval step + paste), at 720p, on one core.

    taskset -c 0 python benchmarks/mouth_stage.py            # the figure issue 26 asks for
    taskset -c 0 python benchmarks/mouth_stage.py --frames 500
    taskset -c 0 python benchmarks/mouth_stage.py --renderer refined   # + the mouth refiner on the box

The sample avatar is scaled so its photo is 720 px high; a track opens and
closes the mouth through vowels for `--frames` frames. Per frame it times
the warp renderer's frame (`BoundWarp.render_frame`) and, apart, the mouth
stage the bank adds (`OnlineRetriever.step` and `BoundBank.mouth`), and
prints median and 90th percentile of each, with OpenCV held to one thread.
With `--renderer refined` the mouth stage includes the mouth refiner
(`render/refined.py`, PyTorch on one thread).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--renderer", choices=("bank", "refined"), default="bank")
    args = ap.parse_args()

    import cv2

    cv2.setNumThreads(1)
    from avatarkit.face.rig import load_avatar
    from avatarkit.mouthbank import CONTOUR, descriptor
    from avatarkit.render.bank import BankRenderer

    rig = load_avatar(ROOT / "samples" / "avatar.png")
    rig = rig.scaled(720 / rig.image.shape[0])
    if args.renderer == "refined":
        from avatarkit.render.refined import RefinedRenderer

        bound = RefinedRenderer().bind(rig)
    else:
        bound = BankRenderer().bind(rig)
    t = np.arange(args.frames) / 25.0
    jaw = 0.45 * (1 - np.cos(2 * np.pi * 2.2 * t)) / 2 + 0.1 * np.sin(2 * np.pi * 0.7 * t) ** 2
    wide = 0.4 * np.sin(2 * np.pi * 0.9 * t)
    warp_ms, mouth_ms = [], []
    for i in range(args.frames):
        values = {"jaw": float(jaw[i]), "wide": float(wide[i]), "yaw": 0.05 * np.sin(t[i])}
        t0 = time.perf_counter()
        f = bound.warp.render_frame(values)
        t1 = time.perf_counter()
        entry = bound.online.step(descriptor(f.landmarks[list(CONTOUR), :2]))
        bound.mouth(f, entry)
        t2 = time.perf_counter()
        warp_ms.append(1e3 * (t1 - t0))
        mouth_ms.append(1e3 * (t2 - t1))
    h, w = rig.image.shape[:2]
    print(f"{args.renderer}: photo {w}x{h}, {args.frames} frames, bank of {len(bound.bank)} mouths, "
          "OpenCV on 1 thread")
    for name, ms in (("warp frame", warp_ms), ("mouth stage", mouth_ms)):
        ms = np.array(ms[10:])       # the first frames pay for JPEG decoding and warm caches
        print(f"{name:12} median {np.median(ms):6.2f} ms   p90 {np.percentile(ms, 90):6.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
