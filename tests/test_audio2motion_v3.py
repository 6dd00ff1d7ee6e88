"""Audio2Motion v3: whole lip shapes from audio, the shipped model, its training step and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from avatarkit.audio.features import resample
from avatarkit.face import landmarks as lm
from avatarkit.models.audio2motion import MODELS, Audio2Motion, Audio2MotionConfig, build_network
from avatarkit.motion.audio import AudioMotion
from avatarkit.training import lipshape

from .audiofiles import speech

V3 = MODELS["v3"]


@pytest.fixture(scope="module")
def v3():
    return AudioMotion("learned", model_path="v3")


@pytest.fixture(scope="module")
def voice16():
    x, sr, _ = speech()
    return resample(x, sr, 16000)


def _pad(x, before=1.0, after=1.0):
    return np.concatenate([np.zeros(int(before * 16000), np.float32), x, np.zeros(int(after * 16000), np.float32)])


def test_shipped_v3_loads_from_its_config_and_is_small():
    m = Audio2Motion.from_pretrained("v3")
    cfg = m.config
    assert cfg.shape_points == lm.MOUTH_SHAPE and len(cfg.shape_points) == 75
    assert cfg.shape_components == len(cfg.outputs) - 1 > 0 and cfg.outputs[-1] == "level" and cfg.shape_range > 0
    assert (V3 / "config.json").is_file() and (V3 / "training.json").is_file()
    assert (V3 / "model.safetensors").stat().st_size < 3_000_000
    assert Audio2MotionConfig.from_dict(cfg.to_dict()) == cfg
    # v2 stays the channels model it was.
    assert not Audio2Motion.from_pretrained("v2").has_shape


def test_v3_track_has_the_shape_and_opens_on_speech_not_silence(v3, voice16):
    x = _pad(voice16)
    track = v3.animate_audio(x, 16000, fps=25)
    n = len(track)
    assert track.shape is not None and track.shape.shape == (n, 75, 2)
    assert track.shape_points == lm.MOUTH_SHAPE
    gap = lipshape.opening(track.shape)
    speech_part, quiet = gap[30:-30], np.concatenate([gap[:10], gap[-10:]])
    assert speech_part.max() > 0.08          # IOD: a clearly open mouth somewhere in the words
    assert np.abs(quiet).max() < 0.5 * speech_part.max()
    # The channels agree with the shape: jaw follows the gap, wide the corner distance.
    assert np.corrcoef(track["jaw"][30:-30], speech_part)[0, 1] > 0.8
    assert track["jaw"][30:-30].max() > 0.2 and track["jaw"][:10].max() < 0.1
    w = lipshape.width(track.shape)
    assert np.corrcoef(track["wide"], w)[0, 1] > 0.8


@pytest.mark.parametrize("kind", ["silence", "music", "clipped", "empty"])
def test_v3_bad_input_gives_a_still_face_or_a_sensible_track(v3, voice16, kind):
    rng = np.random.default_rng(0)
    if kind == "silence":
        x = np.zeros(3 * 16000, np.float32)
    elif kind == "music":
        from avatarkit.training.augment import music_bed

        x = (0.3 * music_bed(4 * 16000, 16000, rng)).astype(np.float32)
    elif kind == "clipped":
        x = np.clip(_pad(voice16) * 30, -0.2, 0.2).astype(np.float32)
    else:
        x = np.zeros(0, np.float32)
    track = v3.animate_audio(x, 16000, fps=25, frames=None if x.size else 10)
    assert track.shape is not None and np.isfinite(track.shape).all()
    assert all(np.isfinite(v).all() for v in track.values.values())
    assert np.abs(track.shape).max() < 1.0                       # never a torn face (IOD)
    gap = lipshape.opening(track.shape)
    if kind in ("silence", "empty"):
        assert np.abs(track.shape).max() < 1e-6 and track["jaw"].max() < 1e-6     # exactly at rest
    elif kind == "clipped":
        assert gap.max() > 0.05                                    # clipped speech still moves the mouth
    else:
        clean = lipshape.opening(v3.animate_audio(_pad(voice16), 16000, fps=25).shape)
        assert gap.mean() < clean.mean() + 0.02


def test_v3_streams_like_the_whole_recording(v3, voice16):
    x = _pad(voice16, 0.5, 0.5)
    whole = v3.animate_audio(x, 16000, fps=25)
    s = v3.stream(25)
    pieces = [t for i in range(0, x.size, 8000) if (t := s.push(x[i:i + 8000])) is not None]
    last = s.finish(len(whole))
    pieces += [last] if last is not None else []
    shape = np.concatenate([p.shape for p in pieces])
    np.testing.assert_allclose(shape, whole.shape, atol=1e-4)


def test_tiny_shape_model_from_its_config_learns():
    import torch

    from avatarkit.training.audio2motion_v3 import shape_loss

    torch.manual_seed(0)
    k, p = 4, len(lm.MOUTH_SHAPE)
    cfg = Audio2MotionConfig(features="logmel", width=16, dilations=(1, 2, 1), lookahead=1,
                             outputs=tuple(f"pc{i}" for i in range(k)), shape_points=lm.MOUTH_SHAPE,
                             shape_range=0.1)
    cfg = Audio2MotionConfig.from_dict(cfg.to_dict())
    net = build_network(cfg)
    basis = torch.linalg.qr(torch.randn(2 * p, k))[0].T
    net.shape_basis.copy_(basis)
    r = cfg.receptive_field
    x = torch.randn(8, 60 + r - 1, 64)
    # Targets a function of the sound: shapes along the basis driven by the features of each frame.
    drive = torch.tanh(x[:, r - 1 - cfg.lookahead: x.shape[1] - cfg.lookahead, :k])
    y = drive @ basis
    y[:, :3] = float("nan")                       # unknown frames are masked, not learned
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = shape_loss(net, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]
    m = Audio2Motion(cfg, net)
    shape = m.decode_shape(np.zeros((2, k), np.float32))
    assert shape.shape == (2, 75, 2)
    ch = m.shape_channels(shape)
    assert set(ch) >= {"jaw", "wide", "round", "press", "voice", "onset"}


def test_width_term_is_one_minus_r_of_the_mouth_width():
    """`width_weight` adds 1 - r between predicted and measured corner-to-corner width, per sequence."""
    import torch

    from avatarkit.training.audio2motion_v3 import shape_loss

    torch.manual_seed(1)
    k, p = 4, len(lm.MOUTH_SHAPE)
    cfg = Audio2MotionConfig(features="logmel", width=16, dilations=(1, 2), lookahead=1,
                             outputs=tuple(f"pc{i}" for i in range(k)), shape_points=lm.MOUTH_SHAPE, shape_range=0.1)
    net = build_network(cfg)
    net.shape_basis.copy_(torch.linalg.qr(torch.randn(2 * p, k))[0].T)
    net.eval()
    x = torch.randn(4, 40 + cfg.receptive_field - 1, 64)
    y = torch.randn(4, 40, 2 * p) * 0.1
    y[0, :5] = float("nan")                  # unknown frames: left out of that sequence's r
    y[3] = y[3, :1].clone()                  # a still mouth: no timing to follow, left out of the mean
    with torch.no_grad():
        plain = float(shape_loss(net, x, y))
        both = float(shape_loss(net, x, y, width_weight=2.0))
        pred = (net.shape_mean + net(x)[..., :k] @ net.shape_basis).view(4, 40, p, 2).numpy()
    width, real = lm.shape_width, y.view(4, 40, p, 2).numpy()
    rs = [np.corrcoef(width(pred[0, 5:]), width(real[0, 5:]))[0, 1]]
    rs += [np.corrcoef(width(pred[b]), width(real[b]))[0, 1] for b in (1, 2)]
    assert both - plain == pytest.approx(2.0 * np.mean([1 - r for r in rs]), rel=1e-3)


def test_phone_crops_line_up_with_the_frames_the_network_outputs():
    """A synthetic crop's targets are those of the feature frame each output frame stands for (the frame
    `receptive_field - 1 - lookahead` into its window, with `lookahead` frames heard after it), as in the real
    sequences' padding; the training head reads the same trunk as the output layer."""
    import torch

    from avatarkit.training.audio2motion_v3 import phone_batch

    cfg = Audio2MotionConfig(features="logmel", width=8, dilations=(1, 2, 4), lookahead=2,
                             outputs=("pc0", "pc1"), shape_points=lm.MOUTH_SHAPE, shape_range=0.1)
    r, la, n = cfg.receptive_field, cfg.lookahead, 500
    x = np.repeat(np.arange(n, dtype=np.float16)[:, None], 3, 1)
    y = np.repeat(np.arange(n, dtype=np.float32)[:, None], 7, 1)
    px, py = phone_batch((x, y, np.array([0, n])), 5, 20, cfg, np.random.default_rng(0))
    assert px.shape == (5, 20 + r - 1, 3) and py.shape == (5, 20, 7)
    for b in range(5):
        current = px[b, r - 1 - la: r - 1 - la + 20, 0]
        assert (py[b, :, 0] == current).all()
    net = build_network(cfg).eval()
    feats = torch.randn(2, 30 + r - 1, 64)
    with torch.no_grad():
        assert torch.allclose(net(feats), net.out(net.trunk(feats)).transpose(1, 2))


