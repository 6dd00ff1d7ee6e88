"""Head, brows and blinks replayed from real presenters (`motion.library`), driven by the speech.

The replayed motion itself is a pure function of the global frame index
(`library.replay_head`); the speech shapes it per utterance with a gain on
the head's pose: the library's measured `pause_gain` in pauses (the head
settles towards its rest pose), 1 while speaking, more for half a second at
speech onsets and emphasised words (`onset_gain`, also measured). The
measured pauses are short breaths; in a longer silence (more than
`LONG_PAUSE_S` from any phone) the gain eases on down to `LONG_GAIN`, the
earlier rules' stillness (not measured: the presenter clips hold no long
pauses). The gain is at its (short) pause level at both ends of every
utterance, so consecutive phrases join without a jump whatever their speech.
"""

from __future__ import annotations

import numpy as np

from ..speech.utterance import Utterance
from .library import load, replay_blinks, replay_head

EDGE_S = 0.2          # the gain eases from its pause level over this long at an utterance's ends
ACCENT_S = 0.6        # length of the extra motion after an onset or an emphasised word
ONSET_GAP_S = 0.3     # silence before a word that makes it a speech onset
LONG_PAUSE_S = 0.6    # silence this far from any phone starts settling further ...
SETTLE_S = 0.8        # ... over this long ...
LONG_GAIN = 0.35      # ... down to this gain
# The walk through the library (joins to near poses, crossfades) and the pause gains leave the head
# about 20 % calmer than the training presenters while speaking; this makes that up.
AMPLITUDE = 1.2


def speech_gain(utt: Utterance, fps: int, activity: np.ndarray) -> np.ndarray:
    """Per-frame gain on the replayed pose (see the module docstring)."""
    lib = load()
    pause, onset = float(lib["pause_gain"]), float(lib["onset_gain"])
    n = activity.shape[0]
    sr = utt.sample_rate
    t = (np.arange(n) + 0.5) / fps
    edge = np.clip(np.minimum(t, n / fps - t) / EDGE_S, 0.0, 1.0)
    edge = edge * edge * (3 - 2 * edge)
    env = np.clip(activity, 0.0, 1.0)
    spf = sr / fps
    speaking = np.zeros(n, bool)
    for p in utt.phones:
        speaking[max(0, int(p.start // spf)):min(n, int(p.end // spf) + 1)] = True
    idx = np.flatnonzero(speaking)
    if idx.size:
        j = np.clip(np.searchsorted(idx, np.arange(n)), 1, idx.size) - 1
        near = np.minimum(np.abs(np.arange(n) - idx[j]), np.abs(idx[np.minimum(j + 1, idx.size - 1)] - np.arange(n)))
        silence = near / fps
    else:
        silence = np.full(n, np.inf)
    settle = np.clip((silence - LONG_PAUSE_S) / SETTLE_S, 0.0, 1.0)
    settle = settle * settle * (3 - 2 * settle)
    boost = np.zeros(n)
    last_end = -1.0
    for w in utt.words:
        start = w.start / sr
        if w.emphasis or start - last_end > ONSET_GAP_S:
            d = t - start
            inside = (d >= 0) & (d < ACCENT_S)
            boost = np.maximum(boost, np.where(inside, np.sin(np.pi * np.clip(d, 0, ACCENT_S) / ACCENT_S) ** 2, 0.0))
        last_end = w.end / sr
    return pause + edge * ((1.0 - pause) * env + max(0.0, onset - 1.0) * boost + (LONG_GAIN - pause) * settle)


def replay_idle(utt: Utterance, frames: np.ndarray, fps: int, seed: int,
                activity: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(blink, {yaw, pitch, roll}, brows) for an utterance's frames (global indices `frames`)."""
    real = replay_head(frames, fps, seed)
    gain = speech_gain(utt, fps, activity)
    head = {c: real[c] * (gain * AMPLITUDE) for c in ("yaw", "pitch", "roll")}
    brows = real["brows"] * np.clip(gain, 0.0, 1.0)
    return replay_blinks(frames, fps, seed), head, brows
