"""Localisation: string ids, the translations file, XLIFF 2.0 / 1.2 out and back, translators, localized scripts."""

from __future__ import annotations

import copy
import importlib.util
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from lxml import etree

from avatarkit import AvatarkitError, ScriptError
from avatarkit.compose.bidi import paragraph_level
from avatarkit.localize import (
    MARIAN_MISSING,
    Entry,
    MarianTranslator,
    Store,
    coverage,
    export_xliff,
    import_xliff,
    join_markup,
    load_localized,
    load_store,
    localize,
    localized_script,
    make_translator,
    save_store,
    script_languages,
    split_markup,
    store_path,
    translate_missing,
    units,
)
from avatarkit.localize.inline import Code, Keep, Span
from avatarkit.script import load_script, parse_text

from .conftest import SAMPLES

X2 = "urn:oasis:names:tc:xliff:document:2.0"
X1 = "urn:oasis:names:tc:xliff:document:1.2"
GLS = "urn:oasis:names:tc:xliff:glossary:2.0"
SLR = "urn:oasis:names:tc:xliff:sizerestriction:2.0"

COURSE = """\
avatarkit: 1
title: Welcome to avatarkit
language: en
languages:
  de: de-espeak
  fr:
glossary:
  avatarkit: {translate: false, note: product name}
  LMS: {de: Lernplattform}
defaults:
  avatar: AVATAR
  voice: en-us-joe
scenes:
  - id: intro
    title: Getting started
    bullets: [Write a script, Render a video]
    lower_third: {name: Ada Lovelace, role: Head of training}
    segments:
      - text: >
          Hello, and welcome to *avatarkit*. [pause 400ms]
          [nod] In the next minute, you will see how a *written script* becomes a video.
      - pause: 500ms
      - text: Package it for your LMS. [tilt] Thank you!
  - id: interview
    segments:
      - audio: rec.wav
        text: This is what our *customers* say.
  - segments:
      - text: The last scene has no id.
"""

IDS = ["title", "scenes.intro.title", "scenes.intro.bullets.0", "scenes.intro.bullets.1",
       "scenes.intro.lower_third.role", "scenes.intro.segments.0.text", "scenes.intro.segments.2.text",
       "scenes.interview.segments.0.text", "scenes.scene3.segments.0.text"]


def _write(tmp_path, body: str = COURSE, name: str = "course.yaml"):
    (tmp_path / "rec.wav").write_bytes(b"RIFF")       # the parser only needs the recording to exist
    p = tmp_path / name
    p.write_text(textwrap.dedent(body).replace("AVATAR", str(SAMPLES / "avatar.png")), encoding="utf-8")
    return p


@pytest.fixture
def course(tmp_path):
    return load_script(_write(tmp_path))


def _shape(phrases):
    """What must survive translation: each phrase's pause, gestures and number of emphasised runs of words."""
    def runs(words):
        return sum(w.emphasis and (i == 0 or not words[i - 1].emphasis) for i, w in enumerate(words))
    return [(p.pause_ms, [g.kind for g in p.gestures], runs(p.words)) for p in phrases]


def _cat_tool(path, *, skip=(), edit=None):
    """Fill every target the way a translator's tool would: a copy of the source whose text nodes are
    pseudo-translated, inline elements untouched, segments marked translated (lxml keeps the namespaces)."""
    pseudo = make_translator("pseudo")
    tree = etree.parse(str(path))
    root = tree.getroot()
    v2 = root.tag == f"{{{X2}}}xliff"
    ns = X2 if v2 else X1
    for u in list(root.iter(f"{{{ns}}}unit" if v2 else f"{{{ns}}}trans-unit")):
        uid = u.get("name") if v2 else u.get("resname")
        if uid in skip:
            continue
        parent = u.find(f"{{{ns}}}segment") if v2 else u
        src = parent.find(f"{{{ns}}}source")
        tgt = copy.deepcopy(src)
        tgt.tag = f"{{{ns}}}target"
        for el in tgt.iter():
            if el.tag != f"{{{ns}}}mrk" and el.text and re.search(r"\w", el.text):
                el.text = pseudo.one(el.text)
            if el is not tgt and el.tail and re.search(r"\w", el.tail):
                el.tail = pseudo.one(el.tail)
        if edit and uid in edit:
            for child in list(tgt):
                tgt.remove(child)
            tgt.text = edit[uid]
        src.addnext(tgt)
        (parent if v2 else tgt).set("state", "translated")
    tree.write(str(path), encoding="UTF-8", xml_declaration=True)
    return path


