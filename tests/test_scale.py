"""Rendering in parts: Ray tasks per scene give the same video as one process, and a killed render resumes.

eSpeak NG's output depends on what its process synthesised before (a few
samples of timing), so every render compared here runs in a fresh
process, as a user's `avatarkit render` does, and makes the same speech
in the same order.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from avatarkit.localize import Entry, load_store, save_store, store_path, units
from avatarkit.script import load_script

from .audiofiles import decode_mp4
from .conftest import SAMPLES

SCRIPT = """title: Three scenes
language: en
languages: {de: de-espeak}
brand: brand.yaml
defaults: {avatar: avatar.png, voice: en-espeak, resolution: 288x160, captions: true}
scenes:
  - id: one
    segments: ["Hello there. [pause 300ms] This is the first scene."]
  - id: two
    layout: beside
    title: Steps
    bullets: [Keep receipts]
    transition: slide
    segments: ["Keep every receipt."]
  - id: three
    transition: cut
    segments: ["That is all."]
"""
BRAND = """colors: {background: ["#0f2742", "#1f5fae"]}
transition: crossfade
intro: {title: Three scenes, duration: 1s}
outro: {title: Thanks, duration: 1s}
music: {file: music.m4a}
"""
DE = {"title": "Drei Szenen", "scenes.one.segments.0.text": "Hallo. [pause 300ms] Das ist die erste Szene.",
      "scenes.two.title": "Schritte", "scenes.two.bullets.0": "Belege aufbewahren",
      "scenes.two.segments.0.text": "Bewahren Sie jeden Beleg auf.", "scenes.three.segments.0.text": "Das ist alles."}
PARTS = 5       # intro card, three scenes, outro card


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    d = tmp_path_factory.mktemp("scale")
    for name in ("avatar.png", "music.m4a"):
        shutil.copy(SAMPLES / name, d / name)
    (d / "talk.yaml").write_text(SCRIPT, encoding="utf-8")
    (d / "brand.yaml").write_text(BRAND, encoding="utf-8")
    s = load_script(d / "talk.yaml")
    store = load_store(store_path(d / "talk.yaml"))
    src = {u.id: u.text for u in units(s)}
    for uid, text in DE.items():
        store.put("de", uid, Entry(text, src[uid]))
    save_store(store_path(d / "talk.yaml"), store)
    return d


def _fresh(code: str, *args, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


# Counts the parts each process draws itself: on Ray, the driver draws none.
DRAWN = """
import sys, json
from avatarkit.pipeline.core import Pipeline
drawn = []
_draw = Pipeline.draw
def draw(self, job, part, segment, on_item=None, **kw):
    drawn.append(part.index)
    return _draw(self, job, part, segment, on_item, **kw)
Pipeline.draw = draw
"""


def _same_video(a, b) -> None:
    fa, aa = decode_mp4(a)
    fb, ab = decode_mp4(b)
    assert len(fa) == len(fb)
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb))
    assert np.array_equal(aa, ab)


def test_ray_parts_join_into_the_single_process_video(course):
    pytest.importorskip("ray")
    local = DRAWN + """
from avatarkit.pipeline.course import render_course
r = render_course(sys.argv[1], sys.argv[2])
print(json.dumps({"drawn": drawn, "scenes": {k: v.scenes for k, v in r.items()}}))
"""
    remote = DRAWN + """