def test_measured_shapes_are_in_face_axes_and_iod():
    """A frontal face turned and scaled in the image gives the same aligned shape; the eyes sit 1 IOD apart."""
    from avatarkit.eval import metrics as M

    rng = np.random.default_rng(1)
    base = rng.uniform(100, 300, (478, 2))
    a, b = M.eye_centers(base)
    frames = []
    for ang, s in ((0.0, 1.0), (0.3, 1.5), (-0.2, 0.7)):
        c, si = np.cos(ang), np.sin(ang)
        frames.append((base - 200) @ np.array([[c, si], [-si, c]]) * s + 250)
    P = lipshape.aligned_points(np.stack(frames))
    np.testing.assert_allclose(P[1], P[0], atol=1e-6)
    np.testing.assert_allclose(P[2], P[0], atol=1e-6)
    norm = lipshape.speaker_norm([P])
    assert norm.range > 0 and np.allclose(lipshape.normalised(P, norm)[0], 0, atol=1e-6)


def test_models_are_chosen_by_name_for_eval_and_motion():
    from avatarkit.eval.clips import EvalError
    from avatarkit.eval.lipsync import load_methods
    from avatarkit.models.audio2motion import DEFAULT_MODEL, resolve_model

    assert resolve_model(None) == MODELS[DEFAULT_MODEL] and resolve_model("v3") == V3
    models = load_methods(["learned:v3", "still"])
    assert models["learned:v3"].has_shape and not models["still"].has_shape
    with pytest.raises(EvalError, match="learned:v3"):
        load_methods(["learned:v9"])


