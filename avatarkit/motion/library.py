"""A small library of real head, brow and blink motion, and the replay that drives a head with it.

Built from presenters speaking to camera (`../shared/media/talking/usgov_*`,
see `docs/licences.md`), measured with MediaPipe (`motion.measure`):

* **segments**: 2.24 s windows (hop 1 s) of yaw, pitch, roll (radians) and
  brow raise (channel units), at 25 fps, each speaker's mean pose
  subtracted, lightly smoothed (Gaussian, sigma 1.2 frames) to remove
  landmark jitter; each tagged with the speech it was recorded under
  (`speaking` share of frames, mean `loud`ness 0..1 in the clip's own range,
  speech `onsets`);
* **blink intervals**: the intervals between consecutive blinks in those
  clips, each over its speaker's mean interval (so the one speaker who
  blinks most does not set the rate), and `blink_period`, the mean interval
  from the speakers' blink rates averaged;
* **gains**: how much faster the head moves while speaking than in pauses,
  and in the half second after a speech onset than in running speech.

The held-out presenters (`HELD_OUT`, the same ones the mouth bank holds out)
are never used. `python -m avatarkit.motion.library SHARED_MEDIA_DIR`
rebuilds `data/motion_library.npz` and writes the command and seed to
`data/motion_library.json`.

Replay (`replay_head`, `replay_blinks`) is a pure function of the global
frame index, like `motion.idle`: time is cut into 2 s slots; slot k plays a
segment chosen by a seeded hash among the few whose first pose is nearest
the previous segment's pose at the join, and the two are crossfaded over
`CROSSFADE_S`. So any stretch of a video computes the same motion as the
whole, and phrases join without jumps.
"""

from __future__ import annotations

import json
import sys
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from .idle import BLINK_SHAPE, BLINK_SHAPE_S, _hash01

DATA = Path(__file__).parent / "data" / "motion_library.npz"
RATE = 25                      # library frames per second
SLOT_S = 2.0                   # one segment per slot
CROSSFADE_S = 0.24             # segments overlap this long at a join
SEG_S = SLOT_S + CROSSFADE_S
HOP_S = 1.0
SMOOTH_FRAMES = 1.2            # Gaussian sigma removing FaceMesh jitter
BROW_UNIT = 0.09               # brow raise (IOD) of the renderer's brows channel at 1.0
CANDIDATES = 6                 # a join picks the nearest of this many segments drawn at random
SEED = 0
TRAIN = ("usgov_EDTalk_pose_source2", "usgov_RD_Radio2_000", "usgov_WDA_BobMenendez_000",
         "usgov_WDA_EdMarkey0_000", "usgov_styletalk_KristiNoem_muxed", "usgov_styletalk_reagan_clip1_muxed")
HELD_OUT = ("usgov_WDA_KatieHill_000", "usgov_RD_Radio34_000")


def _smooth(x: np.ndarray, sigma: float = SMOOTH_FRAMES) -> np.ndarray:
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    return np.convolve(np.pad(x, r, mode="edge"), k, "valid")


def clip_channels(clip) -> dict[str, np.ndarray]:
    """A measured `PoseClip` at `RATE`: smoothed, mean pose subtracted; brows in channel units; speech state."""
    from .measure import resample

    out = {}
    for c in ("yaw", "pitch", "roll"):
        v = resample(getattr(clip, c), clip.fps, RATE)
        out[c] = _smooth(v - np.mean(v))
    b = resample(clip.brow, clip.fps, RATE)
    out["brows"] = np.clip(_smooth((b - np.percentile(b, 30)) / BROW_UNIT), 0.0, 1.0)
    loud = resample(clip.loud, clip.fps, RATE)
    hi = np.percentile(loud, 95)
    out["loud"] = np.clip((loud - (hi - 30.0)) / 30.0, 0.0, 1.0)
    out["speaking"] = (loud > hi - 25.0).astype(np.float64)
    return out


