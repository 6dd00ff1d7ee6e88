"""The mouth refiner (issue 26): its config, training on real frames, persistence, and the `refined` renderer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from avatarkit.models.mouth_refiner import SHIPPED, MouthRefiner, RefinerConfig, RefinerError, build_network  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# A training speaker of the refiner (`training.speakers.REFINER`), so the test reads what training reads.
CLIP = ROOT / "data" / "talking" / "grid_sbia1a.mpg"
TINY = {"box_w": 32, "box_h": 24, "mouth_px": 16.0, "widths": [4, 8], "bottom": 1, "feather": 3.0}


def test_tiny_refiner_trains_on_real_frames_and_lowers_its_loss():
    from avatarkit.training.refiner import clip_pairs, evaluate, train

    if not CLIP.is_file():
        pytest.skip(f"no footage at {CLIP}")
    try:
        from avatarkit.mouthbank import load_bank

        load_bank()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no shipped bank ({e})")
    cfg = RefinerConfig.from_dict(TINY)
    data = clip_pairs(CLIP, cfg, None, photos=1, window=7, max_frames=7)
    assert data["inp"].shape == (6, 24 + 8, 32 + 8, 3) and data["mask"].shape[-1] == 2
    model, info = train(data, None, cfg, seed=0, steps=40, batch=6, lr=1e-2, every=1000, log=lambda s: None)
    before = evaluate(build_network(cfg), data, cfg)     # a fresh net is the identity: the bank's own loss
    after = evaluate(model.net, data, cfg)
    assert before["loss"] == pytest.approx(before["bank_loss"])
    assert after["loss"] < before["loss"] and info["steps"] == 40
    # Seeded: the same data and settings give the same weights.
    again, _ = train(data, None, cfg, seed=0, steps=40, batch=6, lr=1e-2, every=1000, log=lambda s: None)
    for k, v in model.net.state_dict().items():
        assert np.array_equal(v.numpy(), again.net.state_dict()[k].numpy()), k


def test_save_and_load_round_trip(tmp_path):
    import torch

    cfg = RefinerConfig.from_dict(TINY)
    torch.manual_seed(1)
    net = build_network(cfg)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.1)
    m = MouthRefiner(cfg, net)
    m.save_pretrained(tmp_path / "r", {"command": "test", "seed": 1})
    back = MouthRefiner.from_pretrained(tmp_path / "r")
    assert back.config == cfg and back.parameters == m.parameters
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    masks = rng.integers(0, 256, (24, 32, 2), dtype=np.uint8)
    assert np.abs(m.residual(crop, masks)).max() > 0
    np.testing.assert_array_equal(m.residual(crop, masks), back.residual(crop, masks))
    assert json.loads((tmp_path / "r" / "training.json").read_text())["seed"] == 1


def test_bad_config_and_folder_say_what_is_wrong(tmp_path):
    with pytest.raises(RefinerError, match="box_w"):
        RefinerConfig.from_dict({**TINY, "box_w": 30, "widths": [4, 8, 16]})
    with pytest.raises(RefinerError, match="unknown fields.*colour"):
        RefinerConfig.from_dict({**TINY, "colour": 1})
    with pytest.raises(RefinerError, match="widths"):
        RefinerConfig.from_dict({**TINY, "widths": "wide"})
    with pytest.raises(RefinerError, match="under 1000000"):
        build_network(RefinerConfig.from_dict({**TINY, "widths": [256, 256]}))
    with pytest.raises(RefinerError, match="missing config.json"):
        MouthRefiner.from_pretrained(tmp_path)
    MouthRefiner(RefinerConfig.from_dict(TINY)).save_pretrained(tmp_path / "r")
    (tmp_path / "r" / "config.json").write_text(json.dumps({**TINY, "widths": [4, 12]}))
    with pytest.raises(RefinerError, match="do not match config.json"):
        MouthRefiner.from_pretrained(tmp_path / "r")


def test_shipped_refiner_changes_the_bank_frame_only_inside_the_mouth_box():
    from avatarkit.face import load_avatar
    from avatarkit.render.base import make_renderer

    if not (SHIPPED / "model.safetensors").is_file():
        pytest.skip("no shipped refiner weights")
    try:
        from avatarkit.mouthbank import load_bank

        load_bank()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no shipped bank ({e})")
    shipped = MouthRefiner.from_pretrained()
    assert shipped.parameters < 1_000_000 and (SHIPPED / "model.safetensors").stat().st_size < 4 * 2 ** 20
    rig = load_avatar(ROOT / "avatarkit" / "avatars" / "presenter.png")
    bank = make_renderer("bank").bind(rig)
    refined = make_renderer("refined").bind(rig)
    values = {"jaw": 0.7, "wide": 0.2}
    a = bank.render_frame(values, entry=5)
    b = refined.render_frame(values, entry=5)
    assert a.box == b.box and np.array_equal(a.landmarks, b.landmarks)
    x0, y0, x1, y1 = refined.last_region
    diff = np.abs(a.rgb.astype(int) - b.rgb).max(2)
    assert diff.max() > 0, "the refiner changed nothing"
    outside = diff.copy()
    outside[y0:y1, x0:x1] = 0
    assert outside.max() == 0
    # The region is the mouth box: around the target lips, well inside the face.
    lips = b.landmarks[[61, 291, 0, 17], :2] - b.box[:2]
    assert x0 < lips[:, 0].min() and lips[:, 0].max() < x1 and y0 < lips[:, 1].min() and lips[:, 1].max() < y1
    assert (x1 - x0) * (y1 - y0) < 0.25 * b.rgb.shape[0] * b.rgb.shape[1]
