"""Rendering a course's languages as Ray tasks gives the same videos as rendering them here."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from avatarkit.course import render_course
from avatarkit.localize import Entry, load_store, save_store, store_path, units
from avatarkit.script import load_script

from .audiofiles import decode_mp4
from .conftest import SAMPLES

ray = pytest.importorskip("ray")

SCRIPT = """title: Two scenes
language: en
languages: {de: de-espeak}
defaults: {avatar: avatar.png, voice: en-espeak, resolution: 160x160, captions: true}
scenes:
  - id: one
    segments: ["Hello there. [pause 300ms] This is the first scene."]
  - id: two
    layout: beside
    title: Steps
    bullets: [Keep receipts]
    transition: crossfade
    segments: ["Keep every receipt."]
"""
DE = {"title": "Zwei Szenen", "scenes.one.segments.0.text": "Hallo. [pause 300ms] Das ist die erste Szene.",
      "scenes.two.title": "Schritte", "scenes.two.bullets.0": "Belege aufbewahren",
      "scenes.two.segments.0.text": "Bewahren Sie jeden Beleg auf."}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    d = tmp_path_factory.mktemp("scale")
    shutil.copy(SAMPLES / "avatar.png", d / "avatar.png")
    (d / "talk.yaml").write_text(SCRIPT, encoding="utf-8")
    s = load_script(d / "talk.yaml")
    store = load_store(store_path(d / "talk.yaml"))
    src = {u.id: u.text for u in units(s)}
    for uid, text in DE.items():
        store.put("de", uid, Entry(text, src[uid]))
    save_store(store_path(d / "talk.yaml"), store)
    return d


def _render_alone(course, lang: str):
    """The single-process render of one language, in a fresh process (as a Ray task is)."""
    import subprocess
    import sys

    code = ("import sys; from avatarkit.course import render_course; "
            "render_course(sys.argv[1], sys.argv[2], languages=[sys.argv[3]])")
    subprocess.run([sys.executable, "-c", code, str(course / "talk.yaml"), str(course / "local"), lang],
                   check=True, capture_output=True, timeout=300)


def test_ray_tasks_render_the_same_videos_as_one_process(course):
    # eSpeak NG's output depends on what its process synthesised before (a few samples of timing), so
    # each language is compared with a render of it in a fresh process, which is what a Ray task is.
    for lang in ("en", "de"):
        _render_alone(course, lang)
    local = render_course(course / "talk.yaml", course / "local")    # both up to date: read from the records
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = render_course(course / "talk.yaml", course / "ray", executor="ray")
    finally:
        ray.shutdown()
    assert list(remote) == ["en", "de"]
    for lang in ("en", "de"):
        fl, al = decode_mp4(local[lang].video)
        fr, ar = decode_mp4(remote[lang].video)
        assert len(fl) == len(fr) and all(np.array_equal(a, b) for a, b in zip(fl, fr))
        assert np.array_equal(al, ar)
        assert local[lang].vtt.read_text(encoding="utf-8") == remote[lang].vtt.read_text(encoding="utf-8")
        assert [tuple(x) for x in local[lang].scenes] == [tuple(x) for x in remote[lang].scenes]
    # The records written from the cluster's results let a rerun reuse both languages without rendering.
    again = render_course(course / "talk.yaml", course / "ray")
    assert all(again[lang].video == remote[lang].video for lang in ("en", "de"))
