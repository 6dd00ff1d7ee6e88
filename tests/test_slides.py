"""Slide decks: PPTX, PDF and Markdown reading, page rendering, video slides, deck-to-script conversion."""

from __future__ import annotations

import io
import os
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from avatarkit.media.writer import VideoWriter
from avatarkit.script import parse_text
from avatarkit.slides import (
    SlideError,
    VideoSlide,
    from_slides,
    libreoffice,
    narration,
    read_deck,
    read_notes_file,
    render_page,
)
from avatarkit.slides import convert as convert_mod
from avatarkit.slides import pages as pages_mod

from .conftest import SAMPLES

DECK = SAMPLES / "deck.pptx"
TITLES = ["Expense reports in three steps", "Keep every receipt", "Submit within 30 days", "Questions? Ask Finance"]


def _png(color, size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def _pdf(path: Path, pages: list[tuple[tuple[int, int, int], tuple[int, int]]]) -> Path:
    """A PDF with one flat-coloured page per (rgb, (w, h) in points) made by Pillow (72 dpi: pixels = points)."""
    images = [Image.new("RGB", size, color) for color, size in pages]
    images[0].save(path, save_all=True, append_images=images[1:], resolution=72.0)
    return path


def _vector_pdf(path: Path) -> Path:
    """A one-page 16:9 PDF (960 x 540 pt) drawn with vector paths: a 1 pt black bar at x = 100 pt on white."""
    content = b"0 0 0 rg 100 0 1 540 re f\n"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 960 540] /Contents 4 0 R >>",
               b"<< /Length %d >>\nstream\n%sendstream" % (len(content), content)]
    out = io.BytesIO(b"%PDF-1.4\n")
    out.seek(0, io.SEEK_END)
    offsets = []
    for k, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (k, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % o for o in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    path.write_bytes(out.getvalue())
    return path


# --- PowerPoint -------------------------------------------------------------------------------------------

def test_sample_deck_reads_titles_bullets_notes_and_its_chart(tmp_path):
    deck = read_deck(DECK, assets=tmp_path / "assets")
    assert deck.kind == "pptx" and deck.title == TITLES[0]
    assert [s.title for s in deck.slides] == TITLES
    assert [s.page for s in deck.slides] == [1, 2, 3, 4]
    assert deck.slides[0].title_slide and deck.slides[0].layout_name == "Title Slide"
    assert deck.slides[1].layout_name == "Title and Content" and not deck.slides[1].title_slide
    assert deck.slides[1].bullets == ["Photograph paper receipts the same day", "Save e-mailed invoices as PDF",
                                      "Write the business purpose on each one"]
    assert len(deck.slides[2].bullets) == 3 and deck.slides[2].levels == [0, 0, 0]
    assert all(s.notes.endswith(".") and len(s.notes) > 40 for s in deck.slides)
    assert [len(s.pictures) for s in deck.slides] == [0, 0, 1, 0]
    chart = deck.slides[2].pictures[0]
    assert chart == tmp_path / "assets" / "slide3-1.png"
    with Image.open(chart) as im:
        assert im.size == (1200, 900)
    # The chart's tallest bar is the warning red of late reports.
    rgb = np.asarray(Image.open(chart).convert("RGB"))
    assert (np.abs(rgb.astype(int) - (214, 96, 77)).sum(-1) < 10).mean() > 0.05
    # Without an assets folder nothing is written.
    assert read_deck(DECK).slides[2].pictures == []


def test_sample_deck_generator_is_deterministic(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_deck", SAMPLES / "make_deck.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    a, b = mod.build(tmp_path / "a.pptx"), mod.build(tmp_path / "b.pptx")
    assert a.read_bytes() == b.read_bytes()
    assert (tmp_path / "a-chart.png").is_file()
    assert [s.title for s in read_deck(a).slides] == TITLES


def _built_deck(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    s1 = prs.slides.add_slide(prs.slide_layouts[1])
    s1.shapes.title.text = "Travel\x0bbookings"
    body = s1.placeholders[1].text_frame
    body.text = "Book through the portal"
    for text, level in (("Economy class under 6 hours", 1), ("", 0), ("Hotels: up to 150 EUR", 0)):
        p = body.add_paragraph()
        p.text, p.level = text, level
    # A text box above the body placeholder is read first (reading order: top to bottom).
    box = s1.shapes.add_textbox(Inches(1), Inches(1.2), Inches(6), Inches(0.4))
    box.text_frame.text = "Policy 2024"
    s1.notes_slide.notes_text_frame.text = "See [the policy](https://intranet/travel) first.\nBook **early** [nod] to save * money."

    s2 = prs.slides.add_slide(prs.slide_layouts[1])
    s2.shapes.title.text = "Secret draft"
    s2._element.set("show", "0")  # hidden in PowerPoint

    s3 = prs.slides.add_slide(prs.slide_layouts[5])  # Title Only
    s3.shapes.title.text = "Receipts"
    jpeg = io.BytesIO()
    Image.new("RGB", (300, 200), (0, 90, 200)).save(jpeg, format="JPEG")
    group = s3.shapes.add_group_shape()
    group.shapes.add_picture(io.BytesIO(_png((200, 0, 0))), Inches(1), Inches(2), Inches(1), Inches(0.75))
    group.shapes.add_picture(io.BytesIO(jpeg.getvalue()), Inches(3), Inches(2), Inches(4.5), Inches(3))
    gif = io.BytesIO()
    Image.new("P", (40, 40), 3).save(gif, format="GIF")
    s3.shapes.add_picture(io.BytesIO(gif.getvalue()), Inches(8), Inches(6), Inches(0.5), Inches(0.5))
    prs.save(path)
    return path


def test_built_deck_skips_hidden_slides_keeps_levels_order_and_pictures(tmp_path):
    deck = read_deck(_built_deck(tmp_path / "travel.pptx"), assets=tmp_path / "a")
    # No document title: the first slide's title names the deck; soft line breaks become spaces.
    assert deck.title == "Travel bookings"
    assert [(s.page, s.number, s.title) for s in deck.slides] == [(1, 1, "Travel bookings"), (2, 3, "Receipts")]
    first, second = deck.slides
    assert first.bullets == ["Policy 2024", "Book through the portal", "Economy class under 6 hours", "Hotels: up to 150 EUR"]
    assert first.levels == [0, 0, 1, 0]
    assert first.notes.startswith("See [the policy]")
    assert second.notes == "" and second.bullets == [] and second.layout_name == "Title Only"
    # Largest picture first; JPEG kept as JPEG, GIF converted to PNG.
    assert [p.name for p in second.pictures] == ["slide2-1.jpg", "slide2-2.png", "slide2-3.png"]
    with Image.open(second.pictures[0]) as im:
        assert im.format == "JPEG" and im.size == (300, 200)
    with Image.open(second.pictures[2]) as im:
        assert im.format == "PNG"


def test_damaged_missing_and_unknown_decks_name_the_file(tmp_path):
    bad = tmp_path / "broken.pptx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SlideError, match="broken.pptx"):
        read_deck(bad)
    bad_pdf = tmp_path / "broken.pdf"
    bad_pdf.write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(SlideError, match="broken.pdf: cannot open PDF"):
        read_deck(bad_pdf)
    with pytest.raises(SlideError, match="nothere.pptx: slide deck not found"):
        read_deck(tmp_path / "nothere.pptx")
    key = tmp_path / "talk.key"
    key.write_bytes(b"x")
    with pytest.raises(SlideError, match=r"talk.key: unknown slide deck type '.key'"):
        read_deck(key)


# --- PDF and images ---------------------------------------------------------------------------------------

def test_pdf_pages_render_to_fit_the_box_in_their_colours(tmp_path):
    pdf = _pdf(tmp_path / "talk.pdf", [((220, 20, 20), (400, 300)), ((20, 160, 40), (300, 400))])
    deck = read_deck(pdf)
    assert deck.kind == "pdf" and deck.title == "talk" and [s.page for s in deck.slides] == [1, 2]
    red = render_page(pdf, 1, 1280, 720)
    assert red.shape == (720, 960, 3) and red.dtype == np.uint8
    assert np.abs(red[360, 480].astype(int) - (220, 20, 20)).max() <= 3
    assert np.abs(red[5, 5].astype(int) - (220, 20, 20)).max() <= 3
    green = render_page(pdf, 2, 1280, 720)
    assert green.shape == (720, 540, 3)
    assert np.abs(green[100, 100].astype(int) - (20, 160, 40)).max() <= 3
    assert render_page(pdf, 1, 3840, 2160).shape == (2160, 2880, 3)
    # 4K: vector pages are rasterised at the output size, so a 1 pt bar is 4 sharp pixels, not a blur.
    bar = render_page(_vector_pdf(tmp_path / "bar.pdf"), 1, 3840, 2160)
    assert bar.shape == (2160, 3840, 3)
    row = bar[1000, 395:410, 0].astype(int)
    assert list(row[:4]) == [255] * 4 and list(row[5:9]) == [0] * 4 and list(row[10:]) == [255] * 5
    # A second ask is served from memory, read-only.
    again = render_page(pdf, 1, 1280, 720)
    assert again is red and not red.flags.writeable
    with pytest.raises(SlideError, match=r"talk.pdf: page 3 out of range: the deck has 2 page"):
        render_page(pdf, 3, 1280, 720)


def test_images_are_turned_by_exif_and_flattened_on_white(tmp_path):
    im = Image.new("RGB", (200, 100), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 100, 100))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    photo = tmp_path / "photo.jpg"
    im.save(photo, exif=exif, quality=95)
    rgb = render_page(photo, 1, 400, 400)
    assert rgb.shape == (400, 200, 3)  # portrait once turned
    assert rgb[20, 100, 0] > 200 and rgb[20, 100, 2] < 60  # the red half is now on top
    assert rgb[380, 100, 2] > 200 and rgb[380, 100, 0] < 60
    logo = tmp_path / "logo.png"
    rgba = Image.new("RGBA", (100, 50), (0, 0, 0, 0))
    rgba.paste((0, 128, 0, 255), (50, 0, 100, 50))
    rgba.save(logo)
    out = render_page(logo, 1, 200, 200)
    assert out.shape == (100, 200, 3)
    assert tuple(out[50, 20]) == (255, 255, 255) and tuple(out[50, 180]) == (0, 128, 0)
    webp = tmp_path / "s.webp"
    Image.new("RGB", (160, 90), (250, 200, 0)).save(webp, lossless=True)
    assert tuple(render_page(webp, 1, 320, 320)[80, 160]) == (250, 200, 0)
    with pytest.raises(SlideError, match="logo.png: page 2 out of range"):
        render_page(logo, 2, 100, 100)
    with pytest.raises(SlideError, match="gone.png: slide file not found"):
        render_page(tmp_path / "gone.png", 1, 100, 100)


def test_pdf_notes_side_file_maps_blocks_to_pages(tmp_path):
    pdf = _pdf(tmp_path / "talk.pdf", [((255, 0, 0), (160, 90))] * 3)
    (tmp_path / "talk.notes.txt").write_text("First page.\n---\nSecond\npage.\n---\n\n---\n\n", encoding="utf-8")
    deck = read_deck(pdf)
    assert [s.notes for s in deck.slides] == ["First page.", "Second\npage.", ""]
    extra = tmp_path / "more.md"
    extra.write_text("one\n---\ntwo\n---\nthree\n---\n\nfour is too many\n", encoding="utf-8")
    with pytest.raises(SlideError, match=r"more.md:8: 4 notes blocks for a deck of 3 slide") as e:
        read_deck(pdf, notes=extra)
    assert e.value.line == 8 and e.value.file.endswith("more.md")
    assert read_notes_file(extra, 4)[3] == "four is too many"
    with pytest.raises(SlideError, match="missing.txt: notes file not found"):
        read_deck(pdf, notes=tmp_path / "missing.txt")


# --- Markdown ---------------------------------------------------------------------------------------------

MD = """\
---
title: Onboarding day
marp: true
---
# Welcome aboard

Your first day, step by step

???
Hello! Welcome to *your* first day.

---

## Getting set up

1. Collect your **laptop**
   - Sign the `hand-over` form
2. Set up [single sign-on](https://sso.example)

```text
---
not a separator, and not a bullet
```

![Office map](img/map.png "map")
![remote](https://example.com/x.png)
<!-- speaker: keep this short -->
Notes: Ask IT if anything is missing.
Then say hi to your team.

---
"""


def test_markdown_slides_titles_bullets_levels_pictures_and_notes(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "map.png").write_bytes(_png((0, 0, 0)))
    md = tmp_path / "day.md"
    md.write_text(MD, encoding="utf-8")
    deck = read_deck(md)
    assert deck.kind == "md" and deck.title == "Onboarding day" and len(deck.slides) == 2
    intro, setup = deck.slides
    assert intro.title == "Welcome aboard" and intro.bullets == ["Your first day, step by step"] and intro.title_slide
    assert intro.notes == "Hello! Welcome to *your* first day."
    assert setup.title == "Getting set up" and not setup.title_slide
    assert setup.bullets == ["Collect your laptop", "Sign the hand-over form", "Set up single sign-on"]
    assert setup.levels == [0, 1, 0]
    assert setup.pictures == [(tmp_path / "img" / "map.png").resolve()]
    assert setup.notes == "Ask IT if anything is missing.\nThen say hi to your team."
    # A missing picture names the file and the line.
    md.write_text("# A\n\n---\n\n## B\n\n![x](nope.png)\n", encoding="utf-8")
    with pytest.raises(SlideError, match=r"day.md:7: image 'nope.png' not found"):
        read_deck(md)


def test_sample_markdown_deck_matches_the_pptx():
    md, pptx = read_deck(SAMPLES / "deck.md"), read_deck(DECK)
    assert md.title == pptx.title
    assert [s.title for s in md.slides] == TITLES
    assert [s.bullets for s in md.slides] == [s.bullets for s in pptx.slides]
    assert md.slides[2].pictures == [(SAMPLES / "deck-chart.png").resolve()]
    for a, b in zip(md.slides, pptx.slides):
        assert " ".join(a.notes.replace("*", "").split()) == " ".join(b.notes.split())


# --- from_slides ------------------------------------------------------------------------------------------

def _load(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Made by avatarkit from-slides from ")
    assert "AI-generated narration: review before publishing." in text.splitlines()[0]
    return yaml.safe_load(text)


def _texts(doc: dict) -> list[str]:
    return [seg["text"] for sc in doc["scenes"] for seg in sc["segments"] if "text" in seg]


def test_from_slides_relays_out_the_sample_deck_without_libreoffice(tmp_path, monkeypatch):
    monkeypatch.setattr(convert_mod, "libreoffice", lambda: None)
    out = from_slides(DECK, tmp_path / "course" / "course.yaml", voice="en-us-joe", avatar="avatar.png")
    doc = _load(out)
    assert doc["avatarkit"] == 1 and doc["title"] == TITLES[0] and doc["language"] == "en"
    assert doc["defaults"] == {"avatar": "avatar.png", "voice": "en-us-joe", "layout": "beside"}
    # A photo given from the current folder is written relative to the script, so the script finds it.
    photo = Path(os.path.relpath(DECK.parent / "avatar.png"))
    doc2 = _load(from_slides(DECK, tmp_path / "c2" / "course.yaml", voice="en-us-joe", avatar=str(photo)))
    assert (tmp_path / "c2" / doc2["defaults"]["avatar"]).resolve() == (DECK.parent / "avatar.png").resolve()
    scenes = doc["scenes"]
    assert [s["id"] for s in scenes] == ["slide1", "slide2", "slide3", "slide4"]
    # The title slide introduces the presenter: full frame, title only.
    assert scenes[0] == {"id": "slide1", "layout": "full", "title": TITLES[0], "segments": scenes[0]["segments"]}
    assert scenes[1]["title"] == "Keep every receipt" and len(scenes[1]["bullets"]) == 3 and "slide" not in scenes[1]
    assert scenes[2]["slide"] == "course.assets/slide3-1.png"
    assert (out.parent / scenes[2]["slide"]).is_file()
    assert scenes[3]["title"] == TITLES[3] and scenes[3]["bullets"] == ["finance@example.com"]
    deck = read_deck(DECK)
    assert _texts(doc) == [s.notes for s in deck.slides]
    for text in _texts(doc):
        assert parse_text(text)


def test_from_slides_on_markdown_keeps_emphasis_and_picture_paths(tmp_path):
    out = from_slides(SAMPLES / "deck.md", tmp_path / "md.yaml", voice="en-espeak", avatar="anna", layout="pip")
    doc = _load(out)
    assert doc["defaults"]["layout"] == "pip" and doc["defaults"]["avatar"] == "anna"
    assert doc["scenes"][0]["layout"] == "full"
    assert (tmp_path / doc["scenes"][2]["slide"]).resolve() == (SAMPLES / "deck-chart.png").resolve()
    assert "*why*" in doc["scenes"][1]["segments"][0]["text"]
    with pytest.raises(SlideError, match="deck.md: Markdown slides have no pages"):
        from_slides(SAMPLES / "deck.md", tmp_path / "x.yaml", voice="en-us-joe", avatar="a.png", render="page")


def test_from_slides_pdf_pages_and_notes_made_safe_for_markup(tmp_path):
    (tmp_path / "slides").mkdir()
    pdf = _pdf(tmp_path / "slides" / "talk.pdf", [((255, 0, 0), (160, 90))] * 3)
    (tmp_path / "slides" / "talk.notes.md").write_text(
        "See [the policy](https://intranet/p) and [ask] your manager.\n"
        "Costs 5 * 3 euros, paid **fast**.\n\n- first point\n- second point!\n---\n\n---\nLast *one*.\n",
        encoding="utf-8")
    out = from_slides(pdf, tmp_path / "out" / "talk.yaml", voice="en-us-joe", avatar="../me.png")
    doc = _load(out)
    assert doc["title"] == "talk"
    assert [s["slide"] for s in doc["scenes"]] == [{"file": "../slides/talk.pdf", "page": k} for k in (1, 2, 3)]
    assert "layout" not in doc["scenes"][0]  # a PDF has no title slide to turn into an intro
    first = doc["scenes"][0]["segments"]
    assert [s["text"] for s in first] == ["See the policy and (ask) your manager. Costs 5 3 euros, paid *fast*.",
                                         "first point. second point!"]
    assert doc["scenes"][1]["segments"] == [{"pause": "3s"}]
    assert doc["scenes"][2]["segments"] == [{"text": "Last *one*."}]
    for text in _texts(doc):
        assert parse_text(text)
    with pytest.raises(SlideError, match="talk.pdf: a PDF has no titles or bullets"):
        from_slides(pdf, tmp_path / "x.yaml", voice="en-us-joe", avatar="a.png", render="layout")
    with pytest.raises(SlideError, match="layout 'side'"):
        from_slides(pdf, tmp_path / "x.yaml", voice="en-us-joe", avatar="a.png", layout="side")


def test_narration_splits_paragraphs_and_defuses_markup():
    assert narration("") == []
    assert narration("One line\nwrapped here.\n\nSecond [see p. 2] para.") == ["One line wrapped here.", "Second (see p. 2) para."]
    assert narration("a\nb", lines_are_paragraphs=True) == ["a", "b"]
    assert narration("Keep *this* but drop this*") == ["Keep this but drop this"]
    # Tags written on purpose stay; a lone star goes but emphasis stays.
    assert narration("Book **early** [nod] to save * money. [pause 1s] [Note] [pause 99s]") == [
        "Book *early* [nod] to save money. [pause 1s] (Note) (pause 99s)"]
    assert narration("1. Open the app\n2) Press send") == ["Open the app. Press send."]


# --- Video slides -----------------------------------------------------------------------------------------

def _grey_video(path: Path, fps: int, n: int, size=(160, 120)) -> Path:
    """Frame k is flat grey 20 + 10 k: the colour tells which source frame is on screen."""
    w, h = size
    with VideoWriter(path, w, h, fps) as out:
        for k in range(n):
            out.write_frame(np.full((h, w, 3), 20 + 10 * k, np.uint8))
    return path


def _source_index(rgb: np.ndarray) -> int:
    return int(round((float(rgb.mean()) - 20) / 10))


def test_video_slide_follows_the_output_clock_and_holds_the_last_frame(tmp_path):
    clip = _grey_video(tmp_path / "clip.mp4", 10, 20)  # 2 s at 10 fps
    with VideoSlide(clip, 25, 320, 320) as video:
        assert video.size == (320, 240) and abs(video.duration - 2.0) < 0.15
        shown = [_source_index(video.frame(i)) for i in range(60)]
        assert video.frame(59).shape == (240, 320, 3)
        # Going back restarts from the beginning.
        assert _source_index(video.frame(3)) == 1
    assert shown == [min(19, i * 10 // 25) for i in range(60)]
    fast = _grey_video(tmp_path / "fast.mp4", 30, 15)  # 0.5 s at 30 fps: 25 fps drops every sixth frame
    with VideoSlide(fast, 25, 160, 120) as video:
        shown = [_source_index(video.frame(i)) for i in range(14)]
    assert shown == [min(14, i * 30 // 25) for i in range(14)]
    assert _source_index(render_page(fast, 1, 80, 80)) == 0
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(SlideError, match="bad.mp4"):
        VideoSlide(tmp_path / "bad.mp4", 25, 100, 100)


# --- LibreOffice ------------------------------------------------------------------------------------------

FAKE_SOFFICE = """\
#!{python}
# Stands in for LibreOffice: writes a PDF of flat pages and counts its calls.
import os, sys
from pathlib import Path
from PIL import Image
args = sys.argv[1:]
assert "--headless" in args and "--convert-to" in args and any(a.startswith("-env:UserInstallation=") for a in args)
out, src = Path(args[args.index("--outdir") + 1]), Path(args[-1])
count = Path(os.environ["FAKE_SOFFICE_COUNT"])
count.write_text(str(int(count.read_text()) + 1 if count.exists() else 1))
colours = [(200, 0, 0), (0, 160, 0), (0, 0, 200), (240, 240, 240)]
pages = [Image.new("RGB", (640, 360), colours[k % 4]) for k in range(int(os.environ.get("FAKE_SOFFICE_PAGES", "4")))]
out.mkdir(parents=True, exist_ok=True)
pages[0].save(out / (src.stem + ".pdf"), save_all=True, append_images=pages[1:], resolution=72.0)
"""


@pytest.fixture
def fake_soffice(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "soffice"
    exe.write_text(FAKE_SOFFICE.format(python=sys.executable), encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("AVATARKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAKE_SOFFICE_COUNT", str(tmp_path / "calls"))
    return tmp_path / "calls"


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in soffice is a script with a #! line")
def test_pptx_pages_convert_once_through_libreoffice_and_are_cached(tmp_path, fake_soffice):
    assert libreoffice() == str(tmp_path / "bin" / "soffice")
    green = render_page(DECK, 2, 640, 640)
    assert green.shape == (360, 640, 3) and np.abs(green[180, 320].astype(int) - (0, 160, 0)).max() <= 3
    blue = render_page(DECK, 3, 320, 320)
    assert np.abs(blue[90, 160].astype(int) - (0, 0, 200)).max() <= 3
    assert fake_soffice.read_text() == "1"
    cached = list((tmp_path / "home" / "cache" / "slides").glob("*.pdf"))
    assert len(cached) == 1 and len(cached[0].stem) == 64
    out = from_slides(DECK, tmp_path / "v" / "course.yaml", voice="en-us-joe", avatar="avatar.png")
    doc = _load(out)
    assert fake_soffice.read_text() == "1"  # converted once, for both
    assert (tmp_path / "v" / "course.slides.pdf").read_bytes() == cached[0].read_bytes()
    assert doc["scenes"][0]["layout"] == "full" and "slide" not in doc["scenes"][0]
    assert [s["slide"] for s in doc["scenes"][1:]] == [{"file": "course.slides.pdf", "page": k} for k in (2, 3, 4)]
    assert not (tmp_path / "v" / "course.assets").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in soffice is a script with a #! line")
def test_hidden_slides_find_their_pages_when_libreoffice_exports_them(tmp_path, fake_soffice, monkeypatch):
    deck = _built_deck(tmp_path / "travel.pptx")
    monkeypatch.setenv("FAKE_SOFFICE_PAGES", "3")  # hidden slide exported too
    doc = _load(from_slides(deck, tmp_path / "t.yaml", voice="en-us-joe", avatar="a.png", render="page"))
    assert [s.get("slide") for s in doc["scenes"]] == [{"file": "t.slides.pdf", "page": 1}, {"file": "t.slides.pdf", "page": 3}]


def test_pptx_pages_without_libreoffice_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("AVATARKIT_HOME", str(tmp_path))  # no converted PDF cached from an earlier run
    monkeypatch.setattr(pages_mod, "libreoffice", lambda: None)
    with pytest.raises(SlideError, match=r"deck.pptx: .*needs LibreOffice.*from-slides"):
        render_page(DECK, 1, 333, 333)
    monkeypatch.setattr(convert_mod, "libreoffice", lambda: None)
    with pytest.raises(SlideError, match="needs LibreOffice"):
        from_slides(DECK, tmp_path / "unused.yaml", voice="en-us-joe", avatar="a.png", render="page")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_real_libreoffice_renders_the_sample_deck(tmp_path, monkeypatch):
    monkeypatch.setenv("AVATARKIT_HOME", str(tmp_path / "home"))
    page = render_page(DECK, 3, 1920, 1080)
    assert page.shape == (1080, 1920, 3)
    # The chart's red bar is on the right of slide 3.
    red = np.abs(page.astype(int) - (214, 96, 77)).sum(-1) < 40
    assert red[:, 960:].sum() > 1000 and red[:, :960].sum() < 100
    doc = _load(from_slides(DECK, tmp_path / "c.yaml", voice="en-us-joe", avatar="a.png"))
    assert doc["scenes"][2]["slide"] == {"file": "c.slides.pdf", "page": 3}