import ray
from avatarkit.pipeline.course import render_course
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
events = []
r = render_course(sys.argv[1], sys.argv[2], executor="ray", progress=lambda p: events.append(p.language))
print(json.dumps({"drawn": drawn, "events": events, "scenes": {k: v.scenes for k, v in r.items()}}))
"""
    # Both processes make the speech of en, then de, as the Ray driver does.
    p = _fresh(local, course / "talk.yaml", course / "local")
    assert p.returncode == 0, p.stderr[-3000:]
    ref = json.loads(p.stdout.strip().splitlines()[-1])
    assert ref["drawn"] == list(range(PARTS)) * 2
    before = _worker_folders()
    p = _fresh(remote, course / "talk.yaml", course / "ray", timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["drawn"] == []                              # every part was a Ray task
    assert got["events"].count("en") == PARTS and got["events"].count("de") == PARTS
    for lang in ("en", "de"):
        _same_video(course / "local" / f"talk.{lang}.mp4", course / "ray" / f"talk.{lang}.mp4")
        for ext in ("vtt", "srt"):
            assert (course / "local" / f"talk.{lang}.{ext}").read_bytes() == \
                (course / "ray" / f"talk.{lang}.{ext}").read_bytes()
        assert got["scenes"][lang] == ref["scenes"][lang]
        assert not (course / "ray" / f".talk.{lang}.parts").exists()     # the work folder goes once joined
    # The workers unpacked the script's folder; Ray kills them once the driver is gone, and nothing they
    # unpacked is left behind (folders of other processes' renders may come and go meanwhile).
    for _ in range(60):
        left = _worker_folders() - before
        if not left:
            break
        time.sleep(1)
    assert not left, left


def _worker_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("avatarkit-ray-*"))


def test_a_killed_render_resumes_from_its_last_finished_scene(course):
    out = course / "resume"
    once = DRAWN + """
from avatarkit.pipeline.core import render
render(sys.argv[1], sys.argv[2])
print(json.dumps({"drawn": drawn}))
"""
    p = _fresh(once, course / "talk.yaml", out / "whole")
    assert p.returncode == 0, p.stderr[-3000:]
    # Killed (SIGKILL, nothing cleaned up) after the first phrase of part 3, the second scene, once the
    # speech, which runs ahead of the drawing, is all made (a part whose speech was not made yet gets it made
    # again on resume, and eSpeak's timing may then differ by a few samples).
    killed = """
import os, signal, sys, time
from avatarkit.pipeline.core import Pipeline, render
_draw = Pipeline.draw
def draw(self, job, part, segment, on_item=None, **kw):
    def item(it, end):
        if on_item:
            on_item(it, end)     # the render's own: records the part before once its segment is closed
        if part.index == 2:
            for _ in range(600):
                if len(list(job.work.root.glob("speech-*.npz"))) == len(job.parts):
                    break
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)
    return _draw(self, job, part, segment, item, **kw)
Pipeline.draw = draw
render(sys.argv[1], sys.argv[2])
"""
    p = _fresh(killed, course / "talk.yaml", out / "parts")
    assert p.returncode == -9
    work = out / "parts" / ".talk.en.parts"
    assert sorted(x.name for x in work.glob("part-*.json")) == ["part-0000.json", "part-0001.json"]
    assert not (out / "parts" / "talk.en.mp4").exists()
    p = _fresh(once, course / "talk.yaml", out / "parts")
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads(p.stdout.strip().splitlines()[-1])["drawn"] == [2, 3, 4]
    _same_video(out / "whole" / "talk.en.mp4", out / "parts" / "talk.en.mp4")
    assert (out / "whole" / "talk.en.vtt").read_bytes() == (out / "parts" / "talk.en.vtt").read_bytes()
    assert not work.exists()


def test_a_changed_script_does_not_reuse_old_parts(course, tmp_path):
    from avatarkit.pipeline.parts import WorkDir

    w = WorkDir(tmp_path / "w", "a")
    (w.root / "part-0000.json").write_text("{}")
    assert WorkDir(tmp_path / "w", "a").result_path(0).exists()
    assert not WorkDir(tmp_path / "w", "b").result_path(0).exists()


def test_piper_speaks_the_same_samples_in_every_process():
    # Piper draws noise inside its model; a seeded session makes a fresh process repeat itself exactly,
    # which is what lets the Ray driver's speech equal a local render's.
    code = """
import hashlib
from avatarkit.speech.engines.base import make_engine
from avatarkit.speech.utterance import Token
from avatarkit.speech.voice import get_voice
e = make_engine(get_voice("en-us-joe"))
toks = [Token(w) for w in "Keep every receipt for the audit.".split()]
print(",".join(hashlib.sha256(e.synthesize(toks).audio.tobytes()).hexdigest() for _ in range(2)))
"""
    runs = [_fresh(code) for _ in range(2)]
    assert all(p.returncode == 0 for p in runs), runs[0].stderr[-2000:]
    outs = [p.stdout.strip().splitlines()[-1] for p in runs]
    assert outs[0] == outs[1]