# ------------------------------------------------------------------------------------------------ units


def test_units_have_stable_ids_kinds_notes_and_size_limits(course):
    us = units(course)
    assert [u.id for u in us] == IDS
    kinds = {u.id: u.kind for u in us}
    assert kinds["title"] == "title" and kinds["scenes.intro.title"] == "slide-title"
    assert kinds["scenes.intro.bullets.1"] == "bullet" and kinds["scenes.intro.lower_third.role"] == "role"
    assert kinds["scenes.intro.segments.0.text"] == "narration"
    assert kinds["scenes.interview.segments.0.text"] == "captions"
    by = {u.id: u for u in us}
    # Narration keeps its markup, folded onto one line; pauses have no unit (segment 1 is the pause).
    assert by["scenes.intro.segments.0.text"].text == ("Hello, and welcome to *avatarkit*. [pause 400ms] [nod] In the "
                                                        "next minute, you will see how a *written script* becomes a video.")
    assert "scene 'intro'" in by["scenes.intro.segments.0.text"].context and "[..]" in by["scenes.intro.segments.0.text"].context
    assert "keep it short" in by["scenes.intro.bullets.0"].context
    assert "Ada Lovelace" in by["scenes.intro.lower_third.role"].context
    # On-screen text gets 1.3x its length (at least 12 characters); narration has no limit.
    assert by["scenes.intro.lower_third.role"].max_chars == 21          # ceil(1.3 * 16)
    assert by["scenes.intro.bullets.0"].max_chars == 19                 # ceil(1.3 * 14)
    assert by["scenes.intro.segments.0.text"].max_chars is None


def test_ids_survive_a_scene_inserted_before_unless_the_scene_is_unnamed(tmp_path):
    before = {u.id: u.text for u in units(load_script(_write(tmp_path)))}
    inserted = COURSE.replace("scenes:\n", "scenes:\n  - id: welcome\n    segments:\n      - text: A new first scene.\n")
    after = {u.id: u.text for u in units(load_script(_write(tmp_path, inserted)))}
    for uid, text in before.items():
        if "scene3" not in uid:
            assert after[uid] == text
    # The scene without an id is named by its position: scene3 became scene4.
    assert after["scenes.scene4.segments.0.text"] == before["scenes.scene3.segments.0.text"]
    assert after["scenes.welcome.segments.0.text"] == "A new first scene."


def test_markup_splits_into_codes_spans_and_kept_terms_and_joins_back_exactly():
    text = "Hi *there*, welcome to *avatarkit*. [pause 500ms] [nod] The AVATARKIT way [tilt]"
    items = split_markup(text, keep=("avatarkit",))
    assert items[1] == Span(("there",)) and Span((Keep("avatarkit"),)) in items
    assert Code("[pause 500ms]") in items and Keep("AVATARKIT") in items
    assert join_markup(items) == text
    for odd in ("a *b", "x [y", "* lone", "", "plain * star"):
        assert join_markup(split_markup(odd)) == odd
    # Titles have no markup: the star is text.
    assert split_markup("5 * 3", markup=False) == ("5 * 3",)
    # What translators glue together is set apart again, so that parse_text reads tags and emphasis.
    glued = join_markup(["Hallo", Code("[nod]"), "Welt", Span(("betont ",)), "⟧."], spaced=True)
    assert glued == "Hallo [nod] Welt *betont* ⟧."
    assert [p.gestures[0].kind for p in parse_text(glued) if p.gestures] == ["nod"]


# ------------------------------------------------------------------------------------------------ store


