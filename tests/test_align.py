"""Transcript alignment: words of one voice carried onto another voice's recording by DTW."""

from __future__ import annotations

import numpy as np
import pytest

from avatarkit.errors import AvatarkitError
from avatarkit.speech.align import align, synthesize_transcript
from avatarkit.speech.voice import Voice

TEXT = ("Press one to record your message, press two to change your password. "
        "Please wait a moment while we connect you.")


def _espeak(rate, variant=""):
    s = {"voice": "en-us", "rate": rate}
    if variant:
        s["variant"] = variant
    return Voice(id=f"e{rate}{variant}", engine="espeak", language="en", settings=s)


def test_alignment_recovers_word_times_of_another_voice():
    truth = synthesize_transcript(TEXT, _espeak(135, "f3"))      # the "recording"
    pad = np.zeros(truth.sample_rate // 2, np.float32)
    rec = np.concatenate([pad, truth.audio, pad])
    got = align(rec, truth.sample_rate, TEXT, _espeak(210, "m3"))
    assert [w.text for w in got.words] == [w.text for w in truth.words]
    starts = np.array([w.start for w in got.words])
    assert np.all(np.diff(starts) >= 0)
    err = np.abs(starts - (np.array([w.start for w in truth.words]) + pad.size)) / truth.sample_rate
    assert np.median(err) < 0.06, err
    assert np.percentile(err, 90) < 0.15, err
    assert got.phones and all(0 <= p.start < p.end <= rec.size for p in got.phones)


def test_alignment_needs_words():
    with pytest.raises(AvatarkitError, match="no words"):
        align(np.zeros(16000, np.float32), 16000, "   ", _espeak(175))