def _tiny_shape_config(width=8):
    k = 3
    return Audio2MotionConfig(features="logmel", width=width, dilations=(1, 2), lookahead=1,
                              outputs=tuple(f"pc{i}" for i in range(k)) + ("level",), shape_points=lm.MOUTH_SHAPE,
                              shape_range=0.1, dropout=0.2)


def test_folded_members_compute_exactly_the_mean_of_the_members():
    import torch

    from avatarkit.training.audio2motion_v3 import fold

    cfg = _tiny_shape_config()
    torch.manual_seed(0)
    basis = torch.linalg.qr(torch.randn(2 * len(lm.MOUTH_SHAPE), 3))[0].T
    members = []
    for _ in range(3):
        net = build_network(cfg)
        net.shape_basis.copy_(basis)
        with torch.no_grad():   # each member its own rest offset, as `calibrate_rest` leaves it
            net.shape_mean.copy_(torch.randn_like(net.shape_mean) * 0.1)
        members.append(net.eval())
    wide_cfg, wide = fold(cfg, [m.state_dict() for m in members])
    assert wide_cfg.width == 3 * cfg.width and Audio2MotionConfig.from_dict(wide_cfg.to_dict()) == wide_cfg
    wide.eval()
    x = torch.randn(2, 40 + cfg.receptive_field - 1, 64)
    with torch.no_grad():
        want = torch.stack([m(x) for m in members]).mean(0)
        got = wide(x)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(wide.shape_mean, torch.stack([m.shape_mean for m in members]).mean(0))


