"""Real faces as teachers: measured mouth targets, the Whisper front end and the v2 model built tiny."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatarkit.models.audio2motion import OUTPUTS, Audio2Motion, Audio2MotionConfig, ModelError
from avatarkit.motion.audio import AudioMotion
from avatarkit.training import real as R

ROOT = Path(__file__).resolve().parents[1]
FOOTAGE = ROOT / "data" / "talking"
TINY = Audio2MotionConfig(features="whisper", width=16, dilations=(1, 2), lookahead=2)


def test_every_clip_has_a_split_and_no_speaker_is_in_two():
    clips = R.clips_in(FOOTAGE)
    assert {p.stem for p in clips} <= set(R.SPLITS)
    by_speaker: dict[str, set[str]] = {}
    for spk, split in R.SPLITS.values():
        by_speaker.setdefault(spk, set()).add(split)
    assert all(len(s) == 1 for s in by_speaker.values()), by_speaker
    # The test speakers are not shipped with the training data.
    assert not [p for p in clips if R.SPLITS[p.stem][1] == "test"]


@pytest.fixture(scope="module")
def clip():
    return R.measure(FOOTAGE / "grid_bbaf2n.mpg")


def test_measured_targets_follow_the_filmed_mouth(clip):
    assert clip.fps == pytest.approx(25) and clip.audio.size == pytest.approx(clip.opening.size / 25 * 16000, abs=400)
    assert np.isfinite(clip.opening).mean() > 0.95
    ranges = R.speaker_ranges([clip])
    y, m = R.channel_targets(clip, ranges[clip.speaker])
    jaw, wide = y[:, OUTPUTS.index("jaw")], y[:, OUTPUTS.index("wide")]
    ok = m[:, 0] > 0
    assert 0 <= jaw.min() and jaw.max() <= 1 and -1 <= wide.min() and wide.max() <= 1
    assert np.corrcoef(jaw[ok], clip.opening[ok])[0, 1] > 0.95
    # GRID speakers open their mouths in the middle of the clip, not in the silence around it.
    assert jaw[ok][:8].mean() < 0.1 and jaw[ok].max() > 0.4
    # Only what real lips show is supervised.
    assert set(np.flatnonzero(m.any(0))) == {OUTPUTS.index("jaw"), OUTPUTS.index("wide")}


def test_targets_move_onto_the_50hz_clock_and_stretch_with_the_audio():
    y = np.zeros((25, len(OUTPUTS)), np.float32)
    y[10:15, 0] = 1
    m = np.ones_like(y)
    m[20] = 0
    out, mask = R.resample_targets(y, m, 25.0, 50.0, 50)
    # 50 Hz frame j is centred at (j + 0.5) / 50 s, video frame i at (i + 0.5) / 25 s: frame 19 lies a
    # quarter of the way from video frame 9 (closed) to 10 (open), frame 21 on the open frame 10's right.
    assert out[19, 0] == pytest.approx(0.25) and out[21, 0] == pytest.approx(1) and out[18, 0] == 0
    assert mask[40:42, 0].max() == 0 and mask[10, 0] == 1
    slow, _ = R.resample_targets(y, m, 25.0, 50.0, 100, stretch=2.0)
    assert np.flatnonzero(slow[:, 0] > 0.5)[0] == pytest.approx(2 * np.flatnonzero(out[:, 0] > 0.5)[0], abs=2)


def test_whisper_model_saves_loads_and_streams(tmp_path, clip):
    m = Audio2Motion(TINY)
    x = clip.audio
    feats = m.features(x)
    assert feats.shape == (-(-x.size // 320), 512 + 64)
    m.save_pretrained(tmp_path / "m")
    back = Audio2Motion.from_pretrained(tmp_path / "m")
    assert back.config == TINY and back.config.frame_rate == 50
    np.testing.assert_array_equal(back.predict_features(feats), m.predict_features(feats))
    motion = AudioMotion("learned", model_path=str(tmp_path / "m"))
    whole = motion.animate_audio(x, 16000, fps=25)
    assert len(whole) == -(-x.size * 25 // 16000)
    s = motion.stream(25)
    pieces = [t for i in range(0, x.size, 4000) if (t := s.push(x[i:i + 4000])) is not None]
    last = s.finish(len(whole))
    pieces += [last] if last is not None else []
    np.testing.assert_allclose(np.concatenate([p.as_array() for p in pieces]), whole.as_array(), atol=1e-5)
    (tmp_path / "m" / "config.json").write_text('{"features": "spectrogram"}')
    with pytest.raises(ModelError, match="features 'spectrogram'"):
        Audio2Motion.from_pretrained(tmp_path / "m")


def test_one_masked_training_step_on_real_and_synthetic_rows(clip):
    import torch

    from avatarkit.models.audio2motion import build_network
    from avatarkit.training import whisper_data as WD

    frontend = Audio2Motion(TINY).features
    real = WD.real([clip], R.speaker_ranges([clip]), frontend, copies=2, seed=0)
    x, y, m, starts = real
    assert len(starts) == 3 and x.dtype == np.float16 and x.shape[0] == y.shape[0] == m.shape[0]
    # The slowed or sped-up copy has as many frames as its audio.
    assert abs((starts[2] - starts[1]) - (starts[1] - starts[0])) <= 0.09 * (starts[1] - starts[0])
    torch.manual_seed(0)
    net = build_network(TINY)
    net.feature_mean.copy_(torch.from_numpy(x.astype(np.float32).mean(0)))   # as the trainer does
    net.feature_std.copy_(torch.from_numpy(x.astype(np.float32).std(0) + 1e-3))
    r = TINY.receptive_field
    xb = torch.from_numpy(x[None, : 100 + r - 1].astype(np.float32))
    yb = torch.from_numpy(y[None, r - 1 - TINY.lookahead: r - 1 - TINY.lookahead + 100])
    mb = torch.from_numpy(m[None, r - 1 - TINY.lookahead: r - 1 - TINY.lookahead + 100])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        loss = ((net(xb) - yb).abs() * mb).sum() / mb.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
