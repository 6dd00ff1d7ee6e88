"""The script format: parsing, markup, lexicon, and errors that name file, line and field."""

from __future__ import annotations

import textwrap

import pytest

from avatarkit import ScriptError
from avatarkit.script import load_script, parse_script, parse_text
from avatarkit.script.model import Gesture

from .conftest import SAMPLES


def _script(body: str, tmp_path, name="s.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(body).replace("AVATAR", str(SAMPLES / "avatar.png")), encoding="utf-8")
    return p


def test_sample_script_parses():
    s = load_script(SAMPLES / "welcome.yaml")
    assert s.title == "Welcome to avatarkit" and s.resolution == (1280, 720) and s.fps == 25
    assert [sc.id for sc in s.scenes] == ["intro", "how"]
    assert s.scenes[1].background.kind == "gradient"
    assert s.scenes[0].avatar == SAMPLES / "avatar.png"
    first = s.scenes[0].segments[0].phrases[0]
    assert first.words[-1].text == "avatarkit." and first.words[-1].emphasis
    assert first.pause_ms == 400


def test_markup_pauses_gestures_emphasis():
    phrases = parse_text("Hi *there*. [pause 1.5s] [nod] Next *two words* here! [tilt]")
    assert [p.text for p in phrases] == ["Hi there.", "Next two words here!"]
    assert phrases[0].pause_ms == 1500
    assert [w.emphasis for w in phrases[1].words] == [False, True, True, False]
    assert phrases[1].gestures[0] == Gesture("nod", 0)
    assert phrases[1].gestures[1].kind == "tilt"


def test_sentences_become_phrases():
    phrases = parse_text("One. Two? Three! Four")
    assert [p.text for p in phrases] == ["One.", "Two?", "Three!", "Four"]


@pytest.mark.parametrize("text,msg", [
    ("hello [jump]", "unknown tag [jump]"),
    ("*never closed", "never closed"),
    ("closed* twice", "never opened"),
    ("wait [pause 2 minutes]", "unknown tag"),
    ("wait [pause 90s]", "between 0 and 60s"),
])
def test_markup_errors(text, msg):
    with pytest.raises(ScriptError, match=msg.replace("[", r"\[").replace("]", r"\]")):
        parse_text(text, file="f.yaml", line=3)


def test_error_in_block_text_names_its_line(tmp_path):
    p = _script("""\
        title: t
        defaults: {avatar: AVATAR}
        scenes:
          - segments:
              - text: |
                  First line is fine.
                  Second line has [oops] in it.
        """, tmp_path)
    with pytest.raises(ScriptError) as e:
        load_script(p)
    assert e.value.line == 7 and e.value.file == str(p)
    assert str(e.value).startswith(f"{p}:7: scenes[0].segments[0].text: unknown tag [oops]")


@pytest.mark.parametrize("body,line,field,msg", [
    ("title: t\ncolour: red\nscenes: []\n", 2, "colour", "unknown field"),
    ("defaults: {avatar: AVATAR}\nscenes:\n  - segments: [hi]\n", 1, "title", "required"),
    ("title: t\ndefaults:\n  avatar: AVATAR\n  resolution: huge\nscenes:\n  - segments: [hi]\n", 4,
     "defaults.resolution", "WIDTHxHEIGHT"),
    ("title: t\ndefaults:\n  avatar: AVATAR\n  fps: 7\nscenes:\n  - segments: [hi]\n", 4, "defaults.fps", "divide"),
    ("title: t\ndefaults:\n  avatar: nothere.png\nscenes:\n  - segments: [hi]\n", 3, "defaults.avatar", "not found"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - segments:\n      - text: hi\n        voice: 3\n", 6,
     "scenes[0].segments[0].voice", "expected str"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - background: plaid\n    segments: [hi]\n", 4,
     "scenes[0].background", "unknown background"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - layout: split\n    segments: [hi]\n", 4,
     "scenes[0].layout", "unknown layout"),
    ("title: t\ndefaults: {avatar: AVATAR}\nlexicon:\n  en:\n    SQL: {spell: x}\nscenes:\n  - segments: [hi]\n",
     5, "lexicon.en.SQL.spell", "unknown field"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - segments:\n      - pause: soon\n", 5,
     "scenes[0].segments[0].pause", "duration"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - segments:\n      - pause: 1s\n", 4,
     "scenes[0].segments", "nothing to say"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - slide: deck.key\n    segments: [hi]\n", 4,
     "scenes[0].slide", "is not a"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - slide: {file: gone.pdf, page: 2}\n    segments: [hi]\n", 4,
     "scenes[0].slide.file", "not found"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - slide: {file: AVATAR, page: 2}\n    segments: [hi]\n", 4,
     "scenes[0].slide.page", "only PDF and PPTX"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - bullets: [ok, 3]\n    segments: [hi]\n", 4,
     "scenes[0].bullets[1]", "a bullet is a line of text"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - lower_third: {role: Trainer}\n    segments: [hi]\n", 4,
     "scenes[0].lower_third.name", "required"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - transition: {kind: wipe}\n    segments: [hi]\n", 4,
     "scenes[0].transition", "unknown transition"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - transition: {kind: slide, duration: 9s}\n    segments: [hi]\n",
     4, "scenes[0].transition.duration", "between"),
    ("title: t\ndefaults: {avatar: AVATAR}\nscenes:\n  - background: blur\n    segments: [hi]\n", 4,
     "scenes[0].background", "has none"),
    ("title: t\ndefaults: {avatar: AVATAR, resolution: 1280x720, aspect: 9:16}\nscenes:\n  - segments: [hi]\n", 2,
     "defaults.aspect", "goes with a size"),
    ("title: t\ndefaults: {avatar: AVATAR, resolution: 4000x2000}\nscenes:\n  - segments: [hi]\n", 2,
     "defaults.resolution", "between 160 and 3840"),
])
def test_validation_errors_name_line_and_field(tmp_path, body, line, field, msg):
    p = _script(body, tmp_path)
    with pytest.raises(ScriptError) as e:
        load_script(p)
    assert msg in e.value.message, e.value
    assert e.value.field == field, e.value
    assert e.value.line == line, e.value


def test_bad_yaml_reports_position(tmp_path):
    p = _script("title: t\nscenes: [\n  - oops: : :\n", tmp_path)
    with pytest.raises(ScriptError) as e:
        load_script(p)
    assert "not valid YAML" in str(e.value) and e.value.line is not None


def test_lexicon_lookup_by_language():
    s = parse_script(textwrap.dedent(f"""\
        title: t
        defaults: {{avatar: {SAMPLES / 'avatar.png'}}}
        lexicon:
          en: {{SQL: sequel, LMS: {{ipa: "ɛl ɛm ɛs"}}}}
          de: {{SQL: {{say: es ku el}}}}
        scenes:
          - segments: [hi]
        """))
    assert s.lexicon.lookup("sql,", "en-US").say == "sequel"
    assert s.lexicon.lookup("SQL", "de-DE").say == "es ku el"
    assert s.lexicon.lookup("LMS.", "en").ipa == "ɛl ɛm ɛs"
    assert s.lexicon.lookup("SQL", "fr") is None


def test_slide_fields_and_sizes(tmp_path):
    s = parse_script(textwrap.dedent(f"""\
        title: t
        defaults: {{avatar: {SAMPLES / 'avatar.png'}, resolution: 1080p, aspect: "9:16", captions: true,
                   transition: crossfade}}
        scenes:
          - layout: beside
            slide: {{file: {SAMPLES / 'deck.pptx'}, page: 3}}
            title: Steps
            bullets: [One, Two]
            lower_third: {{name: Anna Berg, role: Trainer}}
            background: {{kind: office, drift: true}}
            transition: {{kind: slide, duration: 800ms}}
            segments: [hi]
          - layout: circle
            segments: [bye]
        """))
    assert s.resolution == (1080, 1920) and s.captions
    a, b = s.scenes
    assert a.slide.kind == "pptx" and a.slide.page == 3 and a.bullets == ("One", "Two") and a.title == "Steps"
    assert a.lower_third.name == "Anna Berg" and a.background.drift and a.background.kind == "office"
    assert (a.transition.kind, a.transition.ms) == ("slide", 800) and b.transition.kind == "crossfade"
    assert b.background is None      # the brand kit's, else the studio, at render time


def test_tags_touching_words_and_unspaced_sentences():
    """Translators (and CAT tools) often leave no space around a tag; Japanese has none between sentences."""
    phrases = parse_text("こんにちは、ようこそ。[pause 300ms]2分でわかります。まず、保管してください。次に、提出し、[nod]使ってください。")
    assert [[w.text for w in p.words] for p in phrases] == [
        ["こんにちは、ようこそ。"], ["2分でわかります。"], ["まず、保管してください。"], ["次に、提出し、", "使ってください。"]]
    assert phrases[0].pause_ms == 300 and phrases[3].gestures[0].kind == "nod" and phrases[3].gestures[0].at == 1
    assert [w.text for p in parse_text("Keep it[nod]simple.") for w in p.words] == ["Keep", "it", "simple."]


def test_scenes_built_in_python_are_checked_as_the_format_is():
    # avatarkit.Scene(layout="split") once rendered as the default layout without a word.
    from pathlib import Path

    from avatarkit.script.model import Scene

    for kwargs, needle in (({"layout": "split"}, "unknown layout 'split'"),
                           ({"layout": "full", "renderer": "magic"}, "unknown renderer 'magic'")):
        with pytest.raises(ScriptError, match=needle):
            Scene("s", [], Path("a.png"), None, **kwargs)
    assert Scene("s", [], Path("a.png"), None, "pip", "bank").layout == "pip"


def test_a_language_tag_must_name_a_known_language(tmp_path):
    # `language: zz` had the form of a tag and rendered `x.zz.mp4`.
    body = f"title: t\nlanguage: zz\ndefaults: {{avatar: {SAMPLES / 'avatar.png'}, voice: en-us-joe}}\nscenes:\n  - segments: [hi]\n"
    p = tmp_path / "x.yaml"
    p.write_text(body)
    with pytest.raises(ScriptError, match=r"x\.yaml:2: language: 'zz' is not a language tag like en or de-DE"):
        load_script(p)
    p.write_text(body.replace("language: zz", "language: pt-BR").replace("voice: en-us-joe", "voice: pt-espeak"))
    assert load_script(p).language == "pt-BR"
