"""A motion graph over prepared footage: the person's own frames re-timed for new speech.

Nodes are the usable frames of a `face.footage.FootageTrack`. Playing on
from frame `a` to `a + 1` is free; a **cut** from `a` to `b` is allowed only
when the frames that would follow (`a + 1, ..., a + blend`) look like `b, ...,
b + blend - 1` in head placement and motion: the positions of points that
do not move with speech (eye corners, nose, forehead, cheeks) and their
velocity, in inter-ocular distances (IOD) of the footage. Across a cut the
two streams are cross-faded for `blend` frames, and no frame on either side
of a cut may be in a blink. The stretch played after a cut never overlaps
the stretch played just before it (no footage reused back to back), and
footage played recently costs more than fresh footage.

Where no cut is possible (short footage, a run of usable frames that ends),
the plan turns round at the stillest frame in reach and plays backwards (a
`reverse` cut, free of any jump); a turn is preceded by a short **hold** only
where the head is still and both eyes are open. Speech onsets of the new
audio (`speech_onsets`) pull the choice of cuts towards footage where the
head moves at those moments, so emphasis in the new speech meets a nod in
the footage.

Everything is deterministic for a given `seed` (the seed only breaks near
ties). Units: frames of the footage and of the output (same rate), lengths in
IOD, `motion` in IOD per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..face import landmarks as lm

# Points that speech does not move: eye corners, nose tip and bridge, forehead, cheeks at the ears.
ANCHORS = lm.LEFT_EYE_CORNERS + lm.RIGHT_EYE_CORNERS + (lm.NOSE_TIP, 168, 6, lm.FOREHEAD, 234, 454)


@dataclass(frozen=True)
class GraphConfig:
    """Tuning of the motion graph (frames at the footage's rate; lengths in IOD)."""

    tolerance: float = 0.035       # max RMS distance of the anchors (and their velocity) across a cut, IOD
    velocity_weight: float = 3.0   # how much a velocity difference counts against a position difference
    blend: int = 4                 # frames of cross-fade across a cut
    min_segment: int = 15          # shortest stretch played between cuts
    max_segment: int = 60          # longest stretch before a cut is sought
    neighbours: int = 12           # candidate targets looked at per possible cut
    reuse_s: float = 6.0           # seconds over which a played frame still counts as recently used
    reuse_weight: float = 1.0
    onset_weight: float = 1.0      # pull towards head motion at speech onsets
    hold_speed: float = 0.004      # IOD per frame: head still enough to hold
    max_hold: int = 6              # frames
    eye_open: float = 0.8          # share of the footage's median eye opening that counts as open
    noise: float = 0.15            # random share of the score (seeded), so plans differ by seed


@dataclass
class Cut:
    """A discontinuity of the plan: output frame `at` is the first that shows `to` (after `from_`)."""

    at: int
    from_: int
    to: int
    cost: float          # RMS anchor distance (position and weighted velocity) across the cut, IOD
    kind: str            # "blend" (cross-faded cut), "reverse" (turn round) or "hold" (a still frame repeated)
    direction: int = 1   # the way `from_` was being played: +1 forwards, -1 backwards


@dataclass
class GraphPlan:
    """For each output frame, the source frame to show, and (during a cross-fade) the frame it fades from.

    Output frame `t` is `(1 - blend_weight[t]) * source[t] + blend_weight[t] * blend_from[t]`; `blend_from`
    is -1 (weight 0) outside cross-fades."""

    source: np.ndarray            # (n,) int64 source frame per output frame
    blend_from: np.ndarray        # (n,) int64, -1 where no blend
    blend_weight: np.ndarray      # (n,) float32 0..1, weight of `blend_from`
    cuts: list[Cut] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.source.shape[0])

    def segments(self) -> list[tuple[int, int, int]]:
        """(first output frame, first source frame, length) of each stretch played without a cut."""
        out, start = [], 0
        for t in range(1, len(self) + 1):
            if t == len(self) or self.source[t] != self.source[t - 1] + 1:
                out.append((start, int(self.source[start]), t - start))
                start = t
        return out