def test_store_round_trips_and_marks_itself_as_written_by_avatarkit(tmp_path):
    path = tmp_path / "c.translations.yaml"
    store = Store(source_language="en", script="c.yaml")
    store.put("de", "title", Entry("Willkommen", "Welcome"))
    store.put("de", "scenes.a.segments.0.text", Entry("Zeile eins\nZeile zwei: [nod] *ja*", "Line one", machine=True))
    store.put("pt-BR", "title", Entry("Olá 'aspas' #1", "Hi"))
    save_store(path, store)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Translations of c.yaml, written by avatarkit")
    assert not list(tmp_path.glob(".*partial"))
    back = load_store(path)
    assert back.languages == store.languages and back.source_language == "en"
    assert back.get("DE", "title").text == "Willkommen" and back.get("de", "title").line is not None
    assert back.get("de", "scenes.a.segments.0.text").machine
    assert load_store(tmp_path / "none.yaml").languages == {}
    assert store_path(tmp_path / "c.yaml") == path


def test_bad_store_names_file_line_and_field(tmp_path):
    path = tmp_path / "c.translations.yaml"
    path.write_text("avatarkit: 1\ntranslations:\n  de:\n    title: {text: Hallo, sorce: Hello}\n", encoding="utf-8")
    with pytest.raises(ScriptError, match=r"c\.translations\.yaml:4: translations\.de\.title\.sorce: unknown field"):
        load_store(path)


# ------------------------------------------------------------------------------------------------ XLIFF out


def test_xliff20_export_protects_markup_and_carries_notes_glossary_and_sizes(course, tmp_path):
    store = Store()
    store.put("de", "scenes.intro.title", Entry("Erste Schritte", "Getting started"))
    store.put("de", "scenes.intro.bullets.0", Entry("Alt", "An older bullet"))       # stale: not prefilled
    [out] = export_xliff(course, ["de"], tmp_path / "course.xlf", store=store)
    assert out == tmp_path / "course.xlf"
    root = ET.parse(out).getroot()
    assert root.tag == f"{{{X2}}}xliff" and root.get("version") == "2.0"
    assert (root.get("srcLang"), root.get("trgLang")) == ("en", "de")
    assert out.read_text(encoding="utf-8").startswith("<?xml version='1.0' encoding='UTF-8'?>")
    f = root.find(f"{{{X2}}}file")
    assert f.find(f"{{{SLR}}}profiles").get("generalProfile") == "xliff:codepoints"
    us = {u.get("name"): u for u in f.iter(f"{{{X2}}}unit")}
    assert list(us) == IDS and len({u.get("id") for u in us.values()}) == len(IDS)
    narr = us["scenes.intro.segments.0.text"]
    notes = {n.get("category"): n.text for n in narr.iter(f"{{{X2}}}note")}
    assert "Narration spoken by the presenter in scene 'intro'" in notes["context"]
    src = narr.find(f"{{{X2}}}segment/{{{X2}}}source")
    phs = src.findall(f"{{{X2}}}ph")
    assert [p.get("disp") for p in phs] == ["[pause 400ms]", "[nod]"]
    data = {d.get("id"): d.text for d in narr.iter(f"{{{X2}}}data")}
    assert [data[p.get("dataRef")] for p in phs] == ["[pause 400ms]", "[nod]"]
    pcs = src.findall(f"{{{X2}}}pc")
    assert len(pcs) == 2 and "".join(pcs[1].itertext()) == "written script"
    mrk = pcs[0].find(f"{{{X2}}}mrk")
    assert (mrk.text, mrk.get("translate")) == ("avatarkit", "no")
    assert "[" not in "".join(t for t in [src.text] + [e.tail or "" for e in src])    # no raw tag left as text
    gl = narr.find(f"{{{GLS}}}glossary/{{{GLS}}}glossEntry")
    assert gl.find(f"{{{GLS}}}term").text == "avatarkit" and gl.find(f"{{{GLS}}}translation").text == "avatarkit"
    lms = us["scenes.intro.segments.2.text"].find(f"{{{GLS}}}glossary/{{{GLS}}}glossEntry")
    assert lms.find(f"{{{GLS}}}translation").text == "Lernplattform"
    assert us["scenes.intro.bullets.1"].get(f"{{{SLR}}}sizeRestriction") == "19"
    assert narr.get(f"{{{SLR}}}sizeRestriction") is None
    # Prefilled from the store only where the translation is up to date.
    seg = us["scenes.intro.title"].find(f"{{{X2}}}segment")
    assert seg.get("state") == "translated" and seg.find(f"{{{X2}}}target").text == "Erste Schritte"
    seg = us["scenes.intro.bullets.0"].find(f"{{{X2}}}segment")
    assert seg.get("state") == "initial" and seg.find(f"{{{X2}}}target") is None


