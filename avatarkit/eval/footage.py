"""`avatarkit eval footage VIDEO`: a footage avatar judged on held-out footage of the same person.

The first two thirds of a clip are prepared as a footage avatar
(`face.avatar.add_avatar`, timed); the last third's own audio then drives a
dub, which is compared with the real last third.

The dub is the simplest honest baseline that exists before the footage
dubbing renderer: **replay+bank**. The prepared frames are played forwards
and backwards (ping-pong, so there is no jump at the wrap) for the head,
eyes and everything outside the mouth. The learned audio-to-motion model
(`motion.audio.AudioMotion("learned")`) turns the held-out audio into a jaw
opening per frame; each opening is mapped, by its rank, onto the prepared
frame whose inner-lip opening has the same rank, whose inner-lip shape
(canonical, by the corners) becomes the target shape, placed on the played
frame's own mouth corners. The person's own mouth bank
(`mouths.npz`) is searched by that shape (`mouthbank.retrieve`) and the
entry pasted inside the target contour (`mouthbank.paste`). **replay**
(the same frames, mouth untouched) is scored beside it as the floor.

**graph+bank** is the footage dubbing renderer (`render.footage`): base
frames re-timed by the motion graph (`motion.graph`, cuts only between
similar poses, cross-faded, pulled to head motion at the held-out audio's
onsets), the target lips from the same learned jaw (and lip spread) mapped
onto the footage's own mouths, lips and jaw warped to them, and the own
bank's mouth pasted inside.

**real+bank** judges the mouth alone (`render_on_real`): the held-out
frames themselves, with the same target lips, jaw warp and own mouths. The
published few-minute methods are evaluated this way (rendered with the
held-out part's own head pose); the re-timed methods above cannot match the
real head frame by frame, so their PSNR and SSIM mostly measure where the
head is.

Figures per method (generated against the real last third; frames where
MediaPipe finds no face in either drop out):

- `psnr`, `ssim`: of the 128 px mouth crop (`face.crop.crop_matrix`, each
  frame cropped by its own face pose, so head placement does not count but
  mouth shape and appearance do).
- `lmd`: mean distance of the mouth landmarks after aligning both onto a
  canonical face (fraction of the inter-ocular distance).
- `sharp`: Laplacian variance of the generated mouth crops over the real's
  (1 = as sharp, below 1 blurrier).
- `open_r`: Pearson r of the inner-lip opening, generated vs real.
- `jumps`: consecutive-frame differences (mean absolute grey level) above
  1.5x the real footage's largest one; `jump_ratio`: the generated largest
  over the real largest.
- `s_per_s`: compute seconds of the dub per second of held-out video.
- `tgt_r` (per clip): r of the target opening taken from the audio with the
  real opening, i.e. how much of `open_r` the audio-to-motion step allows.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import AvatarkitError

CROP = 128
JUMP_FACTOR = 1.5
METHODS = ("replay", "replay+bank", "graph+bank", "real+bank")


@dataclass
class FootageScore:
    method: str
    frames: int = 0
    psnr: float = math.nan
    ssim: float = math.nan
    lmd: float = math.nan
    sharp: float = math.nan
    open_r: float = math.nan
    jumps: int = 0
    jump_ratio: float = math.nan
    s_per_s: float = math.nan


@dataclass
class FootageEval:
    video: str
    seconds: float
    prepared_s: float          # seconds of footage prepared
    prep_wall_s: float         # wall time of the preparation
    bank: str                  # "own (N mouths)" or "shipped"
    target_r: float = math.nan  # r of the target inner-lip opening (from the audio) with the real one
    scores: list[FootageScore] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def cut_clip(src: str | Path, dst: str | Path, start: int, end: int) -> Path:
    """Frames [start, end) of `src` and their sound written to MP4 `dst` (near-lossless H.264 + AAC)."""
    from ..audio.io import AudioError, load_audio
    from ..face.footage import video_frames, video_info
    from ..media.writer import VideoWriter

    fps, w, h, _ = video_info(src)
    rate = max(1, int(round(fps)))
    sr = 48_000
    try:
        audio = load_audio(src, sr)
    except AudioError:
        audio = np.zeros(0, np.float32)
    with VideoWriter(dst, w - w % 2, h - h % 2, rate, sr, crf=12, preset="veryfast") as wr:
        for i, f in enumerate(video_frames(src)):
            if i >= end:
                break
            if i >= start:
                wr.write_frame(np.ascontiguousarray(f[: h - h % 2, : w - w % 2]))
        wr.write_audio(audio[int(start * sr / fps): int(end * sr / fps)])
    return Path(dst)


def _landmarks(frames: Sequence[np.ndarray]) -> np.ndarray:
    from ..face.detect import reset_tracking, try_detect_landmarks

    reset_tracking()
    out = [try_detect_landmarks(np.ascontiguousarray(f)) for f in frames]
    return np.stack([p[:, :2] if p is not None else np.full((478, 2), np.nan) for p in out]).astype(np.float64)


def mouth_crops(frames: Sequence[np.ndarray], L: np.ndarray) -> list[np.ndarray | None]:
    """The `CROP` px mouth crop of each frame by its own face pose (None where no face)."""
    import cv2

    from ..face.crop import crop_matrix, face_pose

    out = []
    for f, p in zip(frames, L):
        if not np.isfinite(p).all():
            out.append(None)
            continue
        m = crop_matrix(face_pose(p), CROP)
        out.append(cv2.warpAffine(f, m, (CROP, CROP), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE))
    return out


def frame_jumps(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Mean absolute grey-level difference of each frame from the one before (len(frames) - 1,)."""
    import cv2

    g = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.int16) for f in frames]
    return np.array([float(np.abs(b - a).mean()) for a, b in zip(g, g[1:])])


