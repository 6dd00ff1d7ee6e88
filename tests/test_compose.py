"""Compositing checked by pixels: layouts at every aspect, the logo, captions, bullets, transitions, brand kits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from avatarkit.compose.brand import Brand, load_brand
from avatarkit.compose.layout import frame_layout
from avatarkit.compose.reveal import reveal_points
from avatarkit.compose.scene import SceneCompositor
from avatarkit.compose.transition import TransitionRun
from avatarkit.errors import ScriptError
from avatarkit.face import landmarks as lm
from avatarkit.render.base import make_renderer
from avatarkit.script import parse_text
from avatarkit.script.model import Background, LowerThird

SIZES = {"16:9": (640, 360), "9:16": (360, 640), "1:1": (480, 480)}


def _frame(comp: SceneCompositor, index: int = 0) -> np.ndarray:
    bound = make_renderer("warp").bind(comp.rig)
    return comp.compose(bound.render_frame({}), index=index)


def _brand(tmp_path, **logo) -> Brand:
    Image.new("RGBA", (100, 50), (255, 0, 255, 255)).save(tmp_path / "logo.png")
    fields = "\n".join(f"  {k}: {v}" for k, v in logo.items())
    (tmp_path / "brand.yaml").write_text(f"logo:\n  file: logo.png\n{fields}\n", encoding="utf-8")
    return load_brand(tmp_path / "brand.yaml")


@pytest.mark.parametrize("position", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_logo_is_where_the_brand_kit_says(rig, tmp_path, position):
    W, H = SIZES["16:9"]
    brand = _brand(tmp_path, position=position, size=0.2, margin=0.05)
    frame = _frame(SceneCompositor(rig, Background("studio"), "beside", W, H, "Title", brand=brand))
    magenta = (frame[..., 0] > 230) & (frame[..., 1] < 30) & (frame[..., 2] > 230)
    ys, xs = np.nonzero(magenta)
    w, h, m = 0.2 * W, 0.2 * W / 2, 0.05 * H
    x0 = m if position.endswith("left") else W - m - w
    y0 = m if position.startswith("top") else H - m - h
    assert abs(xs.min() - x0) <= 2 and abs(xs.max() + 1 - (x0 + w)) <= 2
    assert abs(ys.min() - y0) <= 2 and abs(ys.max() + 1 - (y0 + h)) <= 2
    # The slide panel keeps clear of a logo at the top.
    fl = frame_layout("beside", W, H, int(y0 + h + 0.02 * H))
    if position.startswith("top"):
        assert fl.panel.y >= y0 + h


@pytest.mark.parametrize("aspect", list(SIZES))
@pytest.mark.parametrize("layout", ["full", "beside", "pip", "circle"])
def test_every_layout_keeps_the_face_inside_the_frame(rig, aspect, layout):
    W, H = SIZES[aspect]
    comp = SceneCompositor(rig, Background("studio"), layout, W, H, "A title", bullets=("One", "Two"))
    p = comp.placement
    face = rig.landmarks[list(lm.FACE_OVAL), :2] * p.scale + np.array([p.x, p.y])
    assert face[:, 0].min() >= 0 and face[:, 0].max() <= W and face[:, 1].min() >= 0 and face[:, 1].max() <= H
    panel = comp.layout.panel
    if layout == "beside":
        # The slide and the face do not overlap.
        inside = ((face[:, 0] > panel.x) & (face[:, 0] < panel.x1) & (face[:, 1] > panel.y) & (face[:, 1] < panel.y1))
        assert not inside.any()
    if layout == "circle":
        cx, cy, r = comp.layout.bubble
        assert np.hypot(face[:, 0] - cx, face[:, 1] - cy).max() < 1.15 * r
    # The face is big enough to read a mouth: at least 8 % of the short side.
    assert np.ptp(face[:, 1]) >= 0.08 * min(W, H)


def test_right_to_left_caption_starts_at_the_right(rig):
    from avatarkit.compose.typeset import TextStyle, render_block

    W, H = 960, 540
    comp = SceneCompositor(rig, Background("solid", ("#204060",)), "pip", W, H, "", language="he", label=False)
    before = _frame(comp, 0).copy()
    first, rest = "שלום", "לכולם וברוכים הבאים"
    comp.add_caption(f"{first} {rest}", 1, 50)
    after = _frame(comp, 1)
    by, bx = np.nonzero(np.abs(after.astype(int) - before.astype(int)).sum(-1) > 60)   # the caption box
    text = np.zeros(after.shape[:2], bool)
    box = np.s_[by.min() + 2:by.max() - 1, bx.min() + 2:bx.max() - 1]
    text[box] = after[box].min(-1) > 200            # white letters on the dark caption box
    ys, xs = np.nonzero(text)
    x0, x1 = xs.min(), xs.max() + 1
    size = int(round(0.046 * min(W, H)))
    word = render_block(first, TextStyle(size=size, weight=600), 2000).rgba[..., 3] > 128
    wcols = word.any(0)
    w1 = int(np.flatnonzero(wcols)[-1] - np.flatnonzero(wcols)[0] + 1)
    profile = text[:, x0:x1].sum(0).astype(float)
    ref = word[:, np.flatnonzero(wcols)[0]:np.flatnonzero(wcols)[0] + w1].sum(0).astype(float)

    def corr(a, b):
        return float(np.corrcoef(a, b)[0, 1])

    # The first word (in reading order) is the rightmost one, the rest lies to its left.
    assert corr(profile[-w1:], ref) > 0.8
    assert corr(profile[:w1], ref) < 0.5
    assert x1 - x0 > 2 * w1


def test_bullets_appear_when_the_narration_names_them(rig):
    phrases = parse_text("Welcome. First, keep every receipt you get. Then submit the report within thirty days. "
                         "Finally ask your manager.")
    points = reveal_points(("Keep receipts", "Submit reports on time", "Manager approval"), phrases)
    words = [[m.text for m in ph.words] for ph in phrases]
    assert [words[p][w] for p, w in points] == ["keep", "submit", "manager."]
    # A bullet nobody names still appears, in order, before the scene ends.
    points = reveal_points(("Keep receipts", "Unrelated words", "Manager approval"), phrases)
    assert points[0] <= points[1] <= points[2]

    W, H = 640, 360
    comp = SceneCompositor(rig, Background("studio"), "beside", W, H, "Steps", bullets=("Alpha", "Beta"), fps=25,
                           label=False)
    assert comp.bullets == 2
    b0 = comp._bullets[0]
    x0, y0, x1, y1 = b0.x, b0.y, b0.x + b0.alpha.shape[1], b0.y + b0.alpha.shape[0]
    comp.reveal(0, 10)
    region = [_frame(comp, i)[y0:y1, x0:x1].astype(int).copy() for i in (0, 9, 10, 30)]
    assert np.abs(region[0] - region[1]).max() == 0          # nothing before the word
    assert np.abs(region[3] - region[0]).max() > 100         # the bullet's ink after its fade-in
    assert 0 < np.abs(region[2] - region[0]).mean() < np.abs(region[3] - region[0]).mean()   # fading in


def test_lower_third_shows_for_its_span_only(rig):
    comp = SceneCompositor(rig, Background("studio"), "full", 640, 360, "", lower_third=LowerThird("Anna", "Trainer"),
                           fps=25, label=False)
    f = [_frame(comp, i).copy() for i in (0, 50, 200)]
    band = comp.layout.band
    sl = np.s_[band.y:band.y + band.h, band.x:band.x + band.w]
    assert np.abs(f[1][sl].astype(int) - f[0][sl]).max() > 100
    assert np.abs(f[2][sl].astype(int) - f[0][sl]).max() == 0


def test_transitions_blend_and_push():
    old = np.zeros((20, 40, 3), np.uint8)
    new = np.full((20, 40, 3), 200, np.uint8)
    fade = TransitionRun("crossfade", old, 4)
    levels = [float(fade.apply(new).mean()) for _ in range(5)]
    assert levels[0] > 0 and levels[3] < 200 and all(a < b for a, b in zip(levels[:4], levels[1:4]))
    assert levels[4] == 200 and fade.done
    push = TransitionRun("slide", old, 3)
    mid = push.apply(new)
    cols = mid[0, :, 0]
    k = int((cols == 200).sum())
    assert 0 < k < 40 and (cols[:40 - k] == 0).all() and (cols[40 - k:] == 200).all()   # new comes in from the right


def test_brand_kit_errors_name_file_line_and_field(tmp_path):
    p = tmp_path / "brand.yaml"
    p.write_text("colors:\n  primary: blue\n", encoding="utf-8")
    with pytest.raises(ScriptError, match=r"brand.yaml:2: colors.primary: 'blue' is not a colour"):
        load_brand(p)
    p.write_text("logo:\n  file: missing.png\n", encoding="utf-8")
    with pytest.raises(ScriptError, match=r"brand.yaml:2: logo.file: a logo image 'missing.png' not found"):
        load_brand(p)
    Image.new("RGBA", (8, 8)).save(tmp_path / "x.png")
    p.write_text("logo: {file: x.png, position: middle}\n", encoding="utf-8")
    with pytest.raises(ScriptError, match=r"logo.position: unknown position 'middle'"):
        load_brand(p)
    p.write_text("intro: {title: Hi, duration: 90s}\n", encoding="utf-8")
    with pytest.raises(ScriptError, match=r"intro.duration"):
        load_brand(p)


def test_sample_brand_kit_loads():
    from .conftest import SAMPLES

    b = load_brand(SAMPLES / "brand.yaml")
    assert b.logo.file.is_file() and b.music.file.is_file() and b.intro.title and b.transition.kind == "crossfade"


def test_a_video_slide_plays_in_the_panel(rig, tmp_path):
    from avatarkit.media.writer import VideoWriter
    from avatarkit.slides import VideoSlide

    path = tmp_path / "clip.mp4"
    with VideoWriter(path, 160, 90, 25) as w:
        for i in range(50):
            w.write_frame(np.full((90, 160, 3), (0, 0, 220) if i < 25 else (220, 0, 0), np.uint8))
            w.write_audio(np.zeros(1920, np.float32))
    video = VideoSlide(path, 25, 640, 360)
    comp = SceneCompositor(rig, Background("studio"), "beside", 640, 360, "", slide=video, label=False)
    r = comp.video_rect
    centre = np.s_[r.y + r.h // 4:r.y1 - r.h // 4, r.x + r.w // 4:r.x1 - r.w // 4]
    first, later = _frame(comp, 5)[centre].mean((0, 1)), _frame(comp, 40)[centre].mean((0, 1))
    assert first[2] > 180 and first[0] < 40          # blue in the first second
    assert later[0] > 180 and later[2] < 40          # red in the second
    comp.close()


def test_blur_background_is_the_slide_blurred(rig):
    slide = np.zeros((90, 160, 3), np.uint8)
    slide[:, :80] = (250, 200, 0)
    comp = SceneCompositor(rig, Background("blur"), "full", 640, 360, "", slide=slide, label=False)
    bg = comp.bg.astype(int)
    assert bg[:, :200, 0].mean() > bg[:, 440:, 0].mean() + 40    # the slide's bright left half, softened
    assert np.abs(np.diff(bg[180, :, 0])).max() < 12             # no sharp edge left


def test_long_captions_become_pages_not_cut_short(rig):
    comp = SceneCompositor(rig, Background("studio"), "full", 360, 640, "", language="ja", label=False)
    text = "これは長い日本語の字幕です。句読点のあとで改行されるべきではありません。字幕は途中で切れずに、順番に表示されます。"
    comp.add_caption(text, 10, 110)
    pages = [o for o in comp.overlays.items if o.start >= 10]
    assert len(pages) >= 2
    spans = [(o.start, o.end) for o in pages]
    assert spans[0][0] == 10 and spans[-1][1] == 110 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    from avatarkit.compose.elements import caption_pages

    assert "".join(p.replace("\n", "") for p in caption_pages(comp.look, text, comp.layout.captions)) == text


@pytest.mark.parametrize("aspect", list(SIZES))
@pytest.mark.parametrize("layout", ["full", "beside", "pip", "circle"])
def test_lower_third_captions_and_logo_never_cover_each_other(rig, tmp_path, aspect, layout):
    W, H = SIZES[aspect]
    comp = SceneCompositor(rig, Background("studio"), layout, W, H, "", brand=_brand(tmp_path, size=0.2),
                           lower_third=LowerThird("Anna Berg", "Finance trainer"), fps=25)
    comp.add_caption("Keep every receipt, even the small ones from the taxi ride home.", 0, 500)
    boxes = [o.box for o in comp.overlays.items]
    assert len(boxes) >= 4                         # logo, label, lower third, a caption page
    for i, a in enumerate(boxes):
        assert 0 <= a[0] and a[2] <= W and 0 <= a[1] and a[3] <= H, a
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


# --- course frames: transitions, bands and cards (issue 25) -------------------------------------------------

def _head_box(rig, comp) -> tuple[int, int, int, int]:
    """The presenter's head (hair included) and face in frame pixels, from the photo's landmarks."""
    p = comp.placement
    L = rig.landmarks[:, :2] * p.scale + np.array([p.x, p.y])
    oval = L[list(lm.FACE_OVAL)]
    x0, x1, top, chin = oval[:, 0].min(), oval[:, 0].max(), oval[:, 1].min(), L[lm.CHIN, 1]
    fh, fw = chin - top, x1 - x0
    return int(x0 - 0.15 * fw), int(top - 0.4 * fh), int(x1 + 0.15 * fw), int(chin)


def _neck_box(rig, comp) -> tuple[float, float, float, float]:
    """The presenter's face and neck: the face oval down to half a face height below the chin."""
    p = comp.placement
    L = rig.landmarks[:, :2] * p.scale + np.array([p.x, p.y])
    oval = L[list(lm.FACE_OVAL)]
    top, chin = oval[:, 1].min(), L[lm.CHIN, 1]
    return oval[:, 0].min(), top, oval[:, 0].max(), chin + 0.5 * (chin - top)