def test_xliff12_export(course, tmp_path):
    [out] = export_xliff(course, ["fr"], tmp_path / "c12.xlf", version="1.2", store=Store())
    root = ET.parse(out).getroot()
    assert root.tag == f"{{{X1}}}xliff" and root.get("version") == "1.2"
    f = root.find(f"{{{X1}}}file")
    assert (f.get("source-language"), f.get("target-language"), f.get("datatype"), f.get("original")) == \
        ("en", "fr", "plaintext", "course.yaml")
    tus = {t.get("resname"): t for t in f.iter(f"{{{X1}}}trans-unit")}
    assert list(tus) == IDS and all(t.get("id") == k for k, t in tus.items())
    src = tus["scenes.intro.segments.0.text"].find(f"{{{X1}}}source")
    assert [x.get("equiv-text") for x in src.iter(f"{{{X1}}}x")] == ["[pause 400ms]", "[nod]"]
    assert len(src.findall(f"{{{X1}}}g")) == 2
    assert [m.get("mtype") for m in src.iter(f"{{{X1}}}mrk")] == ["protected"]
    role = tus["scenes.intro.lower_third.role"]
    assert (role.get("maxwidth"), role.get("size-unit")) == ("21", "char")
    assert any("Glossary: 'LMS'" in n.text for n in tus["scenes.intro.segments.2.text"].iter(f"{{{X1}}}note"))


def test_several_languages_give_one_file_each(course, tmp_path):
    outs = export_xliff(course, ["de", "fr"], tmp_path / "course.xlf", store=Store())
    assert outs == [tmp_path / "course.de.xlf", tmp_path / "course.fr.xlf"]
    assert [ET.parse(p).getroot().get("trgLang") for p in outs] == ["de", "fr"]
    d = tmp_path / "out"
    d.mkdir()
    assert export_xliff(course, None, d, version="1.2", store=Store()) == [d / "course.de.xlf", d / "course.fr.xlf"]
    with pytest.raises(AvatarkitError, match="own language"):
        export_xliff(course, ["en"], tmp_path / "x.xlf")
    with pytest.raises(AvatarkitError, match="2.0 or 1.2"):
        export_xliff(course, ["de"], tmp_path / "x.xlf", version="2.1")


# ------------------------------------------------------------------------------------------------ round trip


def test_a_translation_longer_than_its_screen_space_is_named(course, tmp_path):
    # The export gives on-screen strings a size limit (slr:sizeRestriction); a longer translation was taken
    # silently and shortened with an ellipsis at render time.
    [xlf] = export_xliff(course, ["de"], tmp_path / "course.xlf")
    _cat_tool(xlf, edit={"title": "X" * 200})
    rep = import_xliff(course, xlf).languages["de"]
    assert any(w.startswith("title: the translation is 200 characters, over the") for w in rep.warnings), rep.warnings


def test_a_file_from_another_script_is_refused_and_changes_nothing(course, tmp_path):
    # Imported into the wrong script it reported "0 translated, 0 missing" and wrote that script's
    # translations file with the other script's strings.
    [xlf] = export_xliff(course, ["de"], tmp_path / "course.xlf")
    _cat_tool(xlf)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    (other_dir / "other.yaml").write_text("title: Other\nlanguages: {de: de-espeak}\ndefaults: {avatar: presenter}\n"
                                          "scenes:\n  - segments: [Something else entirely.]\n")
    other = load_script(other_dir / "other.yaml")
    with pytest.raises(ScriptError, match="exported from another script"):
        import_xliff(other, xlf)
    assert not (other_dir / "other.translations.yaml").exists()