def score(method: str, real: Sequence[np.ndarray], real_L: np.ndarray, gen: Sequence[np.ndarray],
          gen_L: np.ndarray, wall_s: float, fps: float) -> FootageScore:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from . import metrics as M

    s = FootageScore(method, len(gen))
    rc, gc = mouth_crops(real, real_L), mouth_crops(gen, gen_L)
    both = [i for i in range(len(gen)) if rc[i] is not None and gc[i] is not None]
    if both:
        s.psnr = float(np.mean([peak_signal_noise_ratio(rc[i], gc[i], data_range=255) for i in both]))
        s.ssim = float(np.mean([structural_similarity(rc[i], gc[i], channel_axis=2, data_range=255) for i in both]))
        r = np.mean([M.laplacian_variance(rc[i]) for i in both])
        s.sharp = float(np.mean([M.laplacian_variance(gc[i]) for i in both]) / r) if r > 1e-9 else math.nan
    ok = np.flatnonzero(M.valid_frames(real_L))
    if ok.size:
        ref = M.canonical(real_L[ok[0]])
        s.lmd = M.lmd(M.align_sequence(gen_L, ref), M.align_sequence(real_L, ref))
    s.open_r = M.pearson(M.mouth_opening(gen_L), M.mouth_opening(real_L))
    jr, jg = frame_jumps(real), frame_jumps(gen)
    if jr.size and jg.size:
        s.jumps = int((jg > JUMP_FACTOR * jr.max()).sum())
        s.jump_ratio = float(jg.max() / max(jr.max(), 1e-9))
    s.s_per_s = wall_s / max(len(gen) / fps, 1e-9)
    return s


