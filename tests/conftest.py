"""Shared fixtures: one real render of a short script, reused by the end-to-end tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GLOG_minloglevel", "2")
# Tests render afresh: no finished render is taken from the user's cache (tests of the cache name their own).
os.environ.setdefault("AVATARKIT_RENDER_CACHE", "off")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"

SHORT_SCRIPT = """\
avatarkit: 1
title: Test video
language: en
defaults:
  avatar: {avatar}
  voice: en-us-joe
  background: studio
  resolution: 1280x720
  fps: 25
scenes:
  - id: one
    segments:
      - text: Hello there, and welcome to the *first* lesson. [pause 800ms]
      - text: "[nod] We open the mouth to speak, and we close it in silence."
  - id: two
    layout: pip
    background: {{kind: gradient, colors: ["#203040", "#4080a0"]}}
    segments:
      - pause: 600ms
      - text: Thank you for watching, see you soon!
"""


@pytest.fixture(scope="session")
def short_script(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("script")
    p = d / "short.yaml"
    p.write_text(SHORT_SCRIPT.format(avatar=SAMPLES / "avatar.png"), encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def rendered(short_script, tmp_path_factory):
    """Render the short script once through the public API."""
    import avatarkit

    out = tmp_path_factory.mktemp("out")
    events = []
    result = avatarkit.render(short_script, out_dir=out, progress=events.append)
    return result, events


@pytest.fixture(scope="session")
def rig():
    from avatarkit.face import load_avatar

    return load_avatar(SAMPLES / "avatar.png")