@pytest.mark.parametrize("version", ["2.0", "1.2"])
def test_round_trip_through_a_translators_tool(course, tmp_path, version):
    [xlf] = export_xliff(course, ["de"], tmp_path / "course.xlf", version=version)
    _cat_tool(xlf)
    report = import_xliff(course, xlf)
    rep = report.languages["de"]
    assert report.version == version and report.store == tmp_path / "course.translations.yaml"
    assert rep.translated == IDS and not (rep.missing or rep.stale or rep.unknown or rep.not_in_file)
    # The pseudo tool left LMS untranslated, and the glossary wants Lernplattform; its strings are longer than
    # the source, as pseudo-localisation means them to be, so on-screen ones overflow their space.
    assert [w for w in rep.warnings if "fit on screen" not in w] == [
        "scenes.intro.segments.2.text: the glossary renders 'LMS' as 'Lernplattform', not found in the translation"]
    limited = {u.id for u in units(course) if u.max_chars}
    assert {w.split(":")[0] for w in rep.warnings if "fit on screen" in w} <= limited

    de = localized_script(course, "de")
    assert de.language == "de" and de.name == course.name == "course"
    assert de.title.startswith("⟦Ŵéĺçóɱé ţó") and de.title.endswith("avatarkit")
    intro, src = de.scenes[0], course.scenes[0]
    assert intro.title.startswith("⟦Ĝéţţíñĝ") and intro.bullets[1].startswith("⟦Ŕéñđéŕ")
    assert intro.lower_third.name == "Ada Lovelace" and intro.lower_third.role.startswith("⟦Ĥéáđ")
    for a, b in zip(intro.segments, src.segments):
        assert _shape(a.phrases) == _shape(b.phrases)        # same pauses, gestures and emphasis
        assert a.voice == "de-espeak"
    assert intro.segments[1].phrases[0].pause_ms == 500 and not intro.segments[1].text
    assert "avatarkit" in intro.segments[0].text and "[pause 400ms] [nod]" in intro.segments[0].text
    rec = de.scenes[1].segments[0]
    assert rec.audio == course.scenes[1].segments[0].audio and len(rec.phrases) == 1
    assert rec.phrases[0].words[0].text.startswith("⟦Ţĥíš")
    assert de.lexicon.entries == course.lexicon.entries and de.glossary == course.glossary
    assert course.language == "en" and course.scenes[0].segments[0].voice == "en-us-joe"     # the source is untouched

    # Exporting again carries the translations as targets.
    [again] = export_xliff(course, ["de"], tmp_path / "again.xlf", version=version)
    assert again.read_text(encoding="utf-8").count('state="translated"') == len(IDS)
    assert import_xliff(course, again).languages["de"].translated == IDS


def test_stale_missing_and_unknown_are_reported(tmp_path):
    path = _write(tmp_path)
    course = load_script(path)
    [xlf] = export_xliff(course, ["de"], tmp_path / "c.xlf")
    _cat_tool(xlf, skip={"scenes.intro.bullets.1"})
    text = xlf.read_text(encoding="utf-8")
    extra = '<unit id="gone" name="scenes.gone.title"><segment><source>Old</source><target>Alt</target></segment></unit>'
    xlf.write_text(text.replace("</file>", extra + "</file>"), encoding="utf-8")
    rep = import_xliff(course, xlf).languages["de"]
    assert rep.missing == ["scenes.intro.bullets.1"] and rep.unknown == ["scenes.gone.title"]
    assert len(rep.translated) == len(IDS) - 1

    # The script changes after translation: that string is stale, and rendering German says which.
    changed = COURSE.replace("The last scene has no id.", "The last scene still has no id.")
    path.write_text(changed.replace("AVATAR", str(SAMPLES / "avatar.png")), encoding="utf-8")
    course2 = load_script(path)
    cov = coverage(course2, "de")
    assert cov.stale == ["scenes.scene3.segments.0.text"] and cov.missing == ["scenes.intro.bullets.1"]
    with pytest.raises(ScriptError) as e:
        localized_script(course2, "de")
    assert "2 of 9 strings" in str(e.value) and "scenes.scene3.segments.0.text (stale)" in str(e.value)
    assert "scenes.intro.bullets.1" in str(e.value) and "course.translations.yaml" in str(e.value)
    # Importing the old file again reports the stale string and keeps it stale.
    rep = import_xliff(course2, xlf).languages["de"]
    assert rep.stale == ["scenes.scene3.segments.0.text"]
    assert coverage(course2, "de").stale == ["scenes.scene3.segments.0.text"]


