"""Footage avatar preparation (per-frame fields, the person's own mouth bank) and `avatarkit eval footage`.

The footage is a few seconds of a real presenter cut from `../shared/media/talking`;
the tests are skipped when that folder is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT

MEDIA = ROOT.parent / "shared" / "media" / "talking"
CLIP = MEDIA / "usgov_styletalk_KristiNoem_muxed.mp4"

pytestmark = pytest.mark.skipif(not CLIP.is_file(), reason=f"{CLIP} (real talking footage) is not here")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """The first 4 s (120 frames) of a real presenter clip, with its sound."""
    from avatarkit.eval.footage import cut_clip

    return cut_clip(CLIP, tmp_path_factory.mktemp("clip") / "noem4.mp4", 0, 120)


@pytest.fixture(scope="module")
def consent(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("consent") / "consent.txt"
    p.write_text("I agree.")
    return p


def test_preparation_stores_per_frame_fields_and_own_bank(clip, consent, tmp_path):
    from avatarkit.face.avatar import add_avatar, open_avatar
    from avatarkit.mouthbank import HEIGHT, WIDTH

    a = add_avatar("noem", clip, consent, home=tmp_path)
    a = open_avatar("noem", tmp_path)            # what is on disk, not what was in memory
    f, n = a.track.features, a.track.frames
    assert n == 120
    for k, shape in {"pose": (5,), "head": (3,), "eyes": (2,), "lips": (20, 2), "opening": (), "teeth": (),
                     "sharpness": (), "blink": ()}.items():
        assert f[k].shape == (n, *shape), k
    good = a.track.good
    assert np.isfinite(f["lips"][good]).all() and np.isfinite(f["sharpness"][good]).all()
    assert (f["sharpness"][good] > 0).all() and ((f["teeth"][good] >= 0) & (f["teeth"][good] <= 1)).all()
    assert f["opening"][good].max() > 0.06 and f["blink"].dtype == bool
    assert not a.trained                        # no training step in `add`
    assert a.meta["mouths"]["source"] == "own" and a.mouths_file == a.folder / "mouths.npz"
    bank = a.mouth_bank()
    assert len(bank) == a.meta["mouths"]["entries"] > 10
    assert bank.crop(0).shape == (HEIGHT, WIDTH, 3)
    # Every entry is a usable open-mouth frame of this footage.
    assert all(good[i] and f["opening"][i] >= 0.06 for i in bank.frame)
    assert not any("open mouth" in w for w in a.meta["intake"]["warnings"])


def test_footage_without_open_mouth_falls_back_to_shipped_bank(clip, consent, tmp_path):
    from avatarkit.face.avatar import add_avatar
    from avatarkit.mouthbank import DEFAULT_PATH

    # No frame of real talking opens the lips by 5 IOD: as if the person never opened their mouth.
    a = add_avatar("shut", clip, consent, home=tmp_path, bank_min_open=5.0)
    assert a.meta["mouths"] == {"source": "shipped", "entries": 0}
    assert a.mouths_file is None and not (a.folder / "mouths.npz").exists()
    warn = [w for w in a.meta["intake"]["warnings"] if "never shows an open mouth" in w]
    assert len(warn) == 1 and "checked 4.0 s" in warn[0] and "shipped mouth bank" in warn[0]
    if DEFAULT_PATH.is_file():
        assert len(a.mouth_bank()) > 0


def test_cli_add_prints_the_fallback_warning(clip, consent, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import avatarkit.face.footage as footage
    from avatarkit.cli.main import app

    monkeypatch.setattr(footage, "BANK_MIN_OPEN", 5.0)
    r = CliRunner().invoke(app, ["avatar", "add", "shut", "--footage", str(clip), "--consent", str(consent),
                                 "--home", str(tmp_path)])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "never shows an open mouth" in out and "no training needed" in out


def test_eval_footage_end_to_end(clip, tmp_path):
    from typer.testing import CliRunner

    from avatarkit.cli.main import app

    r = CliRunner().invoke(app, ["eval", "footage", str(clip), "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    assert "replay+bank" in r.output and "psnr" in r.output
    rep = json.loads((tmp_path / "r.json").read_text())[0]
    assert rep["prepared_s"] == pytest.approx(80 / 30) and rep["bank"].startswith("own")
    scores = {s["method"]: s for s in rep["scores"]}
    assert set(scores) == {"replay", "replay+bank", "graph+bank", "real+bank"}
    for s in scores.values():
        assert s["frames"] == 40
        assert 10 < s["psnr"] < 60 and 0 < s["ssim"] <= 1 and 0 <= s["lmd"] < 0.5 and s["sharp"] > 0
        assert s["jumps"] >= 0 and np.isfinite(s["jump_ratio"])
    assert scores["replay+bank"]["s_per_s"] > 0 and scores["graph+bank"]["s_per_s"] > 0
    # On the held-out frames themselves only the mouth differs from the real: closer than any re-timing.
    assert scores["real+bank"]["psnr"] > max(scores[m]["psnr"] for m in ("replay", "graph+bank"))
    assert scores["real+bank"]["lmd"] < scores["replay"]["lmd"]


def test_eval_footage_refuses_short_clip(tmp_path):
    from avatarkit.errors import AvatarkitError
    from avatarkit.eval.footage import cut_clip, evaluate_footage

    short = cut_clip(CLIP, tmp_path / "short.mp4", 0, 60)
    with pytest.raises(AvatarkitError, match="too short"):
        evaluate_footage(short)


def test_cuts_and_unusable_parts_are_named_in_seconds(clip, tmp_path):
    """Footage that cuts to another framing half way, then shows two faces: intake names where, in seconds."""
    from avatarkit.face.footage import analyse_footage, video_frames, video_info
    from avatarkit.media.writer import VideoWriter

    fps, w, h, _ = video_info(clip)
    frames = list(video_frames(clip))[:90]
    shifted = [np.roll(f, w // 6, axis=1) for f in frames[45:75]]        # a cut to a new framing at 1.5 s
    two = [np.concatenate([f[:, w // 4: w // 4 + w // 2]] * 2, axis=1) for f in frames[75:90]]   # 2.5-3.0 s
    out = tmp_path / "cut.mp4"
    with VideoWriter(out, w, h, int(round(fps))) as vw:
        for f in frames[:45] + shifted + two:
            vw.write_frame(np.ascontiguousarray(f))
    track = analyse_footage(out)
    text = " ".join(track.warnings)
    assert "jumps at 1.5 s" in text and "trim the footage" in text, text
    spans = track.unusable()
    assert "2.5-3.0 s (several faces)" in spans, spans     # two faces side by side, named as such
