"""Blend viseme targets over time with dominance functions.

Each phone contributes its viseme target weighted by a dominance function
that peaks at the phone's centre and decays exponentially on both sides
(faster after the phone than before, which gives the anticipation of lip
shapes that real speakers show). Where phones are far apart a `REST` viseme
takes over, so the mouth closes in silence. The output of channel c at time
t is sum_i D_ic(t) T_ic / sum_i D_ic(t).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..speech.utterance import Phone
from .visemes import MOUTH, REST, viseme_for

# Mouth shapes form slightly before the sound is heard.
ANTICIPATION_S = 0.03
# Silence longer than this between phones gets a rest target in the middle.
REST_GAP_S = 0.12


def mouth_channels(phones: Sequence[Phone], sample_rate: int, frame_times: np.ndarray,
                   emphasis_spans: Sequence[tuple[int, int]] = ()) -> dict[str, np.ndarray]:
    """Evaluate the mouth channels at `frame_times` (samples, on the phones' clock).

    Returns a dict of float32 arrays, one value per frame time, for the
    channels in `visemes.MOUTH`. `emphasis_spans` (sample ranges) open the jaw
    a little wider, as stressed words are articulated more.
    """
    t = (np.asarray(frame_times, np.float64) / sample_rate) + ANTICIPATION_S
    centers, targets, strengths, rates, widths = [], [], [], [], []

    def add(vis, start_s, end_s):
        centers.append(0.5 * (start_s + end_s))
        widths.append(0.5 * (end_s - start_s))
        targets.append(vis.target)
        strengths.append(vis.strength)
        rates.append(vis.rate)

    prev_end = None
    first = phones[0].start / sample_rate if phones else 0.0
    add(REST, min(t[0] if len(t) else 0.0, first) - 1.0, first - 0.06)
    for p in phones:
        s, e = p.start / sample_rate, p.end / sample_rate
        if prev_end is not None and s - prev_end > REST_GAP_S:
            add(REST, prev_end + 0.05, s - 0.05)
        add(viseme_for(p.symbol), s, e)
        prev_end = e
    last = prev_end if prev_end is not None else first
    add(REST, last + 0.06, max(t[-1] if len(t) else last, last) + 1.0)

    c = np.array(centers)[:, None]
    w = np.array(widths)[:, None]
    r = np.array(rates)[:, None]
    # Flat top over the phone itself, then exponential decay; decay after the
    # phone is 1.5x faster than before it (anticipatory coarticulation).
    d = t[None, :] - c
    dist = np.maximum(np.abs(d) - w, 0.0)
    rate = np.where(d < 0, r, 1.5 * r)
    base = np.exp(-rate * dist)                                    # (phones, frames)
    strength = np.array(strengths)                                  # (phones, channels)
    target = np.array(targets)
    dom = base[:, :, None] * strength[:, None, :]                   # (phones, frames, ch)
    out = (dom * target[:, None, :]).sum(0) / np.maximum(dom.sum(0), 1e-9)
    result = {name: out[:, k].astype(np.float32) for k, name in enumerate(MOUTH)}
    if emphasis_spans:
        fr = np.asarray(frame_times)
        boost = np.zeros_like(t)
        for a, b in emphasis_spans:
            boost = np.maximum(boost, ((fr >= a) & (fr < b)).astype(np.float64))
        result["jaw"] = (result["jaw"] * (1.0 + 0.25 * boost)).astype(np.float32)
    result["jaw"] = np.clip(result["jaw"], 0.0, 1.0)
    return result
