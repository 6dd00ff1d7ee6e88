"""The photo renderers judged on real people: `avatarkit eval render` over a fixed split, reproducibly.

    python benchmarks/photo_render.py --set dev          # tune here: four training speakers, 6 s each
    python benchmarks/photo_render.py --set held-out     # report here, never tune: five unseen people, 8 s each
    python benchmarks/photo_render.py --set dev --drive channels --renderer warp

Each clip's first frame is the photo, driven by the clip's own landmarks
and head pose (`avatarkit.eval.render`). For `dev`, the `bank` renderer
and `refined` renderers use a bank that leaves out the clip's own footage
(`MouthBank.without`), so no clip sees its own mouths (the refiner never
trained on the dev or held-out speakers: `training.speakers.REFINER`); the
held-out people are never in the shipped bank. `--refiner DIR` scores
another refiner folder than the shipped one. Writes the table to stdout and the report to
`benchmarks/results/photo_render_<set>_<drive>.json`. The rendered frames
are AI-generated and only their figures leave the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MEDIA = ROOT.parent / "shared" / "media" / "talking"
SETS = {
    "dev": (6.0, ["usgov_RD_Radio2_000.mp4", "usgov_WDA_EdMarkey0_000.mp4", "grid_lbax4n.mpg",
                  "usgov_styletalk_KristiNoem_muxed.mp4"]),
    "held-out": (8.0, ["usgov_WDA_KatieHill_000.mp4", "usgov_RD_Radio34_000.mp4", "grid_brbk7n.mpg",
                       "cremad_1001_DFA_NEU_XX.flv", "cremad_1001_DFA_ANG_XX.flv"]),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=sorted(SETS), default="dev")
    ap.add_argument("--renderer", action="append", help="warp, bank, refined (default: warp and bank)")
    ap.add_argument("--drive", default="landmarks", choices=("landmarks", "mouth", "channels"))
    ap.add_argument("--max-seconds", type=float, default=None)
    ap.add_argument("--refiner", type=Path, default=None, help="mouth refiner folder for `refined` (default: shipped)")
    ap.add_argument("--frames", type=Path, default=None, help="write the rendered frames (PNG) here")
    ap.add_argument("--own-mouths", type=float, default=0.0,
                    help="seconds at the start of each clip given as the person's own mouths (not scored)")
    args = ap.parse_args()

    from avatarkit.eval.render import RenderReport, evaluate_render
    from avatarkit.face.footage import video_info
    from avatarkit.mouthbank import load_bank
    from avatarkit.render import base
    from avatarkit.render.bank import BankRenderer
    from avatarkit.render.refined import RefinedRenderer

    seconds, clips = SETS[args.set]
    seconds = args.max_seconds or seconds
    renderers = args.renderer or ["warp", "bank"]
    report = RenderReport([])
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            path = MEDIA / clip
            if args.set == "dev" and {"bank", "refined"} & set(renderers):
                # A bank without this clip's own mouths, in place of the shipped one for this clip only.
                own = Path(tmp) / f"{path.stem}.npz"
                load_bank().without([path.stem]).save(own)
                base._RENDERERS["bank"] = lambda _loo=own, **kw: BankRenderer(bank=_loo, **kw)
                base._RENDERERS["refined"] = lambda _loo=own, **kw: RefinedRenderer(bank=_loo, model=args.refiner, **kw)
            elif args.refiner is not None:
                base._RENDERERS["refined"] = lambda **kw: RefinedRenderer(model=args.refiner, **kw)
            own_s = args.own_mouths
            if own_s:
                # Short clips (GRID's 3 s) give their first third.
                fps, _, _, count = video_info(path)
                own_s = min(own_s, count / fps / 3)
            r = evaluate_render([path], renderers, min(seconds, video_info(path)[3] / video_info(path)[0] - own_s),
                                frames_dir=args.frames, drive=args.drive, own_mouths_s=own_s)
            report.videos += r.videos
            print("\n".join(r.table().splitlines()[1:2 + len(renderers)]), flush=True)
    print(report.table())
    own = f"_own{args.own_mouths:g}s" if args.own_mouths else ""
    out = ROOT / "benchmarks" / "results" / f"photo_render_{args.set}_{args.drive}{own}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