def test_timing_terms_are_zero_on_the_truth_and_count_a_late_or_flat_mouth():
    """1 - r ignores scale (a damped mouth with the right timing costs nothing) but not a mouth 3 frames late;
    the velocity term counts both; still targets (non-speech crops) give no NaN."""
    import torch

    from avatarkit.training.audio2motion_v3 import timing_terms

    t = torch.arange(80, dtype=torch.float32)
    gy = (0.5 + 0.5 * torch.sin(t / 4))[None]
    m = torch.ones_like(gy)
    m[:, :5] = 0                                      # unknown frames do not count
    vel, corr = timing_terms(gy.clone(), gy, m)
    assert float(vel) == 0 and abs(float(corr)) < 1e-5
    vel_d, corr_d = timing_terms(0.5 * gy, gy, m)     # damped, on time
    assert float(vel_d) > 0 and abs(float(corr_d)) < 1e-5
    late = torch.roll(gy, 3, 1)
    vel_l, corr_l = timing_terms(late, gy, m)
    assert float(vel_l) > 0 and float(corr_l) > 0.1
    vel_s, corr_s = timing_terms(gy, torch.zeros_like(gy), m)
    assert torch.isfinite(vel_s) and float(corr_s) == 0


def test_both_training_splits_come_from_one_speaker_table():
    from avatarkit.training import audio2motion_v3 as A
    from avatarkit.training import real as R
    from avatarkit.training import speakers as S

    for splits in (R.SPLITS, A.SPLITS):
        assert all(S.SPEAKERS[stem] == spk for stem, (spk, _) in splits.items())
        by_speaker: dict[str, set[str]] = {}
        for spk, split in splits.values():
            by_speaker.setdefault(spk, set()).add(split)
        assert all(len(v) == 1 for v in by_speaker.values())
    assert set(A.SPLITS) == set(S.SPEAKERS)
    # The held-out sets are what they were: v2's test speakers and v3's twelve clips (seven speakers).
    assert {s for s, (_, sp) in R.SPLITS.items() if sp == "test"} == {
        "grid_brbk7n", "grid_sbwe5n", "usgov_RD_Radio10_0_clip_0", "usgov_WDA_KatieHill_000"}
    assert len(A.HELD_OUT) == 12 and "usgov_EDTalk_pose_source2" in A.HELD_OUT
    assert R.SPLITS["cremad_1001_DFA_ANG_XX"][1] == "train" and A.SPLITS["cremad_1001_DFA_ANG_XX"][1] == "test"
    with pytest.raises(ValueError, match="nobody"):
        S.splits({"nobody": "train"})


def test_the_speech_gate_rests_the_mouth_on_music_and_noise_not_on_speech_over_music(v3, voice16):
    from avatarkit.training.augment import music_bed

    rng = np.random.default_rng(1)
    bed = music_bed(voice16.size + 2 * 16000, 16000, rng).astype(np.float32)
    level = AudioMotion("learned", model_path="v3", gate="level")
    for name, x in (("music", 0.3 * bed), ("noise", 0.05 * rng.standard_normal(4 * 16000).astype(np.float32))):
        gated, ungated = v3.animate_audio(x, 16000, fps=25), level.animate_audio(x, 16000, fps=25)
        assert gated["jaw"].max() < 0.02, name
        assert ungated["jaw"].max() > gated["jaw"].max() + 0.02, name    # the gate, not the model, rests it
    clean = v3.animate_audio(_pad(voice16), 16000, fps=25)
    mixed = v3.animate_audio(_pad(voice16) + 0.1 * bed, 16000, fps=25)
    words = slice(30, len(clean) - 30)
    assert mixed["jaw"][words].max() > 0.2
    assert np.corrcoef(mixed["jaw"][words], clean["jaw"][words])[0, 1] > 0.7


def test_a_bad_gate_is_named():
    from avatarkit.errors import AvatarkitError

    with pytest.raises(AvatarkitError, match="mouth gate 'vad'"):
        AudioMotion("learned", model_path="v3", gate="vad")
