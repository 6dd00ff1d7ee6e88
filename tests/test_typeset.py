"""Multilingual typesetting: font fallback, shaping, bidi, line breaking and rasterised blocks, checked on pixels."""

from __future__ import annotations

import unicodedata

import cv2
import numpy as np
import pytest

from avatarkit.compose.bidi import bidi_levels, paragraph_level, visual_order
from avatarkit.compose.fonts import BUNDLED, BundledFont, FontError, bundled_path, font_stack
from avatarkit.compose.typeset import ELLIPSIS, TextStyle, clusters, measure, render_block, units, wrap
from avatarkit.errors import AvatarkitError

SAMPLES = {
    "latin": "Ünïcødé",
    "cyrillic": "Привет, мир",
    "greek": "Γειά σου κόσμε",
    "japanese": "日本語のテキスト",
    "chinese": "中文",
    "korean": "한국어",
    "arabic": "مرحبا بالعالم",
    "hebrew": "שלום עולם",
    "devanagari": "हिन्दी",
    "thai": "ภาษาไทย",
}
STYLE = TextStyle(size=36)
HEEBO = next(b for b in BUNDLED if b.family == "Heebo")
THAI = next(b for b in BUNDLED if b.family == "Noto Sans Thai")


def ink_columns(alpha: np.ndarray, thresh: int = 40) -> np.ndarray:
    return np.flatnonzero((alpha > thresh).any(axis=0))


def test_every_script_is_covered_and_inked():
    stack = font_stack()
    for name, text in SAMPLES.items():
        assert stack.missing(text) == [], name
        cl = clusters(text)
        # Each cluster is drawn by a font whose character map has all of it: no .notdef boxes.
        for c, f in zip(cl, stack.assign(cl)):
            assert c.isspace() or stack.covers(f, c), (name, c)
        block = render_block(text, STYLE, 1000)
        assert block.lines == [text]
        assert (block.rgba[..., 3] > 128).sum() > 100, name


def test_notdef_would_be_detected():
    assert font_stack().missing("a\U000f0000b") == ["\U000f0000"]


def test_scripts_pick_their_fonts_and_neutrals_join_runs():
    stack = font_stack()
    names = [p.name for p in stack.paths]
    for text, family in (("שלום", "Heebo"), ("مرحبا", "NotoSansArabic"), ("ภาษา", "NotoSansThai"), ("中文", "NotoSansCJK")):
        fonts = stack.assign(clusters(text))
        assert len(set(fonts)) == 1 and names[fonts[0]].startswith(family), text
    # The comma and space after Hebrew stay in the Hebrew font: two runs, not four.
    fonts = stack.assign(clusters("שלום, world"))
    assert fonts[:6] == [fonts[0]] * 6 and fonts[6] != fonts[0]


def test_arabic_is_shaped_and_joined():
    word = "مرحبا"
    joined = measure(word, STYLE)
    isolated = sum(measure(c, STYLE) for c in word)
    assert joined < 0.9 * isolated
    # Pixels too: the joined word is one connected stroke, far narrower than the letters side by side.
    ink = ink_columns(render_block(word, STYLE, 1000).rgba[..., 3])
    assert ink[-1] - ink[0] < 0.9 * isolated


def test_devanagari_conjunct_is_shaped():
    conjunct = measure("क्ष", STYLE)
    apart = measure("क", STYLE) + measure("्", STYLE) + measure("ष", STYLE)
    assert conjunct < 0.5 * apart
    assert clusters("क्षत्रिय")[0] == "क्ष"


def _two_lines(text_long: str, text_short: str, style: TextStyle) -> tuple[np.ndarray, list]:
    block = render_block(f"{text_long}\n{text_short}", style, 2000)
    assert block.lines == [text_long, text_short]
    return block.rgba[..., 3], block


