"""A photo whose mouth is too small, turned away or covered is refused at intake, naming the measured figure."""

from __future__ import annotations

import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from avatarkit.errors import FaceError
from avatarkit.face import detect_landmarks, load_avatar, rig_from_image
from avatarkit.face.intake import MAX_TURN_DEG, MIN_MOUTH_PX, photo_figures, photo_problem

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "avatar.png"


@pytest.fixture(scope="module")
def photo():
    rgb = cv2.cvtColor(cv2.imread(str(SAMPLE)), cv2.COLOR_BGR2RGB)
    return rgb, detect_landmarks(rgb)


def test_the_sample_photo_passes_with_margin(photo):
    rgb, pts = photo
    f = photo_figures(rgb, pts)
    assert f["mouth_px"] > MIN_MOUTH_PX + 10 and abs(f["turn_deg"]) < 5 and f["mouth_texture"] > 20
    assert photo_problem(rgb, pts) is None


def _saved(tmp_path: Path, name: str, rgb: np.ndarray) -> Path:
    path = tmp_path / name
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_a_tiny_face_is_refused_with_its_mouth_width(photo, tmp_path, monkeypatch):
    monkeypatch.setenv("AVATARKIT_HOME", str(tmp_path / "home"))
    small = cv2.resize(photo[0], None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    with pytest.raises(FaceError, match=r"small\.png: the mouth is 2\d px wide; an avatar photo needs at least 28 px"):
        load_avatar(_saved(tmp_path, "small.png", small))
    # A video frame with a small mouth (footage, an eval clip) is not a photo avatar: its rig is made.
    assert rig_from_image(small, source="frame").iod > 0


def test_a_covered_mouth_is_refused(photo, tmp_path, monkeypatch):
    monkeypatch.setenv("AVATARKIT_HOME", str(tmp_path / "home"))
    rgb, pts = photo
    lips = pts[[61, 291, 0, 17], :2]
    (x0, y0), (x1, y1) = np.floor(lips.min(0)).astype(int) - 6, np.ceil(lips.max(0)).astype(int) + 6
    covered = rgb.copy()
    cv2.rectangle(covered, (int(x0), int(y0)), (int(x1), int(y1)), (200, 160, 140), -1)
    with pytest.raises(FaceError, match=r"covered\.png: the mouth is covered \(the lips show no detail: grey spread 0\.0"):
        load_avatar(_saved(tmp_path, "covered.png", covered))


def test_a_turned_face_is_refused_with_its_angle(photo):
    rgb, pts = photo
    # Turn the measured 3D landmarks 35 degrees about the vertical axis through the face's centre.
    a = math.radians(35)
    c = pts.astype(np.float64).mean(0)
    p = pts.astype(np.float64) - c
    x, z = p[:, 0] * math.cos(a) - p[:, 2] * math.sin(a), p[:, 0] * math.sin(a) + p[:, 2] * math.cos(a)
    turned = np.stack([x, p[:, 1], z], 1) + c
    f = photo_figures(rgb, turned)
    assert abs(f["turn_deg"]) > MAX_TURN_DEG
    msg = photo_problem(rgb, turned, "face.png")
    assert msg is not None and re.search(r"face\.png: the face is turned 3\d° away from the camera; at most 25°", msg)
