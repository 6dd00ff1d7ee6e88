"""How close does a renderer come to a filmed face, driven by that face's own motion?

`evaluate_render(videos, renderers)` measures each real video with
MediaPipe, drives each renderer with the motion measured on it and scores
the rendered frames against the real ones:

* `warp`: the video's first frame is the photo; each frame's channels are
  read off its landmarks (`drive_warp`: mouth opening and width inverted
  through the renderer's own `FaceDeformer`, eye closure as `blink`), and
  by default every face-mesh point goes in as the track's shape
  (`measured_shapes`, `--drive`); the head follows the video's own head
  pose (`head_poses`: per frame a similarity, i.e. roll, scale and
  translation, and the deformer's `yaw` and `pitch` channels, fitted by
  least squares on landmarks that move with the skull, not the mouth): the
  turn goes into the render, the similarity moves the rendered image onto
  the real frame (`drive_photo`);
* an avatar name: the footage avatar's mouth model repaints each real
  frame's mouth to that frame's own lip and jaw landmarks (the video should
  show that person).

Figures per renderer (frame-weighted over videos in `RenderReport.overall`):
PSNR and SSIM of the mouth region: the `face.crop` lower-face crop at 128 px
(both images cut by the real frame's landmarks, since 2026-12-06; before,
each by its own), inside the crop's mouth mask and inside the real face's oval (the
crop's corners below the jaw show neck, collar and background, which the
evaluation itself moves with the head's similarity; `psnr_crop` and
`ssim_crop`, in the JSON report only, keep the whole mask as before
2026-12-06), mouth-opening r, LMD, offset and
lip jitter from the lip-sync harness (`eval.lipsync.score`), flicker (mean
change of mouth pixels from frame to frame, as a ratio to the real
video's), and `outside`: the share of pixels outside the rendered face
(its oval, grown by a quarter) that differ from the renderer's input frame
by more than 3 levels (the input moved by the same similarity, so what
changes there is what the head's turn moves: hair, ears). Frames are scaled to at most 512 px high first. The
rendered frames are AI-generated and only their figures leave the harness
(unless `frames_dir` asks for them as PNG).

Two pixel figures of the mouth itself (issue 26), both in the same 128 px
lower-face crops: `sharpness`, the variance of the Laplacian (grayscale) of
the rendered mouth box over that of the real one (the box of the real outer
lips grown by 15 % of their width on each side; per video the ratio of the
frame means: 1.0 is as sharp as real, far above is jagged, far below
blurred), and `mouth_error`, the mean absolute RGB difference (of 255)
inside the real inner-lip contour on frames whose real inner-lip opening is
above `metrics.OPEN_MOUTH` (0.08 IOD), averaged over those frames
(`open_frames`; overall weighted by them).

A photo kind's first frame is its photo, the renderer's input: the pixel
figures leave it out (since 2026-12-07; before, a renderer that gave the
photo back untouched there scored about 150 dB on that frame, which lifted
a 2 s clip's mean PSNR by 1-2 dB).

Renderer kinds `warp` (the painted mouth, the baseline), `bank` (the
mouth bank inside the inner lips) and `refined` (the bank plus the mouth
refiner network on the mouth box) all animate the first frame as a photo.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import FaceError
from ..face import landmarks as lm
from . import metrics as M
from .clips import MAX_HEIGHT, EvalError, EvalProgress, forget_tracked_face
from .lipsync import _json_num, real_jitter, score

CROP = 128              # pixels of the lower-face crop the mouth is compared in
FACE_GROW = 1.25        # the face oval grown by this factor bounds the "outside" region
PHOTO_KINDS = ("warp", "bank", "refined")   # renderer kinds that animate the video's first frame as a photo
DRIVES = ("landmarks", "mouth", "channels")   # what of each real frame drives a photo renderer (see `drive_photo`)


@dataclass
class RenderScore:
    """One renderer on one video (or overall); see the module docstring for each figure."""

    renderer: str
    frames: int = 0
    psnr: float = math.nan
    ssim: float = math.nan
    pearson: float = math.nan
    lmd: float = math.nan
    offset: float = math.nan
    jitter: float = math.nan
    flicker: float = math.nan
    outside: float = math.nan
    face_found: float = math.nan
    sharpness: float = math.nan
    mouth_error: float = math.nan
    open_frames: int = 0
    psnr_crop: float = math.nan
    ssim_crop: float = math.nan

    def to_dict(self) -> dict:
        return {k: _json_num(v) for k, v in asdict(self).items()}


@dataclass
class VideoRender:
    path: Path
    fps: float
    frames: int
    real_jitter: float
    scores: dict[str, RenderScore] = field(default_factory=dict)


@dataclass
class RenderReport:
    videos: list[VideoRender]

    def overall(self) -> dict[str, RenderScore]:
        """Per renderer, each figure averaged over videos weighted by their frames."""
        out = {}
        for name in dict.fromkeys(r for v in self.videos for r in v.scores):
            ss = [v.scores[name] for v in self.videos if name in v.scores]
            agg = RenderScore(name, frames=sum(s.frames for s in ss))
            agg.open_frames = sum(s.open_frames for s in ss)
            for k in ("psnr", "ssim", "pearson", "lmd", "offset", "jitter", "flicker", "outside", "face_found",
                      "sharpness", "mouth_error", "psnr_crop", "ssim_crop"):
                vals = np.array([getattr(s, k) for s in ss], np.float64)
                w = np.array([s.open_frames if k == "mouth_error" else s.frames for s in ss], np.float64)
                ok = np.isfinite(vals) & (w > 0)
                setattr(agg, k, float((vals[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else math.nan)
            out[name] = agg
        return out

    def to_dict(self) -> dict:
        return {"note": "measured on AI-generated re-renderings of each video",
                "videos": [{"path": str(v.path), "fps": v.fps, "frames": v.frames, "real_jitter": _json_num(v.real_jitter),
                            "scores": {k: s.to_dict() for k, s in v.scores.items()}} for v in self.videos],
                "overall": {k: s.to_dict() for k, s in self.overall().items()}}

    def table(self) -> str:
        """Plain-text table: per video and overall."""
        head = f"{'video':28} {'renderer':10} {'frames':>6} {'PSNR':>6} {'SSIM':>6} {'r':>6} {'LMD':>7} " \
               f"{'offset':>6} {'jitter':>7} {'flicker':>7} {'outside':>7} {'sharp':>6} {'inErr':>6}"
        rows = [head]

        def row(name: str, s: RenderScore) -> str:
            f = lambda x, d=3: f"{x:.{d}f}" if math.isfinite(x) else "–"
            return (f"{name[:28]:28} {s.renderer[:10]:10} {s.frames:6d} {f(s.psnr, 2):>6} {f(s.ssim):>6} "
                    f"{f(s.pearson):>6} {f(s.lmd, 4):>7} {f(s.offset, 0):>6} {f(s.jitter, 4):>7} "
                    f"{f(s.flicker, 2):>7} {f(s.outside, 4):>7} {f(s.sharpness, 2):>6} {f(s.mouth_error, 1):>6}")
        for v in self.videos:
            rows.append(f"{v.path.name[:28]:28} {'real':10} {v.frames:6d} {'':>6} {'':>6} {'':>6} {'':>7} {'':>6} "
                        f"{v.real_jitter:7.4f} {1.0:7.2f}")
            rows += [row("", s) for s in v.scores.values()]
        rows += [row("overall", s) for s in self.overall().values()]
        return "\n".join(rows) + "\nRendered rows are measured on AI-generated re-renderings of each video.\n"


# -- reading ---------------------------------------------------------------------------

def clip_frames(path: Path, max_seconds: float) -> tuple[float, list[np.ndarray]]:
    """(fps, RGB frames of the first `max_seconds`), scaled down to `MAX_HEIGHT`: what the evaluation scores
    (and what the mouth refiner trains on, `training.refiner`)."""
    from ..face.footage import video_frames, video_info

    fps, w, h, _ = video_info(path)
    s = min(1.0, MAX_HEIGHT / h)
    size = (max(2, round(w * s)), max(2, round(h * s)))
    out = []
    for rgb in video_frames(path):
        if len(out) >= max(1, int(max_seconds * fps)):
            break
        out.append(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if s < 1 else rgb)
    if not out:
        raise EvalError(f"{path}: the video holds no frames")
    return fps, out


def clip_landmarks(frames: Sequence[np.ndarray]) -> np.ndarray:
    """MediaPipe landmarks (frames, 478, 2) pixels of consecutive `frames`, tracked from a fresh start; NaN
    where no face is found."""
    from ..face.detect import try_detect_landmarks

    forget_tracked_face()
    out = np.full((len(frames), 478, 2), np.nan)
    for i, f in enumerate(frames):
        p = try_detect_landmarks(np.ascontiguousarray(f))
        if p is not None:
            out[i] = p[:, :2]
    return out


def own_mouths(frames: Sequence[np.ndarray], name: str):
    """The person's own mouth bank from `frames` (the open-mouth ones), or None when none opens: what a user
    gives with a few seconds of their footage (`mouthbank.cut.bank_from_frames`)."""
    from ..mouthbank.cut import bank_from_frames

    return bank_from_frames(frames, name)[0]


def _eye_open(L: np.ndarray) -> np.ndarray:
    return (np.linalg.norm(L[..., 159, :] - L[..., 145, :], axis=-1)
            + np.linalg.norm(L[..., 386, :] - L[..., 374, :], axis=-1)) / M.iod(L)


# -- driving the warp renderer from real landmarks -------------------------------------------

def drive_warp(deformer, real: np.ndarray) -> list[dict[str, float]]:
    """Channel values per frame that make `deformer`'s face (the first frame's) match `real` (N, 478, 2).

    Mouth opening and width (fractions of IOD, as the harness measures them)
    are inverted through tables of the deformer's own targets; eye closure
    relative to the first frame becomes `blink`. Frames without a face keep
    the previous frame's values.
    """
    jaws = np.linspace(0.0, 1.2, 61)
    wides = np.linspace(-1.0, 1.0, 41)
    open_tab = M.mouth_opening(np.stack([deformer.targets({"jaw": j}) for j in jaws]))
    width_tab = M.mouth_width(np.stack([deformer.targets({"jaw": float(deformer.o_rest), "wide": x}) for x in wides]))
    o_order, w_order = np.argsort(open_tab), np.argsort(width_tab)
    first = real[np.flatnonzero(M.valid_frames(real))[0]]
    eye0 = float(_eye_open(first))
    out: list[dict[str, float]] = []
    last = {"jaw": float(deformer.o_rest)}
    for L in real:
        if not np.isfinite(L).all():
            out.append(dict(last))
            continue
        last = {"jaw": float(np.interp(M.mouth_opening(L[None])[0], open_tab[o_order], jaws[o_order])),
                "wide": float(np.interp(M.mouth_width(L[None])[0], width_tab[w_order], wides[w_order])),
                "blink": float(np.clip(1 - _eye_open(L) / max(eye0, 1e-6), 0, 1))}
        out.append(dict(last))
    return out


# Landmarks that move with the head but not with the mouth, jaw, lids or brows: the eye corners, the
# nose bridge and tip, the forehead and the upper half of the face oval (chosen in `head_poses`).
RIGID_POINTS = (33, 133, 263, 362, 6, 168, 197, 195, 5, 4, 1, 10, 151, 9, 98, 327)


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The least-squares 2x3 similarity (rotation, uniform scale, translation) taking `src` onto `dst`."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    den = max(float((a * a).sum()), 1e-9)
    c = float((a * b).sum()) / den
    s = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()) / den
    R = np.array([[c, -s], [s, c]])
    return np.concatenate([R, (md - R @ ms)[:, None]], 1)


def head_poses(deformer, real: np.ndarray, iterations: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Per frame of `real` (N, 478, 2): the head pose that puts `deformer`'s face (the first frame's) on it.

    Returns `S` (N, 2, 3), the similarity from the photo's pixels to the frame's
    (roll, scale and translation of the head), and `turn` (N, 2), the weights of
    the deformer's `yaw` and `pitch` channels (the out-of-plane part). Both are
    fitted jointly by linear least squares on `RIGID_POINTS` plus the upper
    half of the face oval (the turn's displacement is rotated and scaled by the
    previous iteration's similarity, so a few iterations solve the bilinear
    model exactly). Frames without a face keep the previous pose.
    """
    rest = deformer.rest[:, :2].astype(np.float64)
    nose_y = rest[lm.NOSE_TIP] @ deformer.v
    oval = [i for i in lm.FACE_OVAL if rest[i] @ deformer.v < nose_y]
    idx = list(dict.fromkeys(list(RIGID_POINTS) + oval))
    base = rest[idx]
    B = np.stack([deformer.basis["yaw"][idx].ravel(), deformer.basis["pitch"][idx].ravel()], 1).astype(np.float64)
    S = np.zeros((len(real), 2, 3))
    turn = np.zeros((len(real), 2))
    last_S, last_t = np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.zeros(2)
    for i, L in enumerate(real):
        if np.isfinite(L).all():
            dst = L[idx].astype(np.float64)
            m = _similarity(base, dst)
            x, y = base[:, 0], base[:, 1]
            one, zero = np.ones_like(x), np.zeros_like(x)
            for _ in range(iterations):
                # dst = [[a, -b], [b, a]] base + (tx, ty) + R_prev (B t): linear in (a, b, tx, ty, yaw, pitch).
                Bt = np.stack([(B[:, c].reshape(-1, 2) @ m[:, :2].T) for c in range(2)], 2)   # (n, 2, 2)
                A = np.concatenate([np.stack([x, -y, one, zero, Bt[:, 0, 0], Bt[:, 0, 1]], 1),
                                    np.stack([y, x, zero, one, Bt[:, 1, 0], Bt[:, 1, 1]], 1)])
                sol = np.linalg.lstsq(A, np.concatenate([dst[:, 0], dst[:, 1]]), rcond=None)[0]
                a, b, tx, ty = sol[:4]
                m = np.array([[a, -b, tx], [b, a, ty]])
                t = np.clip(sol[4:], -1.0, 1.0)
            last_S, last_t = m, t
        S[i], turn[i] = last_S, last_t
    return S, turn


