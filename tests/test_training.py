"""The audio-to-motion training data: targets on the audio's clock, held-out sets really held out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avatarkit.audio.features import LogMel
from avatarkit.models.audio2motion import OUTPUTS
from avatarkit.training.audio2motion import main as train_main
from avatarkit.training.augment import augment, music_bed
from avatarkit.training.data import HELD_OUT_LANGUAGES, HELD_OUT_VARIANTS, TRAIN_LANGUAGES, TRAIN_VARIANTS, Spec, make_example, sample_specs

ROOT = Path(__file__).resolve().parents[1]


def test_targets_follow_the_audio_frame_by_frame():
    mel = LogMel()
    feats, y, audio = make_example(Spec(7, "espeak", "de", "m3", 170, 50, clean=True), mel)
    assert feats.shape[0] == y.shape[0] == -(-audio.size // 160)
    level = np.log(np.exp(feats).sum(1))
    voice = y[:, OUTPUTS.index("voice")]
    # Speech frames are loud, silence frames are silent: the targets sit on the audio's clock.
    assert np.median(level[voice > 0.5]) > np.median(level[voice < 0.5]) + 5
    shifted = np.corrcoef(np.roll(level, 30), voice)[0, 1]
    assert np.corrcoef(level, voice)[0, 1] > shifted + 0.2
    jaw = y[:, OUTPUTS.index("jaw")]
    assert jaw[voice < 0.5].mean() < jaw[voice > 0.5].mean()


def test_clips_without_speech_target_a_resting_mouth():
    feats, y, audio = make_example(Spec(3, "none", ""), LogMel())
    assert feats.shape[0] == y.shape[0] == -(-audio.size // 160) and np.abs(audio).max() > 0
    assert np.all(y[:, OUTPUTS.index("jaw")] == 0) and np.all(y[:, OUTPUTS.index("voice")] == 0)
    assert np.all(y[:, OUTPUTS.index("press")] == 0.25)


def test_augmentation_keeps_time_and_length():
    rng = np.random.default_rng(3)
    _, _, clean = make_example(Spec(11, "espeak", "es", "", 175, 50, clean=True), LogMel())
    for seed in range(6):
        noisy = augment(clean, 16000, np.random.default_rng(seed))
        assert noisy.shape == clean.shape and np.isfinite(noisy).all() and np.abs(noisy).max() <= 1.0
        env_a = np.sqrt(np.convolve(clean ** 2, np.ones(160), "same"))[::80]
        env_b = np.sqrt(np.convolve(noisy ** 2, np.ones(160), "same"))[::80]
        lags = range(-10, 11)
        c = [np.corrcoef(env_a[20:-20], np.roll(env_b, -k)[20:-20])[0, 1] for k in lags]
        assert abs(list(lags)[int(np.argmax(c))]) <= 2
    bed = music_bed(16000, 16000, rng)
    assert bed.shape == (16000,) and bed.std() > 0


def test_held_out_specs_never_use_a_training_language_with_a_training_voice():
    held = sample_specs(200, 1, held_out=True)
    for s in held:
        assert s.language in HELD_OUT_LANGUAGES or s.variant in HELD_OUT_VARIANTS
    train = sample_specs(400, 0)
    assert {s.engine for s in train} == {"espeak", "piper", "none"}
    for s in train:
        if s.engine == "espeak":
            assert s.language in TRAIN_LANGUAGES and s.variant in TRAIN_VARIANTS
    assert sample_specs(20, 5) == sample_specs(20, 5)


def test_vocal_tract_warp_moves_spectral_peaks_and_keeps_identity():
    import torch

    from avatarkit.training.audio2motion import warp_mel_axis

    x = torch.zeros(2, 5, 64)
    x[:, :, 20] = 1.0                      # one "formant" in band 20
    y = warp_mel_axis(x, torch.tensor([1.0, 1.25]))
    assert torch.equal(y[0], x[0])
    assert int(y[1, 0].argmax()) == 25     # band 25 reads band 25 / 1.25 = 20


def test_training_script_writes_a_loadable_model_with_its_record(tmp_path):
    """The default (Whisper front end, synthetic + real footage split by speaker), end to end at toy size."""
    import json
    import shutil

    from avatarkit.models.audio2motion import Audio2Motion

    footage = tmp_path / "talking"
    footage.mkdir()
    for name in ("grid_bbaf2n.mpg", "grid_sbia1a.mpg"):        # a training speaker and a dev speaker
        shutil.copy(ROOT / "data" / "talking" / name, footage / name)
    out = tmp_path / "m"
    args = ["--out", str(out), "--examples", "6", "--val", "4", "--steps", "3", "--eval-every", "3", "--batch", "2",
            "--crop", "40", "--width", "8", "--workers", "1", "--threads", "1", "--footage", str(footage),
            "--real-copies", "2", "--cache", str(tmp_path / "cache")]
    train_main(args)
    meta = json.loads((out / "training.json").read_text())
    assert meta["seed"] == 0 and meta["data"]["train_examples"] == 6 and meta["features"] == "whisper"
    assert meta["command"].startswith("python -m avatarkit.training.audio2motion")
    assert meta["data"]["real_train"] == ["grid_bbaf2n.mpg"] and meta["data"]["real_dev"] == ["grid_sbia1a.mpg"]
    assert np.isfinite(meta["final_validation"]["synthetic"]["loss"])
    assert np.isfinite(meta["final_validation"]["real-dev"]["corr_jaw"])
    assert set(meta["final_validation"]["real-dev"]) == {"loss", "corr_jaw", "corr_wide"}   # only what lips show
    m = Audio2Motion.from_pretrained(out)
    assert m.config.width == 8 and m.predict(np.zeros(1600, np.float32)).shape == (5, len(OUTPUTS))
    # The made datasets are kept for the next run (it reads them instead of making them again).
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["synthetic-6-0-0.4.npz", "synthetic-val-4-1.npz"]


def test_training_script_still_trains_the_log_mel_model(tmp_path):
    import json

    from avatarkit.models.audio2motion import Audio2Motion

    out = tmp_path / "m"
    train_main(["--out", str(out), "--examples", "6", "--val", "4", "--steps", "3", "--eval-every", "3",
                "--batch", "2", "--crop", "40", "--width", "8", "--workers", "1", "--threads", "1",
                "--features", "logmel", "--footage", ""])
    meta = json.loads((out / "training.json").read_text())
    assert meta["features"] == "logmel" and np.isfinite(meta["final_validation"]["synthetic"]["loss"])
    m = Audio2Motion.from_pretrained(out)
    assert m.config.width == 8 and m.predict(np.zeros(1600, np.float32)).shape == (10, len(OUTPUTS))
