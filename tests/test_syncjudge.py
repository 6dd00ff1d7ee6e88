"""The sync judge (`avatarkit.eval.sync`) and its training command."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avatarkit.eval import sync as S  # noqa: E402

TALKING = Path(__file__).resolve().parents[2] / "shared" / "media" / "talking"


def test_tiny_network_shapes():
    cfg = S.SyncConfig(widths=(4, 8), embed=16)
    net = S.build_network(cfg).eval()
    v = torch.randn(3, S.WINDOW, S.CROP_H, S.CROP_W)
    a = torch.randn(3, 1, 64, S.MEL_WINDOW)
    ev, ea = net.video(v), net.audio(a)
    assert ev.shape == (3, 16) and ea.shape == (3, 16)
    assert torch.allclose(ev.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert net(v, a).shape == (3,)
    assert S.SyncConfig.from_dict(cfg.to_dict()) == cfg


def test_shipped_model_is_small():
    if not S.available():
        pytest.skip("no shipped sync judge weights")
    net = S.load()
    assert sum(p.numel() for p in net.parameters()) < 1_000_000


def test_window_features_shapes():
    crops = np.random.default_rng(0).integers(0, 255, (30, S.CROP_H, S.CROP_W), dtype=np.uint8)
    assert S.video_windows(crops, np.arange(30)).shape == (30, S.WINDOW, S.CROP_H, S.CROP_W)
    mel = S.log_mel(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32))
    assert mel.shape == (100, 64)
    assert S.audio_windows(mel, np.array([-1.0, 0.5, 2.0])).shape == (3, 1, 64, S.MEL_WINDOW)


@pytest.mark.skipif(not (TALKING / "grid_brbk7n.mpg").is_file(), reason="../shared/media/talking is absent")
def test_judge_finds_a_shifted_offset_on_held_out_footage():
    if not S.available():
        pytest.skip("no shipped sync judge weights")
    crops, audio, fps = S.read_video(TALKING / "grid_brbk7n.mpg")   # a held-out speaker
    k = round(5 / fps * S.SAMPLE_RATE)
    late = np.concatenate([np.zeros(k, np.float32), audio])[: len(audio)]
    real, shifted = S.judge(crops, audio, fps), S.judge(crops, late, fps)
    assert abs(real.offset_frames) <= 1
    assert abs(shifted.offset_frames - 5) <= 1
    assert real.confidence > 0 and len(real.distances) == 2 * S.MAX_OFFSET + 1


@pytest.mark.skipif(not (TALKING / "grid_bbaf2n.mpg").is_file(), reason="../shared/media/talking is absent")
def test_training_command_runs_one_step(tmp_path):
    from avatarkit.training import syncjudge

    footage = tmp_path / "footage"
    footage.mkdir()
    for name in ("grid_bbaf2n.mpg", "grid_brbk7n.mpg"):
        (footage / name).symlink_to(TALKING / name)
    out = tmp_path / "model"
    assert syncjudge.main(["--footage", str(footage), "--out", str(out), "--cache", str(tmp_path / "cache"),
                           "--steps", "1", "--segments", "2", "--length", "8", "--seed", "0"]) == 0
    import json

    meta = json.loads((out / "training.json").read_text())
    assert meta["seed"] == 0 and meta["steps"] == 1 and "--steps 1" in meta["command"]
    assert meta["data"]["train"] == ["grid_bbaf2n.mpg"] and meta["data"]["held_out"] == ["grid_brbk7n.mpg"]
    assert S.load(out).config == S.SyncConfig()


def test_lipsync_report_shows_the_judge():
    import json
    import math

    from avatarkit.eval.lipsync import MethodScore, Report, VideoReport

    def video(name, frames, conf):
        return VideoReport(Path(name), 25.0, frames, 1.0, 0.01, {
            "learned": MethodScore("learned", frames, 1.0, 0.5, 0.05, 0.0, 0.5, 0.02, sync_offset=1.0,
                                   sync_conf=conf / 2)}, sync_offset=0.0, sync_conf=conf)

    rep = Report([video("a.mp4", 100, 0.2), video("b.mp4", 300, 0.1)])
    assert rep.overall()["learned"].sync_conf == pytest.approx((100 * 0.1 + 300 * 0.05) / 400)
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["videos"][0]["sync_conf"] == 0.2 and d["videos"][0]["methods"]["learned"]["sync_offset"] == 1.0
    assert "sync conf" in rep.table(width=200)
    assert math.isnan(MethodScore("x").sync_conf)