def test_bad_markup_in_a_target_names_file_line_and_unit(course, tmp_path):
    [xlf] = export_xliff(course, ["de"], tmp_path / "c.xlf")
    _cat_tool(xlf, edit={"scenes.intro.segments.2.text": "Packen Sie es ein. [jump] Danke!"})
    with pytest.raises(ScriptError) as e:
        import_xliff(course, xlf)
    msg = str(e.value)
    assert msg.startswith(f"{xlf}:") and "unit scenes.intro.segments.2.text" in msg and "unknown tag [jump]" in msg
    line = int(msg.split(":")[1])
    assert "[jump]" in xlf.read_text(encoding="utf-8").splitlines()[line - 1]
    assert not store_path(course).exists()            # nothing was saved


def test_lost_do_not_translate_term_is_a_warning(course, tmp_path):
    [xlf] = export_xliff(course, ["de"], tmp_path / "c.xlf", version="1.2")
    _cat_tool(xlf, edit={"title": "Willkommen bei Avatar-Kit"})
    rep = import_xliff(course, xlf).languages["de"]
    assert "title: the term 'avatarkit' must stay as written but is not in the translation" in rep.warnings
    assert "title" in rep.translated


def test_wrong_source_language_and_unknown_files_are_rejected(course, tmp_path):
    [xlf] = export_xliff(course, ["de"], tmp_path / "c.xlf")
    xlf.write_text(xlf.read_text(encoding="utf-8").replace('srcLang="en"', 'srcLang="fr"'), encoding="utf-8")
    with pytest.raises(ScriptError, match=r"c\.xlf:2: srcLang: the file translates from fr, but the script course is in en"):
        import_xliff(course, xlf)
    bad = tmp_path / "bad.xlf"
    bad.write_text("<xliff version='2.0' xmlns='urn:oasis:names:tc:xliff:document:2.0'><file", encoding="utf-8")
    with pytest.raises(ScriptError, match="not well-formed XML"):
        import_xliff(course, bad)
    bad.write_text("<html/>", encoding="utf-8")
    with pytest.raises(ScriptError, match="not an XLIFF file"):
        import_xliff(course, bad)


@pytest.mark.parametrize("version", ["2.0", "1.2"])
def test_an_xliff_file_records_its_script_and_import_finds_it_there(tmp_path, monkeypatch, version):
    import hashlib

    from typer.testing import CliRunner

    from avatarkit.cli import app
    from avatarkit.localize import xliff_script

    # The README's layout: the course in samples/, the XLIFF in out/, and in out/ another script of the same
    # name (the slide-deck section's), which must not be taken for it.
    (tmp_path / "samples").mkdir()
    (tmp_path / "out").mkdir()
    script = _write(tmp_path / "samples")
    other = tmp_path / "out" / "course.yaml"
    other.write_text(f"title: Deck\ndefaults: {{avatar: {SAMPLES / 'avatar.png'}, voice: en-us-joe}}\n"
                     "scenes:\n  - id: slide1\n    segments: [Hello from a deck.]\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    course = load_script(Path("samples/course.yaml"))
    [xlf] = export_xliff(course, ["de"], Path("out/course.de.xlf"), version=version, store=Store())
    f = next(e for e in etree.parse(str(xlf)).getroot().iter() if etree.QName(e).localname == "file")
    assert f.get("original") == "../samples/course.yaml"
    assert f.get("{urn:avatarkit:xliff}sha256") == hashlib.sha256(script.read_bytes()).hexdigest()
    found, same = xliff_script(xlf)
    assert found.resolve() == script.resolve() and same
    # A folder that is not there yet is made (the README's first export may come before any render).
    [deep] = export_xliff(course, ["de"], Path("new/folder/c.xlf"), version=version, store=Store())
    assert deep.is_file() and xliff_script(deep)[0].resolve() == script.resolve()

    # The README's command, as printed: no --script.
    _cat_tool(xlf)
    r = CliRunner().invoke(app, ["localize", "import", "out/course.de.xlf"])
    assert r.exit_code == 0, r.output
    assert f"{len(IDS)} translated" in r.output and "note" not in r.output
    assert "wrote samples/course.translations.yaml" in " ".join(r.output.split()), r.output
    assert load_store(store_path(script)).get("de", "title") is not None
    assert not store_path(other).exists()

    # Moved elsewhere, the file is found from the current folder; a script edited since is still the one
    # (its ids are the file's), and the import says so.
    moved = tmp_path / "elsewhere" / "course.de.xlf"
    moved.parent.mkdir()
    moved.write_bytes(xlf.read_bytes().replace(b"../samples/course.yaml", b"samples/course.yaml"))
    script.write_text(script.read_text(encoding="utf-8").replace("no id.", "no id yet."), encoding="utf-8")
    found, same = xliff_script(moved)
    assert found.resolve() == script.resolve() and not same
    r = CliRunner().invoke(app, ["localize", "import", str(moved)])
    assert r.exit_code == 0 and "edited since?" in " ".join(r.output.split()), r.output

    # A file that names only `course.yaml` (as older versions wrote) beside the deck's course.yaml: refused,
    # saying what to pass, rather than importing into the wrong script.
    old = tmp_path / "out" / "old.de.xlf"
    data = xlf.read_bytes().replace(b"../samples/course.yaml", b"course.yaml")
    old.write_bytes(re.sub(rb' xmlns:avk="[^"]*"| avk:sha256="[0-9a-f]+"', b"", data))
    with pytest.raises(AvatarkitError, match=r"but \S*out/course\.yaml is another script .*--script SCRIPT\.yaml"):
        xliff_script(old)
    r = CliRunner().invoke(app, ["localize", "import", str(old)])
    assert r.exit_code == 2 and "--script" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["localize", "import", str(old), "--script", "samples/course.yaml"])
    assert r.exit_code == 0, r.output
    # A script that is nowhere to be found is named, with both places looked in.
    script.rename(tmp_path / "samples" / "renamed.yaml")
    with pytest.raises(AvatarkitError, match=r"exported from \.\./samples/course\.yaml, which is neither at"):
        xliff_script(xlf)