def _crossfade(rig, outgoing: SceneCompositor, make_incoming, frames: int = 15):
    """The frames a crossfade shows from `outgoing`'s last frame into the scene `make_incoming(start, hold)`
    makes, as the pipeline blends them (its text held, its presenter brought in first), and that scene."""
    renderer = make_renderer("warp")
    b = renderer.bind(outgoing.rig)
    prev = outgoing.compose(b.render_frame({}), index=99).copy()
    inc = make_incoming(100, frames)
    bi = renderer.bind(inc.rig)
    head = [inc.compose(bi.render_frame({}), index=100 + i).copy() for i in range(frames)]
    run = TransitionRun("crossfade", prev, frames, front=inc.presenter_alpha())
    return [run.apply(f).copy() for f in head], head, inc


def test_a_crossfade_shows_no_title_of_the_next_slide_over_the_presenter(rig):
    """Full (presenter in the middle) into beside: the new card's long title crosses where the old presenter's
    head is. During the crossfade no pixel of that title is blended there; once it has ended, the title shows."""
    W, H = SIZES["16:9"]
    title = "Photograph every single receipt on the same day"
    out = SceneCompositor(rig, Background("gradient"), "full", W, H, "", label=False)

    def incoming(title):
        return lambda start, hold: SceneCompositor(rig, Background("gradient"), "beside", W, H, title, label=False,
                                                   bullets=("Paper", "E-mail"), start=start, hold=hold)

    shown, _, inc = _crossfade(rig, out, incoming(title))
    bare, _, _ = _crossfade(rig, out, incoming(""))          # the same crossfade into a card without a title
    t = inc.title_overlay
    ink = np.zeros((H, W), bool)
    h, w = t.alpha.shape
    ink[t.y:t.y + h, t.x:t.x + w] = t.alpha > 0.5
    hx0, hy0, hx1, hy1 = _head_box(rig, out)
    face = np.zeros((H, W), bool)
    face[max(hy0, 0):hy1, max(hx0, 0):hx1] = True
    where = ink & face
    assert where.sum() > 100                                  # the title does cross the old presenter's head
    for a, b in zip(shown, bare):
        assert np.array_equal(a[where], b[where])
    # After the crossfade the title fades in and stays.
    b = make_renderer("warp").bind(inc.rig)
    after = inc.compose(b.render_frame({}), index=100 + 15 + 25).astype(int)
    assert (after[ink & face].sum(-1) < 300).mean() > 0.9      # dark letters