def build(clips: dict, seed: int = SEED) -> dict[str, np.ndarray]:
    """Library arrays from measured clips (name -> `PoseClip`) of the training presenters."""
    from .measure import blinks

    seg_n, hop_n = int(round(SEG_S * RATE)), int(round(HOP_S * RATE))
    segs, tags, speakers, intervals, rates = [], [], [], [], []
    speak_v, pause_v, onset_v = [], [], []
    for si, name in enumerate(TRAIN):
        clip = clips[name]
        ch = clip_channels(clip)
        pose = np.stack([ch["yaw"], ch["pitch"], ch["roll"]])
        speed = np.linalg.norm(np.diff(pose, axis=1), axis=0) * RATE
        spk = ch["speaking"][1:] > 0.5
        onsets = np.flatnonzero(np.diff(ch["speaking"]) > 0.5) + 1
        speak_v.append(speed[spk])
        pause_v.append(speed[~spk])
        for o in onsets:
            onset_v.append(speed[o:o + RATE // 2])
        b = blinks(clip.eye, clip.fps) / clip.fps
        rates.append(len(b) / (len(clip.eye) / clip.fps))
        if len(b) > 1:
            intervals.extend((np.diff(b) / np.diff(b).mean()).tolist())
        for a in range(0, pose.shape[1] - seg_n + 1, hop_n):
            segs.append(np.concatenate([pose[:, a:a + seg_n], ch["brows"][None, a:a + seg_n]]))
            tags.append([ch["speaking"][a:a + seg_n].mean(), ch["loud"][a:a + seg_n].mean(),
                         ((onsets >= a) & (onsets < a + seg_n)).sum()])
            speakers.append(si)
    speak_mean = float(np.mean(np.concatenate(speak_v)))
    return {
        "segments": np.array(segs, np.float16),             # (S, 4: yaw pitch roll brows, frames)
        "tags": np.array(tags, np.float16),                 # speaking share, loudness, onsets
        "speaker": np.array(speakers, np.int8),
        "blink_intervals": np.array(sorted(intervals), np.float16),   # over the speaker's mean interval
        "blink_period": np.float32(1.0 / np.mean(rates)),
        "pause_gain": np.float32(np.mean(np.concatenate(pause_v)) / speak_mean),
        "onset_gain": np.float32(np.mean(np.concatenate(onset_v)) / speak_mean),
        "rate": np.int16(RATE), "seed": np.int32(seed),
    }


@lru_cache(maxsize=1)
def load(path: str | None = None) -> dict[str, np.ndarray]:
    """The shipped library (arrays as float64)."""
    with np.load(path or DATA) as z:
        return {k: (z[k].astype(np.float64) if z[k].dtype.kind == "f" else z[k]) for k in z.files}


_CHAINS: dict[int, list[int]] = {}
_LOCK = threading.Lock()      # the walks and blink times are extended in place


def _chain(seed: int, upto: int) -> list[int]:
    """Segment index of slots 0..upto: a seeded walk joining each segment to one that starts near its end."""
    with _LOCK:
        return list(_extend_chain(seed, upto))


def _extend_chain(seed: int, upto: int) -> list[int]:
    lib = load()
    seg = lib["segments"]
    slot_n = int(round(SLOT_S * RATE))
    chain = _CHAINS.setdefault(seed, [])
    starts, ends = seg[:, :3, 0], seg[:, :3, slot_n]
    while len(chain) <= upto:
        k = len(chain)
        # Candidates drawn at random (not the nearest of all, which would favour the calm segments
        # crowded about the rest pose); the one starting nearest the join wins.
        cand = (_hash01(seed, k * CANDIDATES + np.arange(CANDIDATES), 11) * len(seg)).astype(np.int64)
        cand = np.array([c for c in cand if c not in chain[-2:]] or cand)
        at = np.zeros(3) if not chain else ends[chain[-1]]
        chain.append(int(cand[np.argmin(np.linalg.norm(starts[cand] - at, axis=1))]))
    return chain


def replay_head(frames: np.ndarray, fps: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Yaw, pitch, roll (radians) and brows (0..1) of real motion at global frame indices `frames`."""
    lib = load()
    seg = lib["segments"]
    t = np.asarray(frames, np.float64) / fps
    slot = np.floor(t / SLOT_S).astype(np.int64)
    chain = np.array(_chain(seed, int(slot.max(initial=0)) + 1))
    tau = t - slot * SLOT_S                               # time into this slot's segment
    frames_n = seg.shape[2]
    grid = np.arange(frames_n) / RATE

    def at(idx, when):
        out = np.empty((4, len(when)))
        for j in np.unique(idx):
            m = idx == j
            for c in range(4):
                out[c, m] = np.interp(when[m], grid, seg[j, c])
        return out

    cur = at(chain[slot], tau)
    # The first CROSSFADE_S of a slot: the previous segment runs on past its slot and fades out.
    fade = tau < CROSSFADE_S
    if fade.any():
        prev_slot = np.maximum(slot[fade] - 1, 0)
        prev = at(chain[prev_slot], tau[fade] + SLOT_S)
        w = np.clip(tau[fade] / CROSSFADE_S, 0, 1)
        w = w * w * (3 - 2 * w)
        w = np.where(slot[fade] == 0, 1.0, w)
        cur[:, fade] = w * cur[:, fade] + (1 - w) * prev
    return {"yaw": cur[0], "pitch": cur[1], "roll": cur[2], "brows": np.clip(cur[3], 0, 1)}


_BLINKS: dict[int, list[float]] = {}


def _blink_times(seed: int, until: float) -> np.ndarray:
    with _LOCK:
        return _extend_blinks(seed, until)


def _extend_blinks(seed: int, until: float) -> np.ndarray:
    lib = load()
    iv, period = lib["blink_intervals"], float(lib["blink_period"])
    times = _BLINKS.setdefault(seed, [])
    while not times or times[-1] < until:
        j = len(times)
        gap = iv[int(_hash01(seed, np.array([j]), 21)[0] * len(iv))]
        times.append((times[-1] if times else 0.3) + max(0.4, float(gap) * period))
    return np.array(times)


def replay_blinks(frames: np.ndarray, fps: int, seed: int = 0) -> np.ndarray:
    """Eyelid closure (0..1) at global frame indices, blinks spaced as the real presenters' were."""
    t = np.asarray(frames, np.float64) / fps
    if t.size == 0:
        return np.zeros(0, np.float32)
    times = _blink_times(seed, float(t.max()) + 1.0)
    out = np.zeros_like(t)
    for s in times[(times > t.min() - 1.0) & (times <= t.max() + 0.1)]:
        out = np.maximum(out, np.interp(t - s, BLINK_SHAPE_S, BLINK_SHAPE, left=0.0, right=0.0))
    return out.astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    """`python -m avatarkit.motion.library MEDIA_DIR [--seed N]`: measure the training presenters, write the library."""
    import argparse

    from .measure import measure_clip

    ap = argparse.ArgumentParser(prog="python -m avatarkit.motion.library", description=main.__doc__)
    ap.add_argument("media", help="folder of the talking clips (../shared/media/talking)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", default=str(DATA))
    a = ap.parse_args(argv)
    media = Path(a.media)
    clips = {}
    for name in TRAIN:
        path = next(media.glob(name + ".*"))
        print(f"measuring {path.name}", file=sys.stderr)
        clips[name] = measure_clip(path)
    arrays = build(clips, a.seed)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    meta = {"command": "python -m avatarkit.motion.library ../shared/media/talking --seed " + str(a.seed),
            "seed": a.seed, "train": list(TRAIN), "held_out": list(HELD_OUT),
            "segments": int(arrays["segments"].shape[0]), "rate": RATE, "segment_s": SEG_S, "hop_s": HOP_S,
            "pause_gain": float(arrays["pause_gain"]), "onset_gain": float(arrays["onset_gain"]),
            "blink_intervals": int(arrays["blink_intervals"].size), "blink_period_s": float(arrays["blink_period"]),
            "sources": "../shared/media/talking/SOURCES.md; licences in docs/licences.md"}
    out.with_name("motion_library.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes, {meta['segments']} segments)", file=sys.stderr)


if __name__ == "__main__":
    main()