@dataclass
class FootageNodes:
    """What the graph knows of each footage frame (`from_track`)."""

    anchors: np.ndarray        # (N, len(ANCHORS), 2) anchor positions in IOD units (NaN on unusable frames)
    usable: np.ndarray         # (N,) bool: usable and not in a blink (a cut may start or land here)
    playable: np.ndarray       # (N,) bool: usable (may be played within a stretch, blinks included)
    still: np.ndarray          # (N,) bool: head still and eyes open (may be held)
    motion: np.ndarray         # (N,) head speed, IOD per frame (0 on unusable frames)
    fps: float = 25.0

    @property
    def frames(self) -> int:
        return int(self.usable.shape[0])

    @classmethod
    def from_track(cls, track, config: GraphConfig | None = None) -> "FootageNodes":
        """From a `FootageTrack` (landmarks, usable frames, and its `blink`/`eyes` features when present)."""
        from ..face.crop import face_pose, pose_iod

        cfg = config or GraphConfig()
        L = np.asarray(track.landmarks, np.float64)
        good = np.asarray(track.good, bool).copy()
        n = good.shape[0]
        iods = [pose_iod(face_pose(L[i])) for i in np.flatnonzero(good)]
        scale = float(np.median(iods)) if iods else 1.0
        P = L[:, list(ANCHORS), :2] / scale
        P[~good] = np.nan
        f = getattr(track, "features", {}) or {}
        blink = np.asarray(f.get("blink", np.zeros(n, bool)), bool)[:n]
        # A blink spoils its neighbours too: lids move for a frame either side.
        near_blink = blink | np.r_[blink[1:], False] | np.r_[False, blink[:-1]]
        speed = np.zeros(n)
        step = np.sqrt(np.nanmean(np.sum(np.diff(P, axis=0) ** 2, axis=2), axis=1)) if n > 1 else np.zeros(0)
        step = np.nan_to_num(step, nan=0.0)
        if n > 1:
            speed[1:] = step
            speed[:-1] = np.maximum(speed[:-1], step)
        eyes = np.asarray(f.get("eyes", np.full((n, 2), np.nan)), np.float64)[:n]
        eye = np.nanmin(eyes, axis=1) if np.isfinite(eyes).any() else np.full(n, np.nan)
        ref = float(np.nanmedian(eye)) if np.isfinite(eye).any() else np.nan
        open_ = ~np.isfinite(eye) | (eye >= cfg.eye_open * ref) if np.isfinite(ref) else np.ones(n, bool)
        usable = good & ~near_blink
        still = usable & (speed <= cfg.hold_speed) & open_
        return cls(P, usable, good, still, np.where(good, speed, 0.0), float(getattr(track, "fps", 25.0)))


def speech_onsets(audio: np.ndarray, sample_rate: int, fps: float, frames: int) -> np.ndarray:
    """Per output frame, how strongly speech starts there (0..1): the rise of the short-term level
    (dB over 0.1 s) above the quietest of the preceding 0.25 s, where the level is within 30 dB of the
    recording's loud parts; 0 elsewhere."""
    x = np.asarray(audio, np.float64).ravel()
    hop = sample_rate / fps
    idx = (np.arange(frames + 1) * hop).astype(np.int64)
    e = np.array([np.mean(x[a:b] ** 2) if b > a else 0.0 for a, b in zip(idx[:-1], np.minimum(idx[1:], x.size))])
    db = 10 * np.log10(e + 1e-10)
    if not db.size:
        return np.zeros(0, np.float32)
    loud = np.percentile(db, 95)
    k = max(1, int(round(0.1 * fps)))
    smooth = np.convolve(db, np.ones(k) / k, mode="same")
    back = max(2, int(round(0.25 * fps)))
    low = np.array([smooth[max(0, t - back):t].min() if t else smooth[0] for t in range(frames)])
    rise = np.clip((smooth - low) / 20.0, 0, 1) * (smooth > loud - 30)
    # Keep only the first frame of each local peak (or plateau), so one onset is one event.
    peak = np.r_[True, rise[1:] > rise[:-1]] & np.r_[rise[:-1] >= rise[1:], True]
    return np.where(peak, rise, 0.0).astype(np.float32)