def test_a_crossfade_brings_the_new_presenter_in_ahead_of_the_old_slide(rig):
    """Beside (a card full of bullets) into full (the presenter in the middle): the old bullets leave the new
    presenter's face in the first third of the crossfade instead of ghosting over it to the end."""
    W, H = SIZES["16:9"]
    out = SceneCompositor(rig, Background("gradient"), "beside", W, H, "Three steps", label=False,
                          bullets=("Keep every single receipt you get", "Submit within thirty days",
                                   "Use the Expenses app for all"))
    for k in range(3):
        out.reveal(k, 0)
    shown, head, inc = _crossfade(rig, out, lambda start, hold: SceneCompositor(
        rig, Background("gradient"), "full", W, H, "", label=False, start=start, hold=hold))
    import cv2

    p = inc.placement
    oval = rig.landmarks[list(lm.FACE_OVAL), :2] * p.scale + np.array([p.x, p.y])
    face = np.zeros((H, W), np.uint8)
    cv2.fillPoly(face, [np.round(oval).astype(np.int32)], 1)
    face = cv2.erode(face, np.ones((5, 5), np.uint8)).astype(bool)        # the face, inside its edge
    assert face.sum() > 500
    n = len(shown)
    # How far each shown face is from the new presenter's own (99th percentile of the pixels' differences).
    early = [np.percentile(np.abs(shown[i][face].astype(int) - head[i][face]).max(-1), 99) for i in range(n)]
    assert all(d <= 3 for d in early[n // 3 + 1:]), early
    assert early[0] > 20                                     # it is a blend, not a cut
    # Away from the presenter the picture crossfades as before: the old card is still half there mid-way.
    card = np.s_[int(0.3 * H):int(0.5 * H), int(0.05 * W):int(0.2 * W)]
    assert np.abs(shown[n // 2][card].astype(int) - head[n // 2][card]).mean() > 20


@pytest.mark.parametrize("aspect", list(SIZES))
def test_bands_keep_clear_of_the_presenters_face_and_neck_in_beside(rig, aspect):
    W, H = SIZES[aspect]
    comp = SceneCompositor(rig, Background("studio"), "beside", W, H, "Three steps", bullets=("One", "Two"),
                           lower_third=LowerThird("Anna Berg", "Finance trainer"), label=False)
    x0, y0, x1, y1 = _neck_box(rig, comp)
    bands = [o for o in comp.overlays.items if o.fade_out]     # the lower third (and any title band)
    assert bands
    for o in bands:
        h, w = o.alpha.shape
        bx0, by0, bx1, by1 = o.x, o.y, o.x + w, o.y + h + o.slide      # all it covers, sliding in included
        assert bx1 <= x0 or bx0 >= x1 or by1 <= y0 or by0 >= y1, (aspect, (bx0, by0, bx1, by1), (x0, y0, x1, y1))
        assert 0 <= by0 and by1 <= H


@pytest.mark.parametrize("hold", [0, 15])
def test_a_slide_card_is_never_shown_empty(rig, hold):
    """A card with bullets shows its title, or without one its first bullet, from its first frame on its own
    (the first frame of the scene, or the first after the crossfade into it), before any word names a bullet."""
    W, H = SIZES["16:9"]
    renderer = make_renderer("warp")
    for title in ("Three steps", ""):
        comp = SceneCompositor(rig, Background("studio"), "beside", W, H, title, bullets=("Keep every receipt",
                               "Submit within 30 days"), label=False, start=100, hold=hold)
        first = 100 + hold + (comp.fps // 3 if hold else 0)      # a held text has faded in by then
        frame = comp.compose(renderer.bind(comp.rig).render_frame({}), index=first).astype(int)
        panel = comp.layout.panel
        card = frame[panel.y + 4:panel.y1 - 4, panel.x + 4:panel.x1 - 4]
        ink = (card.sum(-1) < 300).mean()
        assert ink > 0.003, (title, hold, ink)              # dark letters on the white card
        if not title:
            b = comp._bullets[0]
            h, w = b.alpha.shape
            region = frame[b.y:b.y + h, b.x:b.x + w]
            assert (region[b.alpha > 0.5].sum(-1) < 300).mean() > 0.5     # the first bullet itself
            assert comp._bullets[1].level(first) == 0.0                    # the others wait for their words
