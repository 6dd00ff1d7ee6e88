"""Quality of the diffusion renderer against the warp renderer on held-out footage.

The avatar must have been trained on the first share of its footage
(`avatarkit avatar train NAME --until 0.8`); this script renders the rest:

- `diffusion`: each real held-out frame with its mouth repainted by the
  model, driven by motion channels measured on the real lips (jaw opening
  and mouth width through the person's `MouthRig`): what the renderer does
  with a `MotionTrack`.
- `diffusion-landmarks`: the same, but drawn from the real frame's own lip
  and jaw landmarks (the renderer's ceiling with perfect motion).
- `warp`: the warp renderer animating a neutral training frame with the
  same channels.

and compares each with the real frames: PSNR and SSIM of the mouth region
(the mask of `face.crop`, in the canonical lower-face crop of each image),
and the lip-sync harness's figures on MediaPipe landmarks of the output
(`eval.lipsync.score`: mouth-opening correlation, mouth LMD, AV offset,
lip jitter), plus flicker: mean absolute change of mouth pixels from frame
to frame, as a ratio to the real video's.

    python benchmarks/diffusion_quality.py --avatar franck --home /tmp/q4/home --until 0.8
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _mask_scores(real_crop: np.ndarray, crop: np.ndarray, hard: np.ndarray) -> tuple[float, float]:
    from skimage.metrics import structural_similarity

    m = hard > 0
    err = ((real_crop.astype(np.float64) - crop) ** 2)[m].mean()
    psnr = 10 * np.log10(255.0 ** 2 / max(err, 1e-10))
    _, smap = structural_similarity(real_crop, crop, channel_axis=2, data_range=255, full=True)
    return float(psnr), float(smap.mean(2)[m].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--avatar", required=True)
    ap.add_argument("--home", default=None)
    ap.add_argument("--until", type=float, default=0.8)
    ap.add_argument("--frames", type=int, default=0, help="score at most this many held-out frames (0 = all)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--size", type=int, default=128, help="crop size of the PSNR/SSIM comparison, pixels")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--save-video", type=Path, default=None, help="write real | diffusion | warp side by side")
    ap.add_argument("--speech", type=Path, default=None,
                    help="also dub the held-out frames with this recording and measure how each renderer's "
                         "mouth follows the motion the learned model asks for")
    args = ap.parse_args()

    from avatarkit.eval.clips import forget_tracked_face
    from avatarkit.eval.lipsync import real_jitter, score
    from avatarkit.face.avatar import open_avatar
    from avatarkit.face.crop import crop_matrix, cut, face_pose, mouth_mask
    from avatarkit.face.detect import try_detect_landmarks
    from avatarkit.face.footage import video_frames
    from avatarkit.face.rig import rig_from_image
    from avatarkit.motion.track import MotionTrack
    from avatarkit.render.diffusion import MouthPainter, load_personal
    from avatarkit.render.warp import WarpRenderer

    avatar, model, mouth, reference = load_personal(str(open_avatar(args.avatar, args.home).folder))
    trained_until = model.training_info.get("settings", {}).get("until", 1.0)
    if trained_until > args.until + 1e-9:
        raise SystemExit(f"the model was trained on the first {trained_until:.0%} of the footage; scoring from "
                         f"{args.until:.0%} would score frames it has seen (train with --until {args.until})")
    track = avatar.track
    n = track.frames
    start = int(round(args.until * n))
    held = [i for i in range(start, n) if track.good[i]]
    if args.frames:
        held = held[: args.frames]
    poses = avatar.poses
    painter = MouthPainter(model, reference, args.steps)
    train_neutral = [i for i in track.neutral if i < start] or [int(np.flatnonzero(track.good)[0])]
    hard, _ = mouth_mask(args.size)
    S = args.size

    print(f"avatar {avatar.name}: {n} frames at {track.fps:g} fps, trained on frames < {start}, "
          f"scoring {len(held)} held-out frames ({len(held) / track.fps:.1f} s)", flush=True)
    # The warp renderer's photo: a neutral frame from the training part.
    frames_needed = set(held) | {train_neutral[0]}
    real_frames: dict[int, np.ndarray] = {}
    for i, rgb in enumerate(video_frames(avatar.footage)):
        if i in frames_needed:
            real_frames[i] = rgb
        if i >= max(frames_needed):
            break
    rig = rig_from_image(real_frames[train_neutral[0]], source="neutral frame")
    bound = WarpRenderer().bind(rig)

    channels = [mouth.channels_of(track.landmarks[i]) for i in held]
    outputs = {"diffusion": [], "diffusion-landmarks": [], "warp": []}
    timing = {k: 0.0 for k in outputs}
    for k0 in range(0, len(held), 8):
        part = held[k0:k0 + 8]
        for kind in ("diffusion", "diffusion-landmarks"):
            frames = [real_frames[i].copy() for i in part]
            if kind == "diffusion":
                targets = [mouth.retarget(track.landmarks[i], c, poses[i]) for i, c in zip(part, channels[k0:k0 + 8])]
            else:
                targets = [track.landmarks[i][:, :2] for i in part]
            t0 = time.perf_counter()
            painter.paint(frames, [poses[i] for i in part], targets)
            timing[kind] += time.perf_counter() - t0
            outputs[kind].extend(frames)
        for c in channels[k0:k0 + 8]:
            t0 = time.perf_counter()
            f = bound.render_frame({**MotionTrack.zeros(1, 25).frame(0), **c})
            img = rig.image.copy()
            x0, y0, x1, y1 = f.box
            img[y0:y1, x0:x1] = f.rgb
            timing["warp"] += time.perf_counter() - t0
            outputs["warp"].append(img)
        print(f"  rendered {min(k0 + 8, len(held))}/{len(held)}", flush=True)

    real_L = np.stack([track.landmarks[i][:, :2] for i in held])
    results = {}
    real_crops = [cut(real_frames[i], crop_matrix(poses[i], S), S) for i in held]
    real_flicker = np.mean([np.abs(a.astype(float) - b)[hard > 0].mean() for a, b in zip(real_crops[1:], real_crops[:-1])])
    for kind, frames in outputs.items():
        forget_tracked_face()
        L = []
        for f in frames:
            p = try_detect_landmarks(f)
            L.append(p[:, :2] if p is not None else np.full((478, 2), np.nan))
        L = np.stack(L)
        gen_poses = np.array([face_pose(p) if np.isfinite(p).all() else np.full(4, np.nan) for p in L])
        if kind != "warp":
            gen_poses = np.array([poses[i] for i in held])    # same head as the real frame
        else:
            gen_poses = np.tile(face_pose(rig.landmarks), (len(frames), 1))   # the still photo's head
        crops = [cut(f, crop_matrix(p, S), S) for f, p in zip(frames, gen_poses)]
        ps, ss = zip(*[_mask_scores(r, c, hard) for r, c in zip(real_crops, crops)])
        flicker = np.mean([np.abs(a.astype(float) - b)[hard > 0].mean() for a, b in zip(crops[1:], crops[:-1])])
        s = score(real_L, L, kind)
        results[kind] = {"psnr": round(float(np.mean(ps)), 2), "ssim": round(float(np.mean(ss)), 4),
                         "corr": round(s.pearson, 3), "lmd": round(s.lmd, 4), "offset": s.offset,
                         "jitter": round(s.jitter, 4), "face_found": round(s.face_found, 3),
                         "flicker_ratio": round(float(flicker / real_flicker), 3),
                         "render_s_per_frame": round(timing[kind] / len(held), 4)}
        print(kind, results[kind], flush=True)
    results["real"] = {"jitter": round(real_jitter(real_L), 4)}
    results["clip"] = {"avatar": avatar.name, "frames": len(held), "seconds": round(len(held) / track.fps, 1),
                       "train_frames": int(track.good[:start].sum()), "steps": model.config.steps if args.steps is None
                       else args.steps, "model": model.training_info.get("steps"), "size": model.config.size}
    if args.speech:
        results["speech"] = follow_speech(args.speech, held, real_frames, track, poses, mouth, painter, bound, rig)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.save_video:
        from avatarkit.media.writer import VideoWriter

        h, w = real_frames[held[0]].shape[:2]
        rh, rw = outputs["warp"][0].shape[:2]
        with VideoWriter(args.save_video, 3 * w, h, int(round(track.fps)), 48000, title="real | diffusion | warp") as vw:
            import cv2

            for i, d, wp in zip(held, outputs["diffusion"], outputs["warp"]):
                vw.write_frame(np.concatenate([real_frames[i], d, cv2.resize(wp, (w, h))], 1))
            vw.write_audio(np.zeros(len(held) * (48000 // int(round(track.fps))), np.float32))


def follow_speech(speech: Path, held, real_frames, track, poses, mouth, painter, bound, rig) -> dict:
    """Dub the held-out frames with a recording; correlation and lag of measured opening vs asked jaw."""
    from avatarkit.audio.io import load_audio
    from avatarkit.eval import metrics as M
    from avatarkit.eval.clips import forget_tracked_face
    from avatarkit.face.detect import try_detect_landmarks
    from avatarkit.motion.audio import AudioMotion
    from avatarkit.motion.track import MotionTrack

    fps = int(round(track.fps))
    audio = load_audio(speech, 48000)
    n = min(len(held), audio.size * fps // 48000)
    motion = AudioMotion("learned").animate_audio(audio, 48000, fps=fps, frames=n)
    jaw = motion["jaw"][:n].astype(np.float64)
    out = {"recording": speech.name, "seconds": round(n / fps, 1)}
    for kind in ("diffusion", "warp"):
        forget_tracked_face()
        opening = []
        for k0 in range(0, n, 8):
            part = list(range(k0, min(n, k0 + 8)))
            if kind == "diffusion":
                frames = [real_frames[held[j]].copy() for j in part]
                painter.paint(frames, [poses[held[j]] for j in part],
                              [mouth.retarget(track.landmarks[held[j]], motion.frame(j), poses[held[j]]) for j in part])
            else:
                frames = []
                for j in part:
                    f = bound.render_frame({**MotionTrack.zeros(1, 25).frame(0), **{c: motion.frame(j)[c] for c in
                                            ("jaw", "wide", "round", "press", "dental")}})
                    img = rig.image.copy()
                    x0, y0, x1, y1 = f.box
                    img[y0:y1, x0:x1] = f.rgb
                    frames.append(img)
            for f in frames:
                p = try_detect_landmarks(f)
                opening.append(M.mouth_opening(p[None, :, :2])[0] if p is not None else np.nan)
        opening = np.array(opening)
        off = M.av_offset(opening, jaw, 5)
        out[kind] = {"corr_with_jaw": round(M.pearson(opening, jaw), 3), "offset": off.lag}
        print("speech", kind, out[kind], flush=True)
    return out


if __name__ == "__main__":
    main()