class MotionGraph:
    """Plans which footage frames to show for `n` output frames (see the module)."""

    def __init__(self, nodes: FootageNodes, config: GraphConfig | None = None):
        from scipy.spatial import cKDTree

        self.nodes, self.cfg = nodes, config or GraphConfig()
        P = nodes.anchors
        n = nodes.frames
        vel = np.full_like(P, np.nan)
        if n > 2:
            vel[1:-1] = (P[2:] - P[:-2]) / 2
        self.pos, self.vel = P, vel
        ok = nodes.usable & np.isfinite(vel).all(axis=(1, 2))
        self.ok = ok
        # Forward runs: how many usable frames follow each frame (itself included), and precede it.
        ahead = np.zeros(n + 1, np.int64)
        for i in range(n - 1, -1, -1):
            ahead[i] = ahead[i + 1] + 1 if nodes.playable[i] else 0
        behind = np.zeros(n + 1, np.int64)
        for i in range(n):
            behind[i + 1] = behind[i] + 1 if nodes.playable[i] else 0
        self.ahead, self.behind = ahead[:n], behind[1:]
        self.keys = np.flatnonzero(ok)
        feats = self._features(self.keys, +1)
        self.tree = cKDTree(feats) if len(self.keys) else None
        self.dims = len(ANCHORS)

    def _features(self, idx: np.ndarray, direction: int) -> np.ndarray:
        w = self.cfg.velocity_weight
        p, v = self.pos[idx], self.vel[idx] * direction
        return np.concatenate([p.reshape(len(idx), -1), w * v.reshape(len(idx), -1)], axis=1)

    def distance(self, a: int, b: int, direction: int = 1) -> float:
        """RMS anchor distance (position and weighted velocity, IOD) between frame `a` played in `direction`
        and frame `b` played forwards; inf where either is not a node."""
        if not (self.ok[a] and self.ok[b]):
            return float("inf")
        fa, fb = self._features(np.array([a]), direction)[0], self._features(np.array([b]), 1)[0]
        return float(np.linalg.norm(fa - fb) / np.sqrt(self.dims))

    def _run(self, s: int, d: int) -> int:
        """Usable frames from `s` on in direction `d`, `s` included."""
        return int(self.ahead[s] if d > 0 else self.behind[s])

    def plan(self, n: int, onsets: np.ndarray | None = None, seed: int = 0, start: int | None = None) -> GraphPlan:
        """The frames to show for `n` output frames; `onsets` (n,) from `speech_onsets` (or None)."""
        from ..errors import FaceError

        cfg, nodes = self.cfg, self.nodes
        rng = np.random.default_rng(seed)
        onsets = np.zeros(n, np.float32) if onsets is None else np.asarray(onsets, np.float32)[:n]
        onsets = np.concatenate([onsets, np.zeros(max(0, n - onsets.size), np.float32)])
        if not nodes.playable.any():
            raise FaceError("no usable footage frame to re-time")
        longest = int(self.ahead.max())
        B = max(0, min(cfg.blend, longest // 4))
        min_seg = max(2, min(cfg.min_segment, longest // 2))
        max_seg = max(min_seg + 1, cfg.max_segment)
        motion = nodes.motion / max(float(np.percentile(nodes.motion[nodes.playable], 90)), 1e-6)
        motion = np.clip(motion, 0, 1)
        fps_reuse = cfg.reuse_s * nodes.fps
        last_used = np.full(nodes.frames, -1e9)

        source = np.zeros(n, np.int64)
        blend_from = np.full(n, -1, np.int64)
        weight = np.zeros(n, np.float32)
        cuts: list[Cut] = []
        if start is None:
            starts = np.flatnonzero(self.ahead >= min_seg + B)
            start = int(starts[0]) if starts.size else int(np.argmax(self.ahead))
        s, d, t = int(start), 1, 0
        prev_span = (s, s)          # source frames of the stretch played before the current one
        while t < n:
            run = self._run(s, d)
            # Where the current stretch may end: a cut needs `B` more frames after its last one.
            lo = min(min_seg, run) - 1
            hi = min(max_seg, run - B) - 1
            if t + lo + 1 >= n:          # the output ends inside this stretch
                hi = lo = max(0, min(n - t, run) - 1)
            best = None
            if hi >= lo and t + lo + 1 < n and self.tree is not None:
                ends = np.arange(lo, hi + 1)
                afters = s + d * (ends + 1)
                valid = (afters >= 0) & (afters < nodes.frames)
                ends, afters = ends[valid], afters[valid]
                valid = self.ok[afters]
                ends, afters = ends[valid], afters[valid]
                if ends.size:
                    q = self._features(afters, d)
                    dist, nb = self.tree.query(q, k=min(cfg.neighbours, len(self.keys)))
                    dist = np.atleast_2d(dist) / np.sqrt(self.dims)
                    nb = np.atleast_2d(nb)
                    cur_span = (min(s, s + d * (hi + B)), max(s, s + d * (hi + B)))
                    for row, L in enumerate(ends):
                        a = s + d * L
                        te = t + L + 1
                        for dd, j in zip(dist[row], nb[row]):
                            if not np.isfinite(dd) or dd > cfg.tolerance:
                                break
                            b = int(self.keys[j])
                            if self.ahead[b] < 2 * min_seg + B:     # room to find the next cut before the run ends
                                continue
                            span = (b, b + min_seg + B - 1)
                            if _overlap(span, cur_span) or _overlap(span, prev_span):
                                continue
                            # Both sides of the cross-fade: similar throughout, and no blink in either.
                            window = max((self.distance(a + d * (1 + k), b + k, d) for k in range(B)), default=dd)
                            if window > 1.5 * cfg.tolerance:
                                continue
                            w = min(min_seg, n - te)
                            align = float(np.dot(onsets[te:te + w], motion[b:b + w])) if w > 0 else 0.0
                            recent = float(np.mean(np.exp(-(t - last_used[b:b + min_seg]) / fps_reuse)))
                            score = (dd / cfg.tolerance + cfg.reuse_weight * recent - cfg.onset_weight * align
                                     + cfg.noise * rng.random())
                            if best is None or score < best[0]:
                                best = (score, L, a, b, dd)
            if best is None:
                # Play on as far as allowed; turn round at the stillest frame in reach (a hold first if allowed).
                L_max = max(0, min(max_seg, run) - 1)
                if t + L_max + 1 >= n:
                    L = min(n - t, run) - 1
                    self._emit(source, last_used, t, s, d, L + 1)
                    t += L + 1
                    break
                cand = np.arange(max(0, min(lo, L_max)), L_max + 1)
                frames_ = s + d * cand
                L = int(cand[int(np.argmin(nodes.motion[frames_]))]) if cand.size else 0
                self._emit(source, last_used, t, s, d, L + 1)
                t += L + 1
                a = s + d * L
                hold = cfg.max_hold if nodes.still[a] else 0
                hold = min(hold, n - t)
                if hold > 0:
                    source[t:t + hold] = a
                    cuts.append(Cut(t, a, a, 0.0, "hold"))
                    t += hold
                nd = -d
                back = 0 <= a + nd < nodes.frames and self._run(a + nd, nd) > 0
                if t < n and back:
                    cuts.append(Cut(t, a, a + nd, 0.0, "reverse", d))
                    prev_span = (min(s, a), max(s, a))
                    s, d = a + nd, nd
                elif t < n:           # a single usable frame: nothing to do but hold it
                    source[t:] = a
                    cuts.append(Cut(t, a, a, 0.0, "hold"))
                    t = n
                continue
            _, L, a, b, dd = best
            self._emit(source, last_used, t, s, d, L + 1)
            t += L + 1
            cuts.append(Cut(t, a, b, dd, "blend", d))
            for k in range(min(B, n - t)):
                blend_from[t + k] = a + d * (1 + k)
                weight[t + k] = 1.0 - (k + 1) / (B + 1)
            prev_span = (min(s, a + d * B), max(s, a + d * B))
            s, d = b, 1
        return GraphPlan(source, blend_from, weight, cuts)

    @staticmethod
    def _emit(source: np.ndarray, last_used: np.ndarray, t: int, s: int, d: int, count: int) -> None:
        count = max(0, min(count, source.size - t))
        frames_ = s + d * np.arange(count)
        source[t:t + count] = frames_
        last_used[frames_] = t + np.arange(count)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return not (a[1] < b[0] or b[1] < a[0])


def plan_footage(track, n: int, onsets: np.ndarray | None = None, seed: int = 0,
                 config: GraphConfig | None = None) -> GraphPlan:
    """A `GraphPlan` of `n` output frames over a `FootageTrack` (see `MotionGraph`)."""
    cfg = config or GraphConfig()
    return MotionGraph(FootageNodes.from_track(track, cfg), cfg).plan(n, onsets, seed)
