"""Build the sample training deck `samples/deck.pptx` (16:9, four slides, speaker notes).

    python samples/make_deck.py samples/deck.pptx

Everything in it is made here: the slides with python-pptx and the bar
chart on slide 3 with Pillow (also written beside the deck as
`<stem>-chart.png`, which `samples/deck.md` shows). The output is the same
byte for byte on every run: fixed document dates and fixed zip entry times.
Narrated, the notes last about half a minute.
"""

from __future__ import annotations

import io
import sys
import zipfile
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.shapes import MSO_SHAPE
from pptx.enum.text import PP_ALIGN
from pptx.util import Emu, Inches, Pt

TITLE = "Expense reports in three steps"
# (layout index in python-pptx's default template, title, body paragraphs, notes)
SLIDES = [
    (0, TITLE, ["Finance onboarding · 5 minutes"],
     "Hello, and welcome to finance onboarding. In the next half minute, you will learn how to file an expense report."),
    (1, "Keep every receipt", ["Photograph paper receipts the same day", "Save e-mailed invoices as PDF",
                               "Write the business purpose on each one"],
     "Every claim starts with a receipt. Take a photo the same day, and note why you spent the money."),
    (1, "Submit within 30 days", ["Use the Expenses app, not e-mail", "One report per trip or per month",
                                  "Late reports delay your refund"],
     "Submit your report in the Expenses app within thirty days. As the chart shows, early reports are refunded fastest."),
    (0, "Questions? Ask Finance", ["finance@example.com"],
     "That's it: keep your receipts, and submit on time. If anything is unclear, the finance team is happy to help."),
]
CHART_SLIDE = 2  # 0-based index of the slide that shows the chart
FIXED_TIME = datetime(2024, 1, 1, 9, 0, 0)
NAVY, TEAL, GREY = (22, 50, 79), (61, 126, 166), (90, 98, 110)


def chart_png(width: int = 1200, height: int = 900) -> bytes:
    """A bar chart 'Days until refunded' by week of submission, drawn with Pillow's bundled font (PNG bytes)."""
    weeks, days = ["Week 1", "Week 2", "Week 3", "Week 4", "Later"], [3, 5, 8, 12, 21]
    im = Image.new("RGB", (width, height), (255, 255, 255))
    d = ImageDraw.Draw(im)
    title_font, font = ImageFont.load_default(size=54), ImageFont.load_default(size=36)
    d.text((width // 2, 70), "Days until refunded", font=title_font, fill=NAVY, anchor="mm")
    left, right, top, bottom = 110, width - 60, 170, height - 120
    d.line((left, bottom, right, bottom), fill=GREY, width=4)
    slot = (right - left) / len(days)
    for k, (week, n) in enumerate(zip(weeks, days)):
        x0 = left + k * slot + slot * 0.18
        x1 = left + (k + 1) * slot - slot * 0.18
        y0 = bottom - (bottom - top - 60) * n / max(days)
        # The last bar (late reports) in the warning colour the notes talk about.
        d.rectangle((x0, y0, x1, bottom - 2), fill=(214, 96, 77) if k == len(days) - 1 else TEAL)
        d.text(((x0 + x1) / 2, y0 - 12), str(n), font=font, fill=NAVY, anchor="mb")
        d.text(((x0 + x1) / 2, bottom + 20), week, font=font, fill=GREY, anchor="mt")
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def build(out: Path, chart: Path | None = None) -> Path:
    """Write the deck to `out` (and the chart PNG to `chart`, default `<stem>-chart.png` beside it)."""
    prs = Presentation()
    old_w = prs.slide_width
    prs.slide_width, prs.slide_height = Emu(12192000), Emu(6858000)  # 13.333 x 7.5 in: 16:9
    # The default template is 4:3: widen every master and layout placeholder to the new width.
    k = prs.slide_width / old_w
    # Layout placeholders inherit their place from the master's, so read every box before changing any.
    boxes = [(shape, shape.left, shape.top, shape.width, shape.height)
             for holder in [prs.slide_master, *prs.slide_layouts] for shape in holder.placeholders]
    for shape, left, top, width, height in boxes:
        if None not in (left, top, width, height):
            shape.left, shape.top, shape.width, shape.height = int(left * k), top, int(width * k), height
    background = prs.slide_master.background.fill
    background.solid()
    background.fore_color.rgb = RGBColor(247, 249, 252)
    png = chart_png()
    for index, (layout, title, body, notes) in enumerate(SLIDES):
        slide = prs.slides.add_slide(prs.slide_layouts[layout])
        slide.shapes.title.text = title
        slide.shapes.title.text_frame.paragraphs[0].font.color.rgb = RGBColor(*NAVY)
        slide.shapes.title.text_frame.paragraphs[0].font.bold = True
        holder = slide.placeholders[1]
        frame = holder.text_frame
        frame.text = body[0]
        for line in body[1:]:
            frame.add_paragraph().text = line
        if layout == 1:
            slide.shapes.title.text_frame.paragraphs[0].alignment = PP_ALIGN.LEFT
            for p in frame.paragraphs:
                p.font.size = Pt(24)
            # A teal rule under the title of content slides.
            bar = slide.shapes.add_shape(MSO_SHAPE.RECTANGLE, Inches(0.77), Inches(1.55), Inches(1.6), Inches(0.08))
            bar.fill.solid()
            bar.fill.fore_color.rgb = RGBColor(*TEAL)
            bar.line.fill.background()
        else:
            frame.paragraphs[0].font.color.rgb = RGBColor(*TEAL)
        if index == CHART_SLIDE:
            left, top, height = holder.left, holder.top, holder.height  # inherited: set all four together
            holder.left, holder.top, holder.width, holder.height = left, top, Inches(6.9), height
            slide.shapes.add_picture(io.BytesIO(png), Inches(7.75), Inches(2.0), height=Inches(4.0))
        slide.notes_slide.notes_text_frame.text = notes
    props = prs.core_properties
    props.title, props.author, props.last_modified_by = TITLE, "avatarkit samples", "avatarkit samples"
    props.subject, props.keywords, props.revision = "Finance onboarding", "expenses, training", 1
    props.created = props.modified = props.last_printed = FIXED_TIME
    buf = io.BytesIO()
    prs.save(buf)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(_fixed_zip(buf.getvalue()))
    (chart or out.with_name(f"{out.stem}-chart.png")).write_bytes(png)
    return out


def _fixed_zip(data: bytes) -> bytes:
    """The same zip with every entry dated 1980-01-01, so the file does not change between runs."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return buf.getvalue()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("deck.pptx")
    print(build(target))
