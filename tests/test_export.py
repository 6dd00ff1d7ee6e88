"""LMS packages without a browser: files, manifests (against the SCORM schemas), cmi5.xml, course.json, errors, atomic output."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from avatarkit.export import FORMATS, ExportError, Rendition, export_package, text_direction
from avatarkit.export.manifests import CMI5_NS, SCORM12_NS, SCORM2004_NS
from tests.lms.harness import SCHEMAS

# A cue late in a long video: the package must carry the render's sample-clock times unchanged.
VTT_EN = ("WEBVTT\n\nNOTE [AI-generated video] Safety\n\n00:00:00.000 --> 00:00:01.480\nWelcome <b>all</b>\n\n"
          "01:59:58.521 --> 01:59:59.999\nGoodbye\n")
VTT_AR = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nمرحبا بكم\n"


def _rendition(d: Path, lang: str, title: str, vtt: str, duration: float = 7200.0, thumb: bool = False) -> Rendition:
    d.mkdir(parents=True, exist_ok=True)
    video = d / f"v.{lang}.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    vtt_path = d / f"v.{lang}.vtt"
    vtt_path.write_bytes(vtt.encode("utf-8"))
    srt = d / f"v.{lang}.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,480\nWelcome\n", encoding="utf-8")
    thumbnail = None
    if thumb:
        thumbnail = d / f"v.{lang}.jpg"
        thumbnail.write_bytes(b"\xff\xd8\xff\xe0fakejpeg\xff\xd9")
    return Rendition(lang, video, vtt_path, title, duration, thumbnail=thumbnail, srt=srt)


@pytest.fixture
def two(tmp_path) -> list[Rendition]:
    return [_rendition(tmp_path / "src", "en", "Safety basics", VTT_EN, thumb=True),
            _rendition(tmp_path / "src", "ar", "أساسيات السلامة", VTT_AR, duration=7100.5)]


def _zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        return {n: zf.read(n) for n in zf.namelist()}


MEDIA = {"media/en/video.mp4", "media/en/captions.vtt", "media/en/captions.srt", "media/en/poster.jpg",
         "media/ar/video.mp4", "media/ar/captions.vtt", "media/ar/captions.srt"}
PLAYER = {"index.html", "player.js", "player.css", "course.json"}


@pytest.mark.parametrize("fmt,extra", [("scorm12", {"imsmanifest.xml"}), ("scorm2004", {"imsmanifest.xml"}),
                                       ("cmi5", {"cmi5.xml"}), ("html", set())])
def test_each_format_packs_player_media_and_its_manifest(tmp_path, two, fmt, extra):
    out = export_package(two, tmp_path / f"{fmt}.zip", format=fmt, course_id="safety-101", completion=0.75)
    files = _zip(out)
    assert set(files) == PLAYER | MEDIA | extra
    # Media are copied byte for byte: captions keep the render's exact cue times.
    for r in two:
        assert files[f"media/{r.language}/captions.vtt"] == r.captions.read_bytes()
        assert files[f"media/{r.language}/video.mp4"] == r.video.read_bytes()
        assert files[f"media/{r.language}/captions.srt"] == r.srt.read_bytes()
    assert b"01:59:58.521 --> 01:59:59.999" in files["media/en/captions.vtt"]
    with zipfile.ZipFile(out) as zf:
        assert zf.getinfo("media/en/video.mp4").compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("player.js").compress_type == zipfile.ZIP_DEFLATED
    course = json.loads(files["course.json"])
    assert course["format"] == fmt and course["completion"] == 0.75 and course["defaultLanguage"] == "en"
    assert course["aiGenerated"] is True and "AI-generated" in course["notice"]
    assert [(r["language"], r["dir"], r["duration"]) for r in course["renditions"]] == [("en", "ltr", 7200.0), ("ar", "rtl", 7100.5)]
    assert course["renditions"][1]["title"] == "أساسيات السلامة" and course["renditions"][1]["label"] == "العربية"
    assert course["renditions"][0]["poster"] == "media/en/poster.jpg" and course["renditions"][1]["poster"] is None
    assert list(tmp_path.glob(".*partial*")) == []


def test_player_page_is_self_contained_and_accessible(tmp_path, two):
    files = _zip(export_package(two, tmp_path / "p.zip", format="scorm2004", course_id="c"))
    page = files["index.html"].decode("utf-8")
    assert '<html lang="en" dir="ltr">' in page
    tracks = re.findall(r'<track kind="captions" srclang="(\w+)" label="([^"]+)" src="([^"]+)"( default)?>', page)
    assert tracks == [("en", "English", "media/en/captions.vtt", " default"), ("ar", "العربية", "media/ar/captions.vtt", "")]
    buttons = re.findall(r"<button [^>]*>", page)
    assert len(buttons) == 6 and all('type="button"' in b and "aria-label=" in b for b in buttons)
    assert re.search(r'<input type="range" id="ak-seek"[^>]*aria-valuetext=', page)
    assert '<select id="ak-lang">' in page and '<option value="ar" lang="ar" dir="rtl">العربية</option>' in page
    assert 'poster="media/en/poster.jpg"' in page and "AI-generated video" in page
    # Everything the page loads is inside the package.
    assert not re.search(r'(src|href)="(https?:)?//', page)
    embedded = re.search(r'<script type="application/json" id="ak-course">(.*?)</script>', page, re.S)[1]
    assert json.loads(embedded) == json.loads(files["course.json"])
    assert "text/vtt" not in page          # LMS packages are served over HTTP: no embedded caption copies
    js = files["player.js"].decode("utf-8")
    assert not re.search(r"^\s*(import|export)\s|require\(|https?://(?!w3id\.org|adlnet\.gov)", js, re.M)


def test_player_script_parses():
    node = shutil.which("node")
    if not node:
        pytest.skip("needs node to parse player.js")
    player = Path(__file__).resolve().parents[1] / "avatarkit/export/player/player.js"
    subprocess.run([node, "--check", str(player)], check=True, capture_output=True)


def test_rtl_default_language_sets_page_direction(tmp_path, two):
    out = export_package([two[1], two[0]], tmp_path / "site", format="html", course_id="c")
    assert out.is_dir()
    course = json.loads((out / "course.json").read_text(encoding="utf-8"))
    assert course["defaultLanguage"] == "ar" and course["renditions"][0]["dir"] == "rtl"
    page = (out / "index.html").read_text(encoding="utf-8")
    assert '<html lang="ar" dir="rtl">' in page and "<title>أساسيات السلامة</title>" in page
    # The standalone page embeds its captions (for file: pages), with "</" escaped inside the script element.
    assert '<script type="text/vtt" id="ak-vtt-en">WEBVTT' in page and "Welcome <b>all<\\/b>" in page
    assert (out / "media/en/captions.vtt").read_bytes() == two[0].captions.read_bytes()
    assert [text_direction(t) for t in ("he", "fa-IR", "ur", "en-US", "zh-Hant", "az-Arab", "ku-Latn")] == \
        ["rtl", "rtl", "rtl", "ltr", "ltr", "rtl", "ltr"]


def _manifest_files(root) -> tuple[list[str], etree._Element]:
    resources = root.findall("{*}resources/{*}resource")
    assert len(resources) == 1
    return [f.get("href") for f in resources[0].findall("{*}file")], resources[0]


def test_scorm12_manifest(tmp_path, two):
    files = _zip(export_package(two, tmp_path / "s.zip", format="scorm12", course_id="2024 Safety/Intro", title="Safety"))
    root = etree.fromstring(files["imsmanifest.xml"])
    assert root.tag == f"{{{SCORM12_NS['']}}}manifest" and root.nsmap["adlcp"] == SCORM12_NS["adlcp"]
    assert root.findtext("{*}metadata/{*}schema") == "ADL SCORM" and root.findtext("{*}metadata/{*}schemaversion") == "1.2"
    ident = root.get("identifier")
    assert re.fullmatch(r"[A-Za-z_][\w.-]*", ident)
    org = root.find("{*}organizations/{*}organization")
    assert root.find("{*}organizations").get("default") == org.get("identifier")
    assert org.findtext("{*}title") == "Safety"
    item = org.find("{*}item")
    listed, res = _manifest_files(root)
    assert item.get("identifierref") == res.get("identifier")
    assert res.get(f"{{{SCORM12_NS['adlcp']}}}scormtype") == "sco" and res.get("href") == "index.html"
    assert res.get("type") == "webcontent"
    assert sorted(listed) == sorted(set(files) - {"imsmanifest.xml"})


def test_scorm2004_manifest(tmp_path, two):
    files = _zip(export_package(two, tmp_path / "s.zip", format="scorm2004", course_id="safety-101", completion=0.8))
    root = etree.fromstring(files["imsmanifest.xml"])
    assert root.tag == f"{{{SCORM2004_NS['']}}}manifest"
    prefixes = ("adlcp", "adlseq", "adlnav", "imsss")
    assert {k: root.nsmap[k] for k in prefixes} == {k: SCORM2004_NS[k] for k in prefixes}
    assert root.findtext("{*}metadata/{*}schemaversion") == "2004 4th Edition"
    listed, res = _manifest_files(root)
    assert res.get(f"{{{SCORM2004_NS['adlcp']}}}scormType") == "sco"
    assert sorted(listed) == sorted(set(files) - {"imsmanifest.xml"})
    item = root.find("{*}organizations/{*}organization/{*}item")
    assert item.get("identifierref") == res.get("identifier")
    threshold = item.find(f"{{{SCORM2004_NS['adlcp']}}}completionThreshold")
    assert threshold.get("minProgressMeasure") == "0.8" and threshold.get("completedByMeasure") == "true"


def _schema(folder: str, imports: list[tuple[str, str]]) -> etree.XMLSchema:
    """One schema importing every namespace a manifest uses, from the official XSDs shipped in an npm package."""
    base = SCHEMAS / folder
    if not base.is_dir():
        pytest.skip("SCORM XSDs not installed (npm ci --prefix tests/lms)")
    body = "".join(f'<xs:import namespace="{ns}" schemaLocation="{loc}"/>' for ns, loc in imports)
    xsd = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:avatarkit:test">{body}</xs:schema>'
    return etree.XMLSchema(etree.fromstring(xsd.encode(), base_url=base.as_uri() + "/"))


@pytest.mark.parametrize("fmt", ["scorm12", "scorm2004"])
def test_manifests_validate_against_the_scorm_schemas(tmp_path, two, fmt):
    if fmt == "scorm12":
        schema = _schema("scorm12edition", [(SCORM12_NS[""], "imscp_rootv1p1p2.xsd"), (SCORM12_NS["adlcp"], "adlcp_rootv1p2.xsd")])
        bad = (b'adlcp:scormtype="sco"', b'adlcp:scormtype="lesson"')
    else:
        schema = _schema("scorm20044thedition", [
            (SCORM2004_NS[""], "imscp_v1p1.xsd"), (SCORM2004_NS["adlcp"], "adlcp_v1p3.xsd"),
            (SCORM2004_NS["adlseq"], "adlseq_v1p3.xsd"), (SCORM2004_NS["adlnav"], "adlnav_v1p3.xsd"),
            (SCORM2004_NS["imsss"], "imsss_v1p0.xsd")])
        bad = (b'completedByMeasure="true"', b'completedByMeasure="yes"')
    for course_id, title in (("safety-101", None), ("2024 Safety/Intro & more", "Safety <basics> & \"more\"")):
        xml = _zip(export_package(two, tmp_path / "m.zip", format=fmt, course_id=course_id, title=title))["imsmanifest.xml"]
        assert schema.validate(etree.fromstring(xml)), schema.error_log
    # The schemas do catch a wrong manifest (so the check above means something).
    assert not schema.validate(etree.fromstring(xml.replace(*bad)))


def test_cmi5_course_structure(tmp_path, two):
    files = _zip(export_package(two, tmp_path / "c.zip", format="cmi5", course_id="safety-101", title="Safety",
                                description="Basics of site safety."))
    root = etree.fromstring(files["cmi5.xml"])
    assert root.tag == f"{{{CMI5_NS}}}courseStructure"
    course, au = root.find(f"{{{CMI5_NS}}}course"), root.find(f"{{{CMI5_NS}}}au")
    assert course.get("id") == "urn:avatarkit:course:safety-101"
    assert au.get("id") == "urn:avatarkit:course:safety-101/au"
    assert (au.get("moveOn"), au.get("launchMethod")) == ("Completed", "AnyWindow")
    # The schema's order for an AU: title, description, (objectives), url.
    assert [etree.QName(c).localname for c in au] == ["title", "description", "url"]
    assert [etree.QName(c).localname for c in course] == ["title", "description"]
    assert au.findtext(f"{{{CMI5_NS}}}url") == "index.html"
    titles = {s.get("lang"): s.text for s in au.findall(f"{{{CMI5_NS}}}title/{{{CMI5_NS}}}langstring")}
    assert titles == {"en": "Safety basics", "ar": "أساسيات السلامة"}
    course_titles = {s.get("lang"): s.text for s in course.findall(f"{{{CMI5_NS}}}title/{{{CMI5_NS}}}langstring")}
    assert course_titles == {"en": "Safety", "ar": "أساسيات السلامة"}
    assert course.findtext(f"{{{CMI5_NS}}}description/{{{CMI5_NS}}}langstring") == "Basics of site safety."
    # An IRI course id is used as it is.
    files = _zip(export_package(two, tmp_path / "c2.zip", format="cmi5", course_id="https://acme.example/courses/7"))
    assert etree.fromstring(files["cmi5.xml"]).find(f"{{{CMI5_NS}}}course").get("id") == "https://acme.example/courses/7"


def test_progress_counts_bytes_and_html_folder_is_replaced_whole(tmp_path, two):
    events = []
    out = tmp_path / "site"
    (out / "stale").mkdir(parents=True)
    export_package(two, out, format="html", course_id="c", progress=events.append)
    assert not (out / "stale").exists() and (out / "index.html").is_file()
    assert [e.done for e in events] == sorted(e.done for e in events) and events[-1].done == events[-1].total
    assert {e.name for e in events} == PLAYER | MEDIA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site", "src"]


def test_a_failed_export_leaves_nothing(tmp_path, two):
    def boom(event):
        if event.name.endswith("video.mp4"):
            raise RuntimeError("disk full")

    for fmt, name in (("scorm12", "x.zip"), ("html", "site")):
        with pytest.raises(RuntimeError):
            export_package(two, tmp_path / name, format=fmt, course_id="c", progress=boom)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


@pytest.mark.parametrize("change,message", [
    (dict(renditions=[]), "no rendition"),
    (dict(format="scorm3"), "unknown package format 'scorm3'"),
    (dict(completion=1.5), "completion: 1.5 is outside 0-1"),
    (dict(completion=-0.1), "outside 0-1"),
    (dict(course_id=" "), "course_id"),
    (dict(out="course.scorm"), "name it with .zip"),
    (dict(missing="video"), "video file not found"),
    (dict(missing="captions"), "captions file not found"),
    (dict(not_vtt=True), "not a WebVTT file"),
    (dict(latin1=True), "is not UTF-8"),
    (dict(duplicate=True), "appears twice"),
    (dict(language="english language"), "not a BCP-47 tag"),
])
def test_bad_input_raises_export_error(tmp_path, two, change, message):
    renditions = change.get("renditions", two)
    if "missing" in change:
        getattr(two[1], change["missing"]).unlink()
    if change.get("not_vtt"):
        two[0].captions.write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n", encoding="utf-8")
    if change.get("latin1"):
        two[0].captions.write_bytes("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nÉté\n".encode("latin-1"))
    if change.get("duplicate"):
        renditions = [two[0], two[0]]
    if "language" in change:
        renditions = [Rendition(change["language"], two[0].video, two[0].captions, "t", 1.0)]
    with pytest.raises(ExportError, match=re.escape(message)) as err:
        export_package(renditions, tmp_path / change.get("out", "p.zip"), format=change.get("format", "scorm12"),
                       course_id=change.get("course_id", "c"), completion=change.get("completion", 0.9))
    assert "\n" not in str(err.value)
    assert not (tmp_path / "p.zip").exists()


def test_formats_are_the_documented_ones():
    assert FORMATS == ("scorm12", "scorm2004", "cmi5", "html")
