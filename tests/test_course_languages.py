"""The sample course in five languages (one right to left) renders and exports in one command."""

from __future__ import annotations

import json
import shutil
import zipfile

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from avatarkit.cli import app

from .conftest import SAMPLES

LANGS = ["en", "de", "fr", "ja", "ar"]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    d = tmp_path_factory.mktemp("course")
    for f in ("course.yaml", "course.translations.yaml", "avatar.png"):
        shutil.copy(SAMPLES / f, d / f)
    r = CliRunner().invoke(app, ["export", str(d / "course.yaml"), "--format", "scorm2004", "--size", "480p",
                                 "-o", str(d / "out" / "course.zip")])
    assert r.exit_code == 0, r.output
    return d


def test_one_command_renders_every_language_and_packages_it(package):
    with zipfile.ZipFile(package / "out" / "course.zip") as z:
        names = set(z.namelist())
        course = json.loads(z.read("course.json"))
        manifest = z.read("imsmanifest.xml").decode()
    for lang in LANGS:
        assert {f"media/{lang}/video.mp4", f"media/{lang}/captions.vtt"} <= names
    assert "adlcp:scormType=\"sco\"" in manifest
    renders = package / "out" / "course.renders"
    durations = {}
    for lang in LANGS:
        with av.open(str(renders / f"course.{lang}.mp4")) as c:
            durations[lang] = float(c.duration) / 1e6
            assert c.streams.audio[0].metadata.get("language") == {"en": "eng", "de": "deu", "fr": "fra", "ja": "jpn",
                                                                   "ar": "ara"}[lang]
        vtt = (renders / f"course.{lang}.vtt").read_text(encoding="utf-8")
        # Captions are in the language, with the markup gone.
        assert "[pause" not in vtt and "[nod]" not in vtt
    assert "Spesen-App" in (renders / "course.de.vtt").read_text(encoding="utf-8")
    assert "経費アプリ" in (renders / "course.ja.vtt").read_text(encoding="utf-8")
    assert "تطبيق المصروفات" in (renders / "course.ar.vtt").read_text(encoding="utf-8")
    # Each language runs on its own audio: they do not all have the English length.
    assert len({round(v) for v in durations.values()}) >= 3
    assert json.dumps(course, ensure_ascii=False).count("rtl") >= 1


def test_arabic_slide_card_reads_from_the_right(package):
    renders = package / "out" / "course.renders"
    record = json.loads((renders / "course.ar.json").read_text())
    sid, first, end = next(s for s in record["scenes"] if s[0] == "steps")
    with av.open(str(renders / "course.ar.mp4")) as c:
        frame = next(f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i == end - 5)
    h, w = frame.shape[:2]
    card = frame[int(0.12 * h):int(0.75 * h), int(0.04 * w):int(0.62 * w)].astype(int)
    ink = (card.sum(-1) < 200)                     # dark letters on the white card
    cols = np.flatnonzero(ink.any(0))
    assert cols.size
    # Titles and bullets are right-aligned: the ink hugs the card's right side and leaves its left side empty.
    assert cols.max() > 0.85 * card.shape[1] and cols.min() > 0.15 * card.shape[1]
