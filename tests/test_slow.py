"""Slow checks (run with `pytest -m slow`): the shipped sample, rendered as the README says."""

from __future__ import annotations

import numpy as np
import pytest

import avatarkit

from .conftest import SAMPLES
from .test_e2e import _decode, _measure

pytestmark = pytest.mark.slow


def test_sample_script_renders_with_lip_sync(tmp_path):
    result = avatarkit.render(SAMPLES / "welcome.yaml", out_dir=tmp_path)
    info, frames, audio = _decode(result.video)
    assert (info["width"], info["height"], info["fps"]) == (1280, 720, 25)
    assert len(frames) == result.frames and result.duration > 20
    # Both scenes of the sample are full-frame: measure the whole video.
    gaps = _measure(frames)
    g = np.array([np.nan if x is None else x for x in gaps])
    assert np.mean(~np.isnan(g)) > 0.97
    n = len(g)
    env = np.sqrt(np.mean(audio[: n * 1920].reshape(n, 1920).astype(np.float64) ** 2, axis=1))
    ok = ~np.isnan(g)
    sm = np.convolve(env, np.ones(3) / 3, "same")
    assert np.corrcoef(g[ok], sm[ok])[0, 1] > 0.45
    assert result.wall_s / result.duration < 1.0  # faster than real time even under pytest
