"""Motion models: turn a phrase's `Utterance` into a `MotionTrack`.

`PhonemeMotion` (kind "phoneme") is the default when avatarkit synthesised
the speech and knows each phoneme's times. It combines coarticulated
visemes, idle motion (blinks, sway; functions of the global frame index),
speech-rhythm head accents on word onsets, script gestures, and stillness in
pauses. Its head, brows and blinks are of a named kind (`MotionConfig.head`):
"replay" (default) replays real presenters' motion from `motion.library`,
shaped by the speech (`motion.replay`); "rules" is the earlier sines and
hashed blinks of `motion.idle`. Other motion models (audio-driven ones)
produce the same type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..script.model import Gesture
from ..speech.utterance import Utterance
from .coarticulation import mouth_channels
from .idle import blink, sway
from .track import MotionTrack


@dataclass
class MotionConfig:
    """Amplitudes of the non-speech motion (radians for head angles)."""

    seed: int = 0
    word_nod: float = 0.010
    emphasis_nod: float = 0.030
    emphasis_brows: float = 0.6
    pause_stillness: float = 0.35   # sway amplitude in pauses, relative to speech
    gesture_scale: float = 1.0
    # Head, brows and blinks: "replay" (real presenters' motion from `motion.library`, driven by the
    # speech) or "rules" (the earlier sines and hashed blinks of `motion.idle`).
    head: str = "replay"

    def __post_init__(self):
        if self.head not in HEAD_KINDS:
            raise ValueError(f"motion head kind {self.head!r}: expected one of {', '.join(HEAD_KINDS)}")


HEAD_KINDS = ("replay", "rules")
# What the photo warp renders cleanly (radians): the replayed pose, gestures included, is softly
# clamped to these (see docs/quality.md, "Head motion from real presenters").
POSE_LIMITS = {"yaw": 0.14, "pitch": 0.10, "roll": 0.09}


def soft_clamp(x: np.ndarray, limit: float) -> np.ndarray:
    """Identity for small values, smoothly saturating at +-`limit` (no kink, so no visible stop)."""
    return limit * np.tanh(np.asarray(x, np.float64) / limit)


def _profile(kind: str, t: np.ndarray) -> tuple[str, np.ndarray, float]:
    """Shape of a gesture over local time `t` (s): (channel, values, duration s)."""
    if kind == "nod":
        dur = 0.9
        v = np.where(t < 0.45, 0.07 * np.sin(np.pi * t / 0.45) ** 2,
                     0.03 * np.sin(np.pi * (t - 0.45) / 0.45) ** 2)
        return "pitch", v, dur
    if kind == "shake":
        dur = 1.0
        return "yaw", 0.06 * np.sin(2 * np.pi * t / 0.5) * np.sin(np.pi * t / dur), dur
    if kind == "tilt":
        dur = 1.5
        return "roll", 0.06 * _hold(t, 0.3, 0.8, 0.4), dur
    dur = 1.0
    return "brows", 1.0 * _hold(t, 0.15, 0.5, 0.35), dur


def _hold(t, rise, hold, fall):
    up = np.clip(t / rise, 0, 1)
    down = np.clip((rise + hold + fall - t) / fall, 0, 1)
    s = np.minimum(up, down)
    return s * s * (3 - 2 * s)


class PhonemeMotion:
    """Motion from phoneme timings (see module docstring)."""

    kind = "phoneme"

    def __init__(self, config: MotionConfig | None = None):
        self.config = config or MotionConfig()

    def animate(self, utt: Utterance, *, fps: int, start_frame: int = 0,
                gestures: Sequence[Gesture] = ()) -> MotionTrack:
        """Motion for an utterance padded to whole frames; frame 0 is `start_frame` globally.

        `utt.num_samples` must be a whole number of frames at `fps`.
        `gestures` refer to `utt.words` by token index.
        """
        sr = utt.sample_rate
        spf, rem = divmod(sr, fps)
        if rem or utt.num_samples % spf:
            raise ValueError("utterance must cover a whole number of frames")
        n = utt.num_samples // spf
        cfg = self.config
        local = np.arange(n)
        times = (local + 0.5) * spf
        emph = [(w.start, w.end) for w in utt.words if w.emphasis]
        values = mouth_channels(utt.phones, sr, times, emph)

        g = local + start_frame
        activity = np.zeros(n)
        for p in utt.phones:
            activity[max(0, p.start // spf):min(n, p.end // spf + 1)] = 1.0
        k = max(1, int(0.15 * fps))
        win = np.hanning(2 * k + 1) / np.hanning(2 * k + 1).sum()
        # "same" returns the longer input's length: a phrase shorter than the window takes the middle of "full".
        activity = np.convolve(activity, win, "same") if n >= win.size else np.convolve(activity, win)[k:k + n]
        if cfg.head == "replay":
            from .replay import replay_idle
            values["blink"], head, brows = replay_idle(utt, g, fps, cfg.seed, activity)
        else:
            values["blink"] = blink(g, fps, cfg.seed)
            head = sway(g, fps, cfg.seed)
            scale = cfg.pause_stillness + (1 - cfg.pause_stillness) * np.clip(activity, 0, 1)
            for c in head:
                head[c] = head[c] * scale
            brows = np.zeros(n)
        t = times / sr
        for w in utt.words:
            onset = w.start / sr
            amp = cfg.emphasis_nod if w.emphasis else cfg.word_nod
            d = t - onset
            bump = np.where((d >= 0) & (d < 0.35), np.sin(np.pi * np.clip(d, 0, 0.35) / 0.35) ** 2, 0.0)
            head["pitch"] = head["pitch"] + amp * bump
            if w.emphasis:
                brows = np.maximum(brows, cfg.emphasis_brows * _hold(d + 0.1, 0.12, max(0.2, (w.end - w.start) / sr), 0.3) * (d > -0.1))
        by_token = {w.index: w for w in utt.words}
        end_s = n / fps
        for gst in gestures:
            w = by_token.get(gst.at) or (utt.words[-1] if utt.words else None)
            onset = (w.start / sr) if w else 0.0
            channel, _, dur = _profile(gst.kind, np.zeros(1))
            # A gesture must end inside its phrase so the next phrase starts
            # from rest; squeeze it in time when the phrase is short.
            room = max(0.2, end_s - onset - 0.04)
            squeeze = min(1.0, room / dur)
            onset = min(onset, max(0.0, end_s - dur * squeeze - 0.04))
            local_t = (t - onset) / squeeze
            inside = (local_t >= 0) & (local_t <= dur)
            _, v, _ = _profile(gst.kind, np.clip(local_t, 0, dur))
            v = np.where(inside, v, 0.0) * cfg.gesture_scale
            if channel == "brows":
                brows = np.maximum(brows, v)
            else:
                head[channel] = head[channel] + v
        values["brows"] = np.clip(brows, 0, 1)
        if cfg.head == "replay":
            head = {c: soft_clamp(v, POSE_LIMITS[c]) for c, v in head.items()}
        values.update(head)
        return MotionTrack(fps, start_frame, {c: np.asarray(v, np.float32) for c, v in values.items()})