def target_shapes(avatar, audio: np.ndarray, sr: int, fps: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Canonical inner-lip contours (count, 20, 2) for the held-out audio, and their openings (IOD): the
    learned model's jaw opening, mapped by rank onto the prepared frames' own inner-lip openings and shapes
    (a frame at rest onto the closed mouth)."""
    from ..motion.audio import AudioMotion
    from ..mouthbank import to_canonical
    from ..render.footage import REST_JAW, ranks

    track = AudioMotion("learned").animate_audio(audio, sr, fps=int(round(fps)), frames=count)
    jaw = np.asarray(track.values["jaw"], np.float64)[:count]
    f = avatar.track.features
    good = np.flatnonzero(avatar.track.good & np.isfinite(f["opening"]))
    order = good[np.argsort(f["opening"][good], kind="stable")]
    # As the footage renderer maps it (`render.footage.FootageRenderer.targets`): a frame at rest gets the
    # closed mouth, a speaking frame the opening of its rank among the speaking frames.
    speaking = jaw > REST_JAW
    rank = np.zeros(len(jaw))
    if speaking.any():
        rank[speaking] = ranks(jaw[speaking])
    pick = order[np.clip(np.round(rank * (len(order) - 1)).astype(int), 0, len(order) - 1)]
    return np.stack([to_canonical(f["lips"][k]) for k in pick]), f["opening"][pick]


def replay_order(n_prepared: int, count: int) -> np.ndarray:
    """Prepared frame to play for each output frame: forwards, then backwards, and so on."""
    period = max(2 * n_prepared - 2, 1)
    t = np.arange(count) % period
    return np.where(t < n_prepared, t, period - t)


def render_baseline(avatar, prepared: Sequence[np.ndarray], audio: np.ndarray, sr: int, count: int,
                    ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """(replay frames, replay+bank frames, target openings) for `count` output frames (see the module)."""
    from ..mouthbank import corner_similarity, descriptor, paste, retrieve

    fps = avatar.track.fps
    order = replay_order(len(prepared), count)
    shapes, opening = target_shapes(avatar, audio, sr, fps, count)
    bank = avatar.mouth_bank()
    lips = avatar.track.features["lips"]
    path = retrieve(bank, np.stack([descriptor(s) for s in shapes]))
    replay, dubbed = [], []
    for t, k in enumerate(order):
        frame = prepared[k]
        replay.append(frame)
        out = frame.copy()
        if avatar.track.good[k]:
            m = corner_similarity(lips[k].astype(np.float64))
            inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
            contour = shapes[t] @ inv[:, :2].T + inv[:, 2]
            e = int(path[t])
            paste(out, contour, bank.crop(e), bank.shapes[e], bank.light[e])
        dubbed.append(out)
    return replay, dubbed, opening


def render_graph(avatar, prepared: Sequence[np.ndarray], audio: np.ndarray, sr: int, count: int,
                 config=None) -> list[np.ndarray]:
    """graph+bank frames for `count` output frames: `render.footage.FootageRenderer` over the prepared
    footage, driven by the learned audio-to-motion model on `audio` (see the module)."""
    from ..motion.audio import AudioMotion
    from ..motion.graph import speech_onsets
    from ..render.footage import FootageRenderer, FrameStore

    fps = avatar.track.fps
    motion = AudioMotion("learned").animate_audio(audio, sr, fps=int(round(fps)), frames=count)
    renderer = FootageRenderer(avatar.track, FrameStore.from_frames(prepared, avatar.track.good),
                               avatar.mouth_bank(), config)
    return list(renderer.frames(motion, speech_onsets(audio, sr, fps, count)))


def render_on_real(avatar, prepared: Sequence[np.ndarray], real: Sequence[np.ndarray], real_L: np.ndarray,
                   audio: np.ndarray, sr: int) -> list[np.ndarray]:
    """real+bank frames: the held-out frames themselves, their lips, chin and jaw warped to the mouth the
    learned audio-to-motion model gives for `audio` (`FootageRenderer.targets`, in the person's own
    proportions) and the person's own mouth pasted inside (the footage renderer's steps 2-4, without its
    re-timing). Head, eyes and everything outside the lower face are the real frame's, as in the
    published few-minute methods' evaluations, which render with the held-out part's own head pose: the
    figures judge the mouth alone. Frames without a face are the real frame untouched."""
    from ..motion.audio import AudioMotion
    from ..mouthbank import CONTOUR, descriptor, paste, retrieve
    from ..render.footage import FootageRenderer, FrameStore, _place, jaw_warp

    fps = avatar.track.fps
    count = len(real)
    motion = AudioMotion("learned").animate_audio(audio, sr, fps=int(round(fps)), frames=count)
    bank = avatar.mouth_bank()
    renderer = FootageRenderer(avatar.track, FrameStore.from_frames(prepared, avatar.track.good), bank)
    shapes, _ = renderer.targets(motion)
    path = retrieve(bank, np.stack([descriptor(x) for x in shapes])) if count else np.zeros(0, np.int64)
    own = avatar.meta.get("mouths", {}).get("source") == "own"
    out = []
    for t, frame in enumerate(real):
        L = real_L[t]
        if not np.isfinite(L).all():
            out.append(frame)
            continue
        target = _place(shapes[t], L[list(CONTOUR)])
        img, _ = jaw_warp(frame, L, target, renderer.cfg.chin_follow, renderer.cfg.upper_follow)
        img = np.array(img, copy=True)
        e = int(path[t])
        paste(img, target, bank.crop(e), bank.shapes[e], bank.light[e], inset=0.0 if own else None)
        out.append(img)
    return out


def evaluate_footage(video: str | Path, *, work: str | Path | None = None,
                     progress: Callable[[str], None] | None = None) -> FootageEval:
    """Prepare on the first two thirds of `video`, dub the last third from its own audio, compare (see module)."""
    from ..audio.io import load_audio
    from ..face.avatar import add_avatar
    from ..face.footage import video_frames, video_info

    video = Path(video)
    say = progress or (lambda s: None)
    fps, _, _, n_est = video_info(video)
    frames = list(video_frames(video))
    n = len(frames)
    if n < 4 * fps:
        raise AvatarkitError(f"{video}: {n / fps:.1f} s is too short to judge a footage avatar; "
                             f"use at least 4 s (two thirds are prepared, one third held out); 30 s or more is better")
    split = n * 2 // 3
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        tmp = Path(tmp)
        say("cutting the first two thirds")
        prep = cut_clip(video, tmp / "prepare.mp4", 0, split)
        (tmp / "consent.txt").write_text("evaluation of held-out footage\n")
        say("preparing")
        t0 = time.perf_counter()
        avatar = add_avatar("eval", prep, tmp / "consent.txt", home=tmp / "home")
        prep_wall = time.perf_counter() - t0
        m = avatar.meta.get("mouths", {})
        bank = f"own ({m.get('entries', 0)} mouths)" if m.get("source") == "own" else "shipped"
        prepared = list(video_frames(avatar.footage))
        sr = 16_000
        audio = load_audio(video, sr)[int(split * sr / fps): int(n * sr / fps)]
        real = frames[split:]
        count = len(real)
        say("dubbing the last third")
        t0 = time.perf_counter()
        replay, dubbed, opening = render_baseline(avatar, prepared, audio, sr, count)
        wall = time.perf_counter() - t0
        say("dubbing the last third with the motion graph")
        t0 = time.perf_counter()
        graph = render_graph(avatar, prepared, audio, sr, count)
        wall_graph = time.perf_counter() - t0
        say("measuring")
        real_L = _landmarks(real)
        say("dubbing the last third's own frames")
        t0 = time.perf_counter()
        on_real = render_on_real(avatar, prepared, real, real_L, audio, sr)
        wall_real = time.perf_counter() - t0
        result = FootageEval(str(video), n / fps, split / fps, prep_wall, bank)
        from . import metrics as M

        result.target_r = M.pearson(opening, M.mouth_opening(real_L))
        for name, gen, w in (("replay", replay, 0.0), ("replay+bank", dubbed, wall), ("graph+bank", graph, wall_graph),
                             ("real+bank", on_real, wall_real)):
            result.scores.append(score(name, real, real_L, gen, _landmarks(gen), w, fps))
    return result


def table(results: Sequence[FootageEval]) -> str:
    def f(x, d=3):
        return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{d}f}"

    lines = [f"{'video':34} {'prep':>10} {'bank':>17} {'method':12} {'psnr':>6} {'ssim':>6} {'lmd':>6} "
             f"{'sharp':>6} {'open_r':>6} {'jumps':>5} {'jmax':>5} {'s/s':>6} {'tgt_r':>6}"]
    for r in results:
        prep = f"{r.prep_wall_s:.1f}/{r.prepared_s:.0f}s"
        for s in r.scores:
            lines.append(f"{Path(r.video).name[:34]:34} {prep:>10} {r.bank:>17} {s.method:12} {f(s.psnr, 2):>6} "
                         f"{f(s.ssim):>6} {f(s.lmd):>6} {f(s.sharp, 2):>6} {f(s.open_r, 2):>6} {s.jumps:5d} "
                         f"{f(s.jump_ratio, 2):>5} {f(s.s_per_s, 2):>6} {f(r.target_r, 2):>6}")
    return "\n".join(lines)