@pytest.mark.parametrize("long, short, rtl", [
    ("שלום עולם, זוהי כתובית ארוכה", "קצר", True),
    ("هذا نص عربي طويل للترجمة", "قصير", True),
    ("This is a long caption line", "Short", False),
])
def test_start_alignment_follows_paragraph_direction(long, short, rtl):
    alpha, block = _two_lines(long, short, TextStyle(size=36, align="start"))
    assert block.direction == ("rtl" if rtl else "ltr")
    H, W = alpha.shape
    x0, y0, x1, y1 = block.line_boxes[1]
    band = alpha[y0:y1]
    cols = ink_columns(band)
    assert cols.size and (cols[-1] - cols[0]) < W / 3
    if rtl:  # ink reaches the right margin; the left two thirds of the short line are empty
        assert cols[-1] >= W - block.pad - 4
        assert not (band[:, : 2 * W // 3] > 0).any()
    else:
        assert cols[0] <= block.pad + 4
        assert not (band[:, W // 3:] > 0).any()
    # `end` mirrors it.
    alpha_end, block_end = _two_lines(long, short, TextStyle(size=36, align="end"))
    cols = ink_columns(alpha_end[block_end.line_boxes[1][1]:block_end.line_boxes[1][3]])
    assert (cols[0] <= block_end.pad + 4) if rtl else (cols[-1] >= W - block_end.pad - 4)


def _find(image: np.ndarray, text: str) -> tuple[int, float]:
    """Where the block of `text` alone appears in `image` (alpha): x of the best match and its score."""
    block = render_block(text, STYLE, 2000)
    x0, y0, x1, y1 = block.line_boxes[0]
    tpl = block.rgba[y0:y1, x0:x1, 3].astype(np.float32)
    res = cv2.matchTemplate(image.astype(np.float32), tpl, cv2.TM_CCOEFF_NORMED)
    _, score, _, loc = cv2.minMaxLoc(res)
    return loc[0], score


def test_mixed_bidi_puts_latin_left_of_hebrew():
    block = render_block("שלום world 123", STYLE, 2000)
    assert block.direction == "rtl"
    alpha = block.rgba[..., 3]
    x_latin, s1 = _find(alpha, "world 123")
    x_hebrew, s2 = _find(alpha, "שלום")
    assert s1 > 0.95 and s2 > 0.95
    latin_w = measure("world 123", STYLE)
    assert x_latin + latin_w <= x_hebrew + 2


def _left_part_matches(text: str, glyph: str) -> float:
    """How well `glyph` drawn alone matches the left quarter of `text`'s ink (normalised correlation)."""
    block = render_block(text, STYLE, 2000)
    x0, y0, x1, y1 = block.line_boxes[0]
    left = np.pad(block.rgba[y0:y1, x0:x0 + (x1 - x0) // 4, 3], 4).astype(np.float32)
    g = render_block(glyph, TextStyle(size=STYLE.size, font=bundled_path(HEEBO)), 100)  # as the Hebrew run
    gx0, gy0, gx1, gy1 = g.line_boxes[0]
    return float(cv2.matchTemplate(left, g.rgba[gy0:gy1, gx0:gx1, 3].astype(np.float32), cv2.TM_CCOEFF_NORMED).max())


def test_rtl_punctuation_and_brackets():
    # A right-to-left paragraph ends at the left: "שלום!" shows the "!" leftmost...
    assert _left_part_matches("שלום!", "!") > 0.9
    # ...and "(שלום)" reads "(םולש)" on screen: the brackets are mirrored.
    assert _left_part_matches("(שלום)", "(") > 0.9 > _left_part_matches("(שלום)", ")")


def test_bidi_levels_and_order():
    # Arabic with a number: digits become an LTR island inside the RTL text (W2, I1).
    text = "العدد 123 هنا"
    assert paragraph_level(text) == 1
    levels = bidi_levels(text, 1)
    assert levels[6:9] == [2, 2, 2] and set(levels[:6] + levels[9:]) == {1}
    order = visual_order(levels)
    visual = "".join(text[i] for i in order)
    assert visual == "انه 123 ددعلا"
    # Hebrew paragraph, English words and a digit group keep LTR order among themselves.
    text = "שלום big world 42!"
    visual = "".join(text[i] for i in visual_order(bidi_levels(text, 1)))
    assert visual == "!big world 42 םולש"
    # An LTR paragraph with trailing spaces keeps them at the paragraph level (L1).
    assert bidi_levels("abc שלום  ", 0)[-2:] == [0, 0]
    assert paragraph_level("123 abc") == 0 and paragraph_level("(שלום)") == 1


def test_latin_wraps_at_spaces_within_width():
    text = "The quick brown fox jumps over the lazy dog while the band plays on and on"
    lines = wrap(text, STYLE, 300)
    assert len(lines) >= 3 and " ".join(lines) == text
    assert all(measure(ln, STYLE) <= 300 for ln in lines)
    block = render_block(text, STYLE, 300)
    for x0, _, x1, _ in block.line_boxes:
        assert x1 - x0 <= 300
    # Greedy: the next word would not have fitted on any line.
    for a, b in zip(lines, lines[1:]):
        assert measure(a + " " + b.split()[0], STYLE) > 300


def test_japanese_wraps_without_spaces_and_respects_kinsoku():
    text = "日本語のテキストを表示します。これは長い文章です、改行のテストです。「元気ですか？」"
    for width in range(120, 420, 23):
        lines = wrap(text, STYLE, width)
        assert "".join(lines) == text
        assert all(measure(ln, STYLE) <= width for ln in lines)
        for ln in lines[1:]:
            assert ln[0] not in "。、」？", (width, lines)
        for ln in lines[:-1]:
            assert ln[-1] != "「", (width, lines)


def test_thai_never_splits_base_from_vowel():
    text = "ภาษาไทยเป็นภาษาที่ไม่มีการเว้นวรรคระหว่างคำ"
    for width in range(60, 300, 17):
        lines = wrap(text, STYLE, width)
        assert "".join(lines) == text
        for a, b in zip(lines, lines[1:]):
            first = b[0]
            assert not unicodedata.category(first).startswith("M"), (width, lines)
            assert first not in "\u0e30\u0e32\u0e33\u0e45", (width, lines)
            assert not "\u0e40" <= a[-1] <= "\u0e44", (width, lines)
    # With spaces, Thai breaks at them first.
    assert wrap("ภาษาไทย สวัสดี", STYLE, measure("ภาษาไทย", STYLE) + 5) == ["ภาษาไทย", "สวัสดี"]
    assert units("น้ำ") == ["น้ำ"] and units("เกม") == ["เก", "ม"]


def test_overlong_word_breaks_at_graphemes():
    word = unicodedata.normalize("NFD", "Ünïcødé" * 4)  # decomposed: letters followed by combining marks
    lines = wrap(word + " end", STYLE, 120)
    assert len(lines) >= 3
    assert "".join(ln.replace(" ", "") for ln in lines) == word + "end"
    assert all(measure(ln, STYLE) <= 120 for ln in lines)
    assert not any(unicodedata.category(ln[0]).startswith("M") for ln in lines)


def test_balance_evens_two_lines():
    text = "Welcome back to the course, today we look at the first lesson"
    greedy = wrap(text, STYLE, 900)
    balanced = wrap(text, STYLE, 900, balance=True)
    assert len(greedy) == len(balanced) == 2
    gw = [measure(ln, STYLE) for ln in greedy]
    bw = [measure(ln, STYLE) for ln in balanced]
    assert max(bw) < max(gw) and abs(bw[0] - bw[1]) < 0.5 * abs(gw[0] - gw[1])
    assert " ".join(balanced) == text


def test_max_lines_ends_with_ellipsis():
    text = "This caption is much too long to fit on two lines of the block, so it has to be cut short"
    block = render_block(text, STYLE, 300, max_lines=2)
    assert len(block.lines) == 2 and block.lines[-1].endswith(ELLIPSIS)
    assert measure(block.lines[-1], STYLE) <= 300
    assert len(block.line_boxes) == 2
    # RTL too: the ellipsis is at the logical end, drawn at the left.
    block = render_block("هذا نص عربي طويل بما يكفي ليلتف على سطرين في الفيديو وأكثر من ذلك بكثير", STYLE, 300, max_lines=2)
    assert block.lines[-1].endswith(ELLIPSIS) and block.direction == "rtl"


def test_block_is_tight_and_alpha_is_straight():
    style = TextStyle(size=36, color="#ff8000")
    block = render_block("Hello world", style, 2000)
    H, W, _ = block.rgba.shape
    assert W == measure("Hello world", style) + 2 * block.pad
    assert block.pad <= 4
    # Straight alpha: every pixel carries the full colour, edges only lower the alpha.
    assert (block.rgba[..., :3] == (255, 128, 0)).all()
    a = block.rgba[..., 3]
    assert ((a > 0) & (a < 255)).any() and (a == 255).any()
    x0, y0, x1, y1 = block.line_boxes[0]
    assert (a[y0:y1, x0:x1] > 0).any() and not (a[:, :x0] > 0).any() and not (a[:y0] > 0).any()


def test_outline_and_shadow():
    plain = render_block("Caption", TextStyle(size=36), 2000)
    styled = render_block("Caption", TextStyle(size=36, color="#ffffff", stroke=3, stroke_color="#0000ff", shadow=True), 2000)
    rgba = styled.rgba
    assert styled.pad > plain.pad
    a = rgba[..., 3].astype(int)
    assert (a > 0).sum() > 2 * (plain.rgba[..., 3] > 0).sum()
    solid = a == 255
    # The outline colour shows (pure blue, straight alpha), and so does the white text inside it.
    assert ((rgba[..., 0] < 30) & (rgba[..., 2] > 225) & solid).sum() > 200
    assert ((rgba[..., :3] > 245).all(axis=-1) & solid).sum() > 200
    # The shadow: semi-transparent black below and right of the ink, no more than 60 % opaque.
    x0, y0, x1, y1 = styled.line_boxes[0]
    below = rgba[y1 + 1:, x0:x1]
    assert (below[..., 3] > 10).any()
    shadow = below[below[..., 3] > 10]
    assert shadow[:, 3].max() <= 0.6 * 255 + 1 and shadow[:, :3].max() < 60


def test_bold_weight_adds_ink():
    for text in ("Bold text", "中文字幕"):  # a variable font (wght axis) and one emboldened by stroking
        regular = (render_block(text, TextStyle(size=36, weight=400), 2000).rgba[..., 3].astype(int)).sum()
        bold = (render_block(text, TextStyle(size=36, weight=700), 2000).rgba[..., 3].astype(int)).sum()
        assert bold > 1.2 * regular, text


def test_user_font_first_and_missing_user_font(tmp_path):
    thai = bundled_path(THAI)
    stack = font_stack(thai)
    assert stack.paths[0] == thai.resolve() and stack.assign(clusters("A1"))[0] == 0
    missing = tmp_path / "brand" / "Nope.ttf"
    with pytest.raises(AvatarkitError, match="Nope.ttf"):
        render_block("Hi", TextStyle(font=str(missing)), 500)
    bad = tmp_path / "bad.ttf"
    bad.write_bytes(b"not a font at all")
    with pytest.raises(FontError, match="bad.ttf"):
        font_stack(bad)


def test_missing_font_package_names_pip_package():
    with pytest.raises(FontError, match="pip install fontpkg-made-up"):
        bundled_path(BundledFont("Made Up", "fontpkg-made-up", "fontpkg_made_up_module", "files/X.ttf"))


@pytest.mark.parametrize("kwargs, field", [
    (dict(color="red"), "color"), (dict(stroke_color="#12345"), "stroke_color"), (dict(align="left"), "align"),
    (dict(weight=1000), "weight"), (dict(size=0), "size"), (dict(stroke=-1), "stroke"),
])
def test_bad_style_names_field(kwargs, field):
    with pytest.raises(AvatarkitError, match=field):
        TextStyle(**kwargs)