# ------------------------------------------------------------------------------------------------ translators


def test_pseudo_keeps_tags_and_terms_expands_and_is_deterministic():
    pseudo = make_translator("pseudo", keep=("avatarkit",))
    src = "Hello, and welcome to *avatarkit*. [pause 400ms] [nod] In the next minute, you will see a *written script*."
    out = pseudo.translate([src], "en", "de")[0]
    assert out == pseudo.translate([src], "en", "fr")[0]
    assert out.startswith("⟦Ĥéĺĺó") and "⟧" in out and "*avatarkit*" in out and "[pause 400ms] [nod]" in out
    assert _shape(parse_text(out)) == _shape(parse_text(src))
    visible = lambda t: re.sub(r"\[[^\]]*\]|\*", "", t)
    assert len(visible(out)) >= 1.3 * len(visible(src))
    assert "Hello" not in out and "minute" not in out
    rtl = make_translator("pseudo", rtl=True).translate(["Render a video"], "en", "he")[0]
    assert rtl[0] == rtl[-1] == "\u200f" and re.search("[\u05d0-\u05ea]", rtl) and paragraph_level(rtl) == 1
    with pytest.raises(AvatarkitError, match="unknown translator 'deepl'; known: marian, memory, pseudo"):
        make_translator("deepl")
    with pytest.raises(AvatarkitError, match="translator 'pseudo'"):
        make_translator("pseudo", colour="red")


def test_marian_says_clearly_what_it_needs(tmp_path):
    # transformers is not a dependency: without it, this error is the feature.
    if importlib.util.find_spec("transformers") is not None:
        pytest.skip("transformers is installed here")
    with pytest.raises(AvatarkitError) as e:
        make_translator("marian", model=tmp_path)
    assert str(e.value) == MARIAN_MISSING
    assert "pip install transformers sentencepiece" in MARIAN_MISSING and "none is downloaded" in MARIAN_MISSING


def test_marian_masks_tags_and_puts_back_what_the_model_drops():
    mt = MarianTranslator.__new__(MarianTranslator)
    seen = []

    def fake_model(sentences, target):
        seen.extend(sentences)
        # Translate by upper-casing; lose every token but the first, as small models do.
        return [re.sub(r"⟨[2-9]⟩", "", s).upper() for s in sentences]

    mt._generate = fake_model
    out = mt.translate(["Hello *you*. [pause 300ms] [nod] See you soon."], "en", "de")[0]
    assert all("[" not in s for s in seen) and "⟨1⟩" in " ".join(seen)
    assert out == "HELLO *YOU*. [pause 300ms] SEE YOU SOON. [nod]"
    assert _shape(parse_text(out))[0][0] == 300


