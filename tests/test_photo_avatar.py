"""Photo avatars with the person's own teeth: `avatarkit avatar add NAME --photo ... --mouths ...`."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from avatarkit.cli.main import app
from avatarkit.face.avatar import AvatarError, add_photo_avatar, list_avatars, mouths_from, open_avatar

from .conftest import SAMPLES

CLIP = Path(__file__).resolve().parents[1] / "data" / "talking" / "cremad_1001_DFA_ANG_XX.flv"


def test_photo_avatar_with_own_mouths_renders_them(tmp_path, monkeypatch):
    monkeypatch.setenv("AVATARKIT_HOME", str(tmp_path / "home"))
    consent = tmp_path / "consent.txt"
    consent.write_text("I agree.\n")
    res = CliRunner().invoke(app, ["avatar", "add", "ann", "--photo", str(SAMPLES / "avatar.png"), "--mouths",
                                   str(CLIP), "--consent", str(consent)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "added photo avatar ann" in text and "renderer: bank" in text
    a = open_avatar("ann")
    assert a.kind == "photo" and a.photo.is_file() and a.mouths_file is not None
    assert a.meta["mouths"]["entries"] >= 5 and (a.folder / "consent" / "consent.txt").is_file()
    assert [x.name for x in list_avatars()] == ["ann"]

    # A script that names the avatar, with the bank renderer: the mouths pasted are mostly the person's own.
    import avatarkit

    bank_mod = importlib.import_module("avatarkit.render.bank")
    picked = []
    mouth = bank_mod.BoundBank.mouth

    def spy(self, frame, entry):
        picked.append(entry < self.own)
        return mouth(self, frame, entry)

    monkeypatch.setattr(bank_mod.BoundBank, "mouth", spy)
    script = tmp_path / "s.yaml"
    script.write_text("avatarkit: 1\ntitle: Teeth\ndefaults:\n  avatar: ann\n  renderer: bank\n  resolution: 640x360\n"
                      "scenes:\n  - segments:\n      - text: Hello, and welcome to our short lesson today.\n")
    out = avatarkit.render(script, out_dir=tmp_path / "out")
    assert out.video.is_file() and len(picked) > 20
    opened = np.mean(picked)
    assert opened > 0.5, opened


def test_photo_avatar_bad_input_is_named(tmp_path):
    consent = tmp_path / "consent.txt"
    consent.write_text("I agree.\n")
    # A photo with the lips closed (the first frame of a CREMA-D clip) cannot give teeth.
    import cv2

    from avatarkit.face.footage import video_frames

    closed = next(iter(video_frames(CLIP.with_name("cremad_1001_DFA_NEU_XX.flv"))))
    cv2.imwrite(str(tmp_path / "closed.png"), cv2.cvtColor(closed, cv2.COLOR_RGB2BGR))
    with pytest.raises(AvatarError, match=r"never opens.*widest inner-lip opening 0\.0\d+"):
        mouths_from(tmp_path / "closed.png", "x")
    # The sample photo itself shows its teeth: one mouth of its own.
    assert len(mouths_from(SAMPLES / "avatar.png", "x")) == 1
    with pytest.raises(AvatarError, match="mouths file not found"):
        add_photo_avatar("x", SAMPLES / "avatar.png", consent, mouths=tmp_path / "none.mp4", home=tmp_path)
    with pytest.raises(AvatarError, match="expected a photo"):
        add_photo_avatar("x", CLIP, consent, home=tmp_path)
    # Nothing half-made is left behind.
    assert not (tmp_path / "avatars").exists() or not any((tmp_path / "avatars").iterdir())
    res = CliRunner().invoke(app, ["avatar", "add", "x", "--consent", str(consent), "--home", str(tmp_path)])
    assert res.exit_code != 0 and "either --footage" in " ".join(res.output.split())