def measured_shapes(deformer, real: np.ndarray, S: np.ndarray, turn: np.ndarray,
                    which: tuple[int, ...]) -> list:
    """Per frame of `real` (N, 478, 2), the `FaceShape` of landmarks `which` that puts the photo's points where
    the frame has them: the frame's landmarks moved back into the photo by the inverse of its head
    similarity `S` (N, 2, 3), less the head turn `turn` (N, 2: yaw, pitch). Frames without a face keep the
    previous shape (the first ones: the rest shape)."""
    out = []
    last = deformer.shape_of(deformer.rest, which=which)
    for i, L in enumerate(real):
        if np.isfinite(L).all():
            A, t = S[i][:, :2], S[i][:, 2]
            P = (L[list(which)] - t) @ np.linalg.inv(A).T
            last = deformer.shape_of(P, {"yaw": float(turn[i, 0]), "pitch": float(turn[i, 1])}, which)
        out.append(last)
    return out


def drive_photo(bound, rig, real: np.ndarray, pose: bool = True, drive: str = "landmarks",
                ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Render a photo renderer bound to `rig` (the first frame) along `real`'s landmarks and head pose.

    Each frame's channels come from `drive_warp` (mouth, blinks) plus the
    `yaw` and `pitch` of `head_poses`. `drive` says what of the frame's own
    landmarks also goes in as a shape (`measured_shapes`): "landmarks", every
    face-mesh point, so the renderer is judged on its pixels, not on how well
    channels and a head model describe a face; "mouth", the lips and jaw line
    (`MOUTH_SHAPE`, what an audio-to-motion model gives); "channels", none
    (mouth opening and width, eye closure and head turn only). The rendered
    image is then moved by the frame's similarity (`cv2.warpAffine`, edges
    replicated) so the face lands where the real one is. Returns the rendered
    frames and the renderer's input for each (the photo under the same
    similarity), for the `outside` figure. With `pose` False the head stays
    where the first frame has it.
    """
    if drive not in DRIVES:
        raise EvalError(f"drive {drive!r}: use one of {', '.join(DRIVES)}")
    n = len(real)
    h, w = rig.image.shape[:2]
    if pose:
        S, turn = head_poses(bound.deformer, real)
    else:
        S, turn = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (n, 1, 1)), np.zeros((n, 2))
    which = {"landmarks": tuple(range(lm.NUM_MESH)), "mouth": lm.MOUTH_SHAPE}.get(drive)
    shapes = measured_shapes(bound.deformer, real, S, turn, which) if which else None
    gen, inputs = [], []
    for i, values in enumerate(drive_warp(bound.deformer, real)):
        f = bound.render_frame({**values, "yaw": float(turn[i, 0]), "pitch": float(turn[i, 1])},
                               shape=None if shapes is None else shapes[i])
        canvas = rig.image.copy()
        x0, y0, x1, y1 = f.box
        canvas[y0:y1, x0:x1] = f.rgb
        if pose:
            m = S[i].astype(np.float32)
            canvas = cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            inputs.append(cv2.warpAffine(rig.image, m, (w, h), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REPLICATE))
        else:
            inputs.append(rig.image)
        gen.append(canvas)
    return gen, inputs


# -- scoring ---------------------------------------------------------------------------------

def _crops(frames: Sequence[np.ndarray], L: np.ndarray) -> list[np.ndarray | None]:
    from ..face.crop import crop_matrix, cut, face_pose

    return [cut(f, crop_matrix(face_pose(p), CROP), CROP) if np.isfinite(p).all() else None for f, p in zip(frames, L)]


def _outside_mask(L: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    oval = L[list(lm.FACE_OVAL)]
    c = oval.mean(0)
    grown = c + (oval - c) * FACE_GROW
    mask = np.ones(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(grown).astype(np.int32)], 0)
    return mask.astype(bool)


def _mouth_box(P: np.ndarray) -> tuple[int, int, int, int]:
    """The crop box (x0, y0, x1, y1) of the outer lips of crop-pixel landmarks `P`, grown by 15 % of their width."""
    from ..face.crop import LIP_OUTER

    lips = P[list(LIP_OUTER)]
    lo, hi = lips.min(0), lips.max(0)
    pad = 0.15 * (hi[0] - lo[0])
    x0, y0 = np.floor(lo - pad).astype(int)
    x1, y1 = np.ceil(hi + pad).astype(int)
    return max(x0, 0), max(y0, 0), min(x1, CROP), min(y1, CROP)


def _score(name: str, real: np.ndarray, real_crops, gen_frames, inputs, gen_L: np.ndarray,
           skip: int = 0) -> RenderScore:
    """`skip`: how many first frames the pixel figures leave out (a photo kind's first frame is its own photo)."""
    from skimage.metrics import structural_similarity

    from ..face.crop import LIP_INNER, crop_matrix, face_pose, mouth_mask, to_crop

    hard = mouth_mask(CROP)[0] > 0
    s = score(real, gen_L, name)
    # Both images are cut by the real face's landmarks: the renderers are placed on the real frame (the
    # photo kinds by the head's similarity, footage avatars repaint the real frame), so where the rendered
    # pixels land is part of what is judged, and MediaPipe's noise on the rendered face is not.
    gen_crops = _crops(gen_frames, real)
    opening = M.mouth_opening(real)
    ps, ss, ps_crop, ss_crop, flick, flick_real, sharp_g, sharp_r, errs = [], [], [], [], [], [], [], [], []
    for i, (r, g) in enumerate(zip(real_crops, gen_crops)):
        if r is None or g is None or i < skip:
            continue
        P = to_crop(real[i], crop_matrix(face_pose(real[i]), CROP))
        face = np.zeros((CROP, CROP), np.uint8)
        cv2.fillPoly(face, [np.round(P[list(lm.FACE_OVAL)]).astype(np.int32)], 1)
        region = hard & (face > 0)
        x0, y0, x1, y1 = _mouth_box(P)
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            sharp_g.append(M.laplacian_variance(g[y0:y1, x0:x1]))
            sharp_r.append(M.laplacian_variance(r[y0:y1, x0:x1]))
        if opening[i] > M.OPEN_MOUTH:
            e = M.inner_mouth_error(g, r, P[list(LIP_INNER)])
            if math.isfinite(e):
                errs.append(e)
        sq = (r.astype(np.float64) - g) ** 2
        _, smap = structural_similarity(r, g, channel_axis=2, data_range=255, full=True)
        for mask, p_out, s_out in ((region, ps, ss), (hard, ps_crop, ss_crop)):
            p_out.append(10 * np.log10(255.0 ** 2 / max(sq[mask].mean(), 1e-10)))
            s_out.append(smap.mean(2)[mask].mean())
        if i and real_crops[i - 1] is not None and gen_crops[i - 1] is not None:
            flick.append(np.abs(g.astype(np.float64) - gen_crops[i - 1])[hard].mean())
            flick_real.append(np.abs(r.astype(np.float64) - real_crops[i - 1])[hard].mean())
    outside = [np.mean(np.abs(g.astype(np.int16) - x).max(2)[_outside_mask(p, g.shape[:2])] > 3)
               for g, x, p in zip(gen_frames, inputs, gen_L) if np.isfinite(p).all()]
    nan = float("nan")
    return RenderScore(name, s.frames, float(np.mean(ps)) if ps else nan, float(np.mean(ss)) if ss else nan,
                       s.pearson, s.lmd, s.offset, s.jitter,
                       float(np.mean(flick) / max(np.mean(flick_real), 1e-9)) if flick else nan,
                       float(np.mean(outside)) if outside else nan, s.face_found,
                       float(np.mean(sharp_g) / np.mean(sharp_r)) if sharp_r and np.mean(sharp_r) > 1e-9 else nan,
                       float(np.mean(errs)) if errs else nan, len(errs),
                       float(np.mean(ps_crop)) if ps_crop else nan, float(np.mean(ss_crop)) if ss_crop else nan)


def evaluate_render(paths: Sequence[str | Path], renderers: Sequence[str] = ("warp",), max_seconds: float = 10.0,
                    progress: Callable[[EvalProgress], None] | None = None, home: str | Path | None = None,
                    sheet: str | Path | None = None, frames_dir: str | Path | None = None,
                    head_pose: bool = True, drive: str = "landmarks", own_mouths_s: float = 0.0) -> RenderReport:
    """Score each renderer on each video (its first `max_seconds`); see the module docstring.

    A renderer is `warp` or the name of a trained footage avatar (found in
    `home`). `sheet` writes a contact sheet (PNG): for up to four frames of
    the first video with the mouth open widest, the real lower face beside
    each renderer's, at 256 px each. `frames_dir` writes every rendered
    frame as PNG to `frames_dir/<video stem>/<renderer>/NNNNN.png`.

    `own_mouths_s` > 0 plays a user who gave a few seconds of their footage
    for their own teeth: the video's first `own_mouths_s` seconds become the
    person's own mouths for the `bank` renderer and are not scored; the
    photo is the first frame after them, and `max_seconds` are scored from
    there.
    """
    from ..face.rig import rig_from_image
    from ..render.base import make_renderer

    painters = {}
    for r in renderers:
        if r == "neural":
            raise EvalError("renderer 'neural': a general neural face renderer is not part of avatarkit yet; "
                            "use warp, or the name of a trained footage avatar")
        if r not in PHOTO_KINDS:
            from ..face.avatar import open_avatar
            from ..render.diffusion import MouthPainter, load_personal

            _, model, _, reference = load_personal(str(open_avatar(r, home).folder))
            painters[r] = MouthPainter(model, reference)
    report = RenderReport([])
    for path in map(Path, paths):
        if not path.is_file():
            raise EvalError(f"{path}: no such video file")
        fps, frames = clip_frames(path, max_seconds + own_mouths_s)
        own = None
        if own_mouths_s > 0:
            k = int(round(own_mouths_s * fps))
            if len(frames) < k + 2:
                raise EvalError(f"{path}: {len(frames) / fps:.1f} s is too short for {own_mouths_s:g} s of own "
                                f"mouths and a scored part after them")
            own, frames = own_mouths(frames[:k], path.stem), frames[k:]
        n = len(frames)
        if progress:
            progress(EvalProgress(path, "real", 0, n))
        real = clip_landmarks(frames)
        if not M.valid_frames(real)[0]:
            raise EvalError(f"{path}: no usable face in the first frame")
        real_crops = _crops(frames, real)
        video = VideoRender(path, fps, n, real_jitter(real))
        shown: dict[str, tuple[list[np.ndarray], np.ndarray]] = {}
        for name in renderers:
            if name in PHOTO_KINDS:
                try:
                    rig = rig_from_image(frames[0], source="first frame")
                except FaceError as e:
                    raise EvalError(f"{path}: no usable face in the first frame ({e})") from None
                mouths = {"own": own} if name in ("bank", "refined") and own is not None else {}
                bound = make_renderer(name, **mouths).bind(rig)
                if rig.image.shape[:2] != frames[0].shape[:2]:
                    raise EvalError(f"{path}: the photo rig changed the frame size")
                gen, inputs = drive_photo(bound, rig, real, pose=head_pose, drive=drive)
            else:
                from ..face.crop import face_pose

                gen = [f.copy() for f in frames]
                ok = [i for i in range(n) if np.isfinite(real[i]).all()]
                for k in range(0, len(ok), 8):
                    part = ok[k:k + 8]
                    painters[name].paint([gen[i] for i in part], [face_pose(real[i]) for i in part],
                                         [real[i] for i in part])
                inputs = frames
            if progress:
                progress(EvalProgress(path, name, n, n))
            if frames_dir is not None:
                _write_frames(Path(frames_dir) / path.stem / name, gen)
            gen_L = clip_landmarks(gen)
            video.scores[name] = _score(name, real, real_crops, gen, inputs, gen_L,
                                        skip=1 if name in PHOTO_KINDS else 0)
            shown[name] = (gen, gen_L)
        report.videos.append(video)
        if sheet is not None and len(report.videos) == 1:
            _contact_sheet(Path(sheet), frames, real, shown)
    return report


def _write_frames(folder: Path, frames: Sequence[np.ndarray]) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(frames):
            if not cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR)):
                raise OSError(f"cannot write {folder / f'{i:05d}.png'}")
    except OSError as e:
        raise EvalError(f"{folder}: cannot write the rendered frames ({e})") from None


def _contact_sheet(path: Path, frames, real: np.ndarray, shown: dict[str, tuple[list[np.ndarray], np.ndarray]]) -> None:
    """Up to four frames with the mouth open widest: the real lower face | each renderer's, each in its own pose."""
    from ..face.crop import crop_matrix, cut, face_pose

    opening = M.mouth_opening(real)
    ok = M.valid_frames(real) & np.all([M.valid_frames(L) for _, L in shown.values()], 0)
    order = [int(i) for i in np.argsort(np.where(ok, opening, -1))[::-1] if ok[i]]
    picks = sorted(order[:: max(1, len(order) // 8)][:4])
    rows = []
    for i in picks:
        row = [cut(frames[i], crop_matrix(face_pose(real[i]), 256), 256)]
        row += [cut(gen[i], crop_matrix(face_pose(L[i]), 256), 256) for gen, L in shown.values()]
        rows.append(np.concatenate(row, 1))
    if not rows:
        return
    img = np.concatenate(rows, 0)
    cv2.putText(img, "AI-generated: real | " + " | ".join(shown), (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (255, 255, 255), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