def test_translate_missing_fills_gaps_and_never_overwrites_people(tmp_path):
    path = _write(tmp_path)
    course = load_script(path)
    store = load_store(store_path(path))
    store.put("de", "title", Entry("Willkommen bei avatarkit", "Welcome to avatarkit"))
    store.put("de", "scenes.intro.title", Entry("Alter Titel", "An old title"))                # human, stale
    store.put("de", "scenes.intro.bullets.0", Entry("Maschine alt", "Old bullet", machine=True))   # machine, stale
    report = translate_missing(course, ["de"], make_translator("pseudo"), store)
    rep = report.languages["de"]
    assert rep.kept == ["scenes.intro.title"] and "title" not in rep.filled
    assert rep.filled == [i for i in IDS if i not in ("title", "scenes.intro.title")] and not rep.failed
    saved = load_store(store_path(path))
    assert saved.get("de", "title") == Entry("Willkommen bei avatarkit", "Welcome to avatarkit")
    assert saved.get("de", "scenes.intro.title").text == "Alter Titel"
    narr = saved.get("de", "scenes.intro.segments.0.text")
    assert narr.machine and "avatarkit" in narr.text and narr.source == units(course)[5].text
    assert "machine: true" in store_path(path).read_text(encoding="utf-8")
    assert not translate_missing(course, ["de"], make_translator("pseudo"), saved).languages["de"].filled

    # Exact matches come back from another script's translations.
    other = tmp_path / "other"
    other.mkdir()
    course_b = load_script(_write(other, COURSE.replace("Getting started", "Next steps")))
    memory = make_translator("memory", stores=[store_path(path)])
    got = translate_missing(course_b, ["de"], memory, Store()).languages["de"]
    assert "scenes.intro.title" not in got.filled and "scenes.intro.bullets.1" in got.filled
    assert ("scenes.intro.title", "no translation") in got.failed


# ------------------------------------------------------------------------------------------------ localized scripts


def test_localized_script_voice_missing_and_fallback(tmp_path):
    bullets = ", ".join(f"Point {i}" for i in range(12))
    path = _write(tmp_path, COURSE.replace("[Write a script, Render a video]", f"[{bullets}]"))
    course = load_script(path)
    with pytest.raises(ScriptError) as e:
        localized_script(course, "fr")
    msg = str(e.value)
    assert "19 of 19 strings have no up-to-date fr translation" in msg and msg.count("scenes.intro.bullets.") == 8
    assert msg.count(",") >= 9 and "and 9 more" in msg
    loc = localize(course, "fr", allow_missing=True)
    assert len(loc.fallback) == 19 and loc.script.title == course.title
    assert {s.voice for sc in loc.script.scenes for s in sc.segments} == {"fr-siwis"}   # the measured default voice for fr
    assert loc.script.language == "fr"

    store = Store()
    store.put("de", "title", Entry("Willkommen bei avatarkit", "Welcome to avatarkit"))
    de = localized_script(course, "de", store, allow_missing=True)
    assert de.title == "Willkommen bei avatarkit" and de.scenes[0].segments[0].voice == "de-espeak"
    with pytest.raises(ScriptError, match="no voice speaks sw.*avatarkit voices"):
        localized_script(course, "sw", Store(), allow_missing=True)


def test_load_localized_and_languages(tmp_path):
    path = _write(tmp_path)
    course = load_script(path)
    assert script_languages(course) == ["en", "de", "fr"]
    assert load_localized(path, "en").scenes[0].segments[0].voice == "en-us-joe"
    translate_missing(course, ["de"], make_translator("pseudo"))
    de = load_localized(path, "de")
    assert de.language == "de" and de.title.startswith("⟦")
    data = yaml.safe_load(store_path(path).read_text(encoding="utf-8"))
    assert data["language"] == "en" and set(data["translations"]["de"]) == set(IDS)
