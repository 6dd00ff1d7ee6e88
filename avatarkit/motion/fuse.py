"""Words sharpen the mouth: motion heard in a recording, with what its aligned phonemes know best.

The audio model hears how far and how wide the mouth opens, but lip
closures (p, b, m), rounding (o, u, w) and the lip tucked to the teeth
(f, v) are short, quiet events it blurs. When the words of a recording are
known (a script's `audio:` segment with text, or what Whisper heard in it)
and aligned to it (`speech.align`), the phoneme path knows exactly when
those happen. `fuse_words` keeps the heard jaw and spread and takes the
closures, rounding and lip-to-teeth contacts from the phonemes, closing the
jaw where the lips press together.
"""

from __future__ import annotations

import numpy as np

from .track import MotionTrack
from .visemes import REST

_PRESS_REST = float(REST.target[3])   # the press of a mouth at rest


def fuse_words(heard: MotionTrack, spoken: MotionTrack) -> MotionTrack:
    """`heard` (from audio) with press, round and dental from `spoken` (aligned phonemes); same frames and clock.

    Both tracks must cover the same frames at the same rate. Where the
    phonemes press the lips beyond rest, the heard jaw closes in proportion.
    """
    if (heard.fps, heard.start, len(heard)) != (spoken.fps, spoken.start, len(spoken)):
        raise ValueError(f"tracks differ: {heard.fps} fps from {heard.start} ({len(heard)} frames) and "
                         f"{spoken.fps} fps from {spoken.start} ({len(spoken)} frames)")
    out = {c: v.copy() for c, v in heard.values.items()}
    for c in ("press", "round", "dental"):
        out[c] = spoken[c].copy()
    closure = np.clip((spoken["press"] - _PRESS_REST) / (1 - _PRESS_REST), 0, 1)
    out["jaw"] = heard["jaw"] * (1 - closure)
    return MotionTrack(heard.fps, heard.start, out)
