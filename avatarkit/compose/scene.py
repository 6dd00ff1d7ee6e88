"""The per-scene compositor: background, slide, presenter and overlays into final frames.

Layers, bottom to top: the background (static, or drifting), the slide panel
(a rendered page, a video, or a re-laid-out card), the presenter (matted,
or in a round bubble), then overlays (bullets, lower third, captions, logo
and the AI-generated label).

Everything that does not move is composited once into `base`. Per frame
only the renderer's changed box is blended and the overlays that cross it
restamped; the whole frame is repainted only when the overlays change (a
caption appears, a fade steps) or when a layer below the presenter moves
(camera drift, a video slide).

A scene entered by a crossfade holds its text (the card's title and
bullets, a title band, the lower third) for `hold` frames, until the
crossfade has ended, then fades it in: the new slide's words are never
blended over the previous presenter's face. A card is never shown empty:
without a title, its first bullet comes with the card. Bands (a lower
third, a title) keep clear of the presenter's face and neck where the
layout leaves room.
"""

from __future__ import annotations

from dataclasses import replace
from weakref import WeakKeyDictionary

import cv2
import numpy as np

from ..face.rig import FaceRig
from ..render.base import AvatarFrame
from ..script.model import Background, LowerThird
from .background import make_background
from .brand import Brand
from .elements import Look, band, caption, caption_pages, logo, slide_card
from .layout import FrameLayout, Rect, frame_layout, place
from .overlay import NEVER, Overlay, OverlayStack
from .text import AI_LABEL, label_patch

LOWER_THIRD_S = (0.4, 5.5)      # shown from..until this many seconds into the scene
TITLE_S = 4.0


def decontaminate(image: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """Replace the photo's old background showing through the matte's soft edge.

    Edge pixels (matte below ~0.95) mix the person with the original
    backdrop, which shows as a light halo on a new background. They are
    pulled towards the local colour of the person (a normalised blur of the
    pixels well inside the matte), more so the more transparent they are.
    """
    k = max(5, int(round(min(image.shape[:2]) * 0.02)) | 1)
    inner = (matte > 0.97).astype(np.float32)
    img = image.astype(np.float32)
    num = cv2.blur(img * inner[..., None], (k, k))
    den = cv2.blur(inner, (k, k))[..., None]
    local = np.where(den > 1e-3, num / np.maximum(den, 1e-3), img)
    w = np.clip((matte - 0.55) / 0.4, 0.0, 1.0)[..., None]
    w = w * w * (3 - 2 * w)
    return np.clip(img * w + local * (1 - w) + 0.5, 0, 255).astype(np.uint8)


_PRESENTERS: "WeakKeyDictionary[FaceRig, dict[tuple[float, bool], FaceRig]]" = WeakKeyDictionary()


def presenter_rig(rig: FaceRig, scale: float, *, decontaminated: bool) -> FaceRig:
    """`rig` at its on-screen `scale`, its edge `decontaminate`d for a new background; made once per rig and size.

    Scenes of one video mostly share a layout, so the resampled and cleaned
    photo is kept while `rig` lives. The cleaning runs at the smaller of
    the two sizes (a photo is mostly enlarged to fill a frame), which makes
    it four to nine times cheaper and changes nothing visible.
    """
    made = _PRESENTERS.setdefault(rig, {})
    key = (float(scale), decontaminated)
    if key not in made:
        if not decontaminated:
            made[key] = rig.scaled(scale)
        elif scale > 1.0:
            made[key] = presenter_rig(rig, 1.0, decontaminated=True).scaled(scale)
        else:
            out = rig.scaled(scale)
            made[key] = replace(out, image=decontaminate(out.image, out.matte))
    return made[key]


def _face_box(rig: FaceRig, placement) -> tuple[float, float, float, float] | None:
    """The presenter's face and neck in frame pixels (x0, y0, x1, y1): the face oval, down to half a face
    height below the chin."""
    from ..face import landmarks as lm

    if rig.landmarks is None or len(rig.landmarks) <= max(lm.FACE_OVAL):
        return None
    L = rig.landmarks[:, :2] * placement.scale + np.array([placement.x, placement.y])
    oval = L[list(lm.FACE_OVAL)]
    top, chin = float(oval[:, 1].min()), float(L[lm.CHIN, 1])
    return float(oval[:, 0].min()), top, float(oval[:, 0].max()), chin + 0.5 * (chin - top)


def _shadowed(rgb: np.ndarray, u: int) -> tuple[np.ndarray, int]:
    """A page image with a soft drop shadow around it, as RGBA, and the shadow's margin in pixels."""
    h, w = rgb.shape[:2]
    s = max(2, int(0.012 * u))
    out = np.zeros((h + 2 * s, w + 2 * s, 4), np.uint8)
    a = np.zeros(out.shape[:2], np.float32)
    a[s + s // 3:s + s // 3 + h, s:s + w] = 0.45
    out[..., 3] = np.clip(cv2.GaussianBlur(a, (0, 0), s / 2) * 255, 0, 255).astype(np.uint8)
    out[s:s + h, s:s + w, :3] = rgb
    out[s:s + h, s:s + w, 3] = 255
    return out, s


class SceneCompositor:
    """Composites a bound avatar, a scene's slide and overlays for one layout and frame size.

    `slide` is an RGB page image, an object with `frame(i)` returning RGB
    frames (a video slide), or None; with `title` or `bullets` the slide is
    re-laid out as a card and `slide` becomes its picture. `start` is the
    scene's first frame on the video's clock; overlay times are frames on
    that clock.
    """

    def __init__(self, rig: FaceRig, background: Background, layout: str, width: int, height: int,
                 title: str = "", *, brand: Brand | None = None, slide=None, bullets: tuple[str, ...] = (),
                 lower_third: LowerThird | None = None, start: int = 0, fps: int = 25, language: str = "en",
                 label: bool = True, hold: int = 0):
        self.width, self.height, self.fps, self.start = width, height, fps, start
        self.hold = max(int(hold), 0)
        self.text_from = start + self.hold          # the first frame text may show (after a crossfade)
        self.brand = brand or Brand()
        self.look = Look(self.brand, min(width, height), language)
        lg = logo(self.look, width, height)
        top = lg.box[3] + int(0.02 * self.look.u) if lg is not None and lg.y < height / 2 else 0
        fl: FrameLayout = frame_layout(layout, width, height, top)
        self.layout = fl
        self.photo_bg = background.kind == "photo" and layout == "full"
        self.placement = place(rig, fl, self.photo_bg)
        self.face_box = _face_box(rig, self.placement)
        self.video = slide if slide is not None and hasattr(slide, "frame") else None
        page = slide if isinstance(slide, np.ndarray) else None
        bg_kind = background if not (self.photo_bg or background.kind == "photo") else Background("studio")
        blur_src = page if page is not None else (self.video.frame(0) if self.video is not None else None)
        self.drift = None
        if bg_kind.drift:
            from .background import BackgroundDrift, make_drift_background

            self.drift = BackgroundDrift(make_drift_background(bg_kind, width, height, slide=blur_src),
                                         width, height, fps)
            bg = self.drift.frame(0, np.empty((height, width, 3), np.uint8))
        else:
            bg = make_background(bg_kind, width, height, slide=blur_src) if bg_kind.kind == "blur" \
                else make_background(bg_kind, width, height)
        self.panel_rgba: tuple[np.ndarray, int, int] | None = None   # static panel layer (RGBA, x, y)
        self.video_rect: Rect | None = None
        self.overlays = OverlayStack()
        self._bullets: list[Overlay] = []
        self.title_overlay: Overlay | None = None     # a slide card's title (an overlay, so it can wait)
        if fl.panel is not None:
            self._make_panel(fl.panel, page, title, bullets)
        self.bg = bg
        self.layers: list[tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int, int, int]]] = []
        if self.panel_rgba is not None:
            self._add_layer(*self.panel_rgba)
        self.clip = None
        if fl.bubble is not None:
            self._make_bubble(fl.bubble)
        self.under = self._under(bg)
        self.rig = presenter_rig(rig, self.placement.scale, decontaminated=not self.photo_bg)
        self.base = self._with_avatar(self.under)
        self._add_overlays(fl, title, lower_third, lg, label)
        self._state = None
        self.i = start

    # -- static layers -------------------------------------------------------
    def _make_panel(self, panel: Rect, page: np.ndarray | None, title: str, bullets: tuple[str, ...]) -> None:
        u = self.look.u
        if title or bullets or (page is None and self.video is None):
            card = slide_card(self.look, panel, title or "", bullets, page)
            self.panel_rgba = (card.rgba, panel.x, panel.y)
            fade = max(1, self.fps // 3)
            if card.title is not None:
                rgba, x, y = card.title
                held = self.hold > 0
                self.title_overlay = self.overlays.add(Overlay.from_rgba(
                    rgba, panel.x + x, panel.y + y, start=self.text_from, fade_in=fade if held else 0,
                    slide=int(0.012 * u) if held else 0))
            for rgba, x, y in card.bullets:
                self._bullets.append(self.overlays.add(Overlay.from_rgba(
                    rgba, panel.x + x, panel.y + y, start=NEVER, fade_in=fade, slide=int(0.012 * u))))
            if card.title is None and self._bullets:
                # No title: the first bullet comes with the card, which is never shown empty.
                first = self._bullets[0]
                first.start = self.text_from
                if not self.hold:
                    first.fade_in, first.slide = 0, 0
            return
        if page is not None:
            fit = panel.fit(page.shape[1] / page.shape[0])
            img = cv2.resize(page, (fit.w, fit.h), interpolation=cv2.INTER_AREA if fit.w < page.shape[1]
                             else cv2.INTER_CUBIC)
            rgba, s = _shadowed(img, u)
            self.panel_rgba = (rgba, fit.x - s, fit.y - s)
            return
        first = self.video.frame(0)
        self.video_rect = panel.fit(first.shape[1] / first.shape[0])

    def _add_layer(self, rgba: np.ndarray, x: int, y: int) -> None:
        """A static layer over the background (slide panel, bubble), kept as RGB and alpha clipped to the frame."""
        h, w = rgba.shape[:2]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, self.width), min(y + h, self.height)
        if x1 <= x0 or y1 <= y0:
            return
        sub = rgba[y0 - y:y1 - y, x0 - x:x1 - x]
        a = np.ascontiguousarray(sub[..., 3], np.float32) / 255.0
        self.layers.append((np.ascontiguousarray(sub[..., :3]), a, np.ascontiguousarray(1.0 - a), (x0, y0, x1, y1)))

    def _under(self, bg: np.ndarray) -> np.ndarray:
        """The background with the static layers blended over it (everything below the presenter)."""
        under = bg.copy()
        for rgb, a, na, (x0, y0, x1, y1) in self.layers:
            under[y0:y1, x0:x1] = cv2.blendLinear(rgb, under[y0:y1, x0:x1], a, na)
        return under

    def _make_bubble(self, bubble: tuple[float, float, float]) -> None:
        cx, cy, r = bubble
        H, W = self.height, self.width
        ring_w = max(2.0, 0.004 * self.look.u)
        x0, y0 = max(int(cx - r - 3 * ring_w), 0), max(int(cy - r - 3 * ring_w), 0)
        x1, y1 = min(int(cx + r + 3 * ring_w) + 1, W), min(int(cy + r + 3 * ring_w) + 1, H)
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dist = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        clip = np.clip((r - dist) / 1.5 + 0.5, 0, 1).astype(np.float32)
        self.clip = np.zeros((H, W), np.float32)
        self.clip[y0:y1, x0:x1] = clip
        ring = np.clip(1.0 - np.abs(dist - r - ring_w) / ring_w, 0, 1)
        inner = make_background(Background("studio", ("#d9dde3", "#ffffff")), W, H)[y0:y1, x0:x1].astype(np.float32)
        a = np.maximum(clip, ring)
        rgb = (inner * clip[..., None] + 255.0 * ring[..., None]) / np.maximum(a, 1e-6)[..., None]
        rgba = np.dstack([np.clip(rgb + 0.5, 0, 255), np.clip(a * 255 + 0.5, 0, 255)]).astype(np.uint8)
        self._add_layer(rgba, x0, y0)

    def _with_avatar(self, under: np.ndarray) -> np.ndarray:
        base = under.copy()
        ih, iw = self.rig.image.shape[:2]
        matte = np.ones((ih, iw), np.float32) if self.photo_bg else self.rig.matte
        self._blend_into(base, under, (0, 0, iw, ih), self.rig.image, matte)
        return base

    def _add_overlays(self, fl: FrameLayout, title: str, lower_third: LowerThird | None, lg: Overlay | None,
                      label: bool) -> None:
        fps, s0 = self.fps, self.text_from
        gap = int(0.015 * self.look.u)
        # Bands end above the captions when they sit above them (and beside them: in `beside` the captions
        # are under the slide, the band on the presenter's side), else above the frame's bottom margin.
        c = fl.captions
        over_captions = fl.band.y < c.y and fl.band.x < c.x1 and c.x < fl.band.x1
        bottom = c.y - gap if over_captions else self.height - 2 * gap
        if fl.panel is None and title:
            self.overlays.add(self._clear_of_face(band(self.look, title, "", fl.band, s0, s0 + int(TITLE_S * fps),
                                                       fps, big=True, bottom=bottom), bottom, gap))
            s0 += int(TITLE_S * fps)
        if lower_third is not None:
            a, b = LOWER_THIRD_S
            self.overlays.add(self._clear_of_face(band(self.look, lower_third.name, lower_third.role, fl.band,
                                                       s0 + int(a * fps), s0 + int(b * fps), fps, bottom=bottom),
                                                  bottom, gap))
        if lg is not None:
            self.overlays.add(lg)
        if label:
            lh = max(14, int(self.height * 0.035)) if self.height <= self.width else max(14, int(self.width * 0.035))
            rgb, alpha = label_patch(AI_LABEL, lh)
            h, w = alpha.shape
            right = lg is None or lg.x < self.width / 2
            x = self.width - w - lh // 2 if right else lh // 2
            self.overlays.add(Overlay(rgb, alpha, x, lh // 2))

    def _clear_of_face(self, ov: Overlay, bottom: int, gap: int) -> Overlay:
        """`ov` (a band) moved below the presenter's face and neck when it would cover them and there is room
        above `bottom`; else left where the layout put it."""
        if self.face_box is None:
            return ov
        fx0, fy0, fx1, fy1 = self.face_box
        h, w = ov.alpha.shape
        if ov.x >= fx1 or ov.x + w <= fx0 or ov.y >= fy1 or ov.y + h + ov.slide <= fy0:
            return ov
        below = int(np.ceil(fy1)) + gap
        if below + h + ov.slide <= bottom:
            ov.y = below
        return ov

    # -- timed overlays ------------------------------------------------------
    @property
    def bullets(self) -> int:
        """How many bullets the slide card has (each revealed by `reveal`)."""
        return len(self._bullets)

    def reveal(self, k: int, frame: int) -> None:
        """Show bullet `k` from `frame` on (the video's clock); a bullet already shown keeps its time."""
        if k < len(self._bullets):      # a bullet that did not fit on the card has nothing to show
            self._bullets[k].start = min(self._bullets[k].start, max(frame, self.text_from))

    def add_caption(self, text: str, start: int, end: int) -> None:
        """Burn in a caption over frames [start, end) of the video's clock.

        Text longer than two lines is shown as pages in turn, each for a
        share of the time in proportion to its length.
        """
        self.overlays.drop_before(start)
        pages = caption_pages(self.look, text, self.layout.captions)
        weights = np.cumsum([max(len(p), 1) for p in pages], dtype=np.float64)
        cuts = [start] + [start + int(round((end - start) * w / weights[-1])) for w in weights]
        for page, a, b in zip(pages, cuts[:-1], cuts[1:]):
            if b > a:
                self.overlays.add(caption(self.look, page, self.layout.captions, a, b))

    # -- per frame -----------------------------------------------------------
    def _blend_into(self, frame: np.ndarray, under: np.ndarray, box, rgb: np.ndarray, matte: np.ndarray) -> None:
        p = self.placement
        x0, y0 = box[0] + p.x, box[1] + p.y
        h, w = rgb.shape[:2]
        fx0, fy0 = max(x0, 0), max(y0, 0)
        fx1, fy1 = min(x0 + w, self.width), min(y0 + h, self.height)
        if fx1 <= fx0 or fy1 <= fy0:
            return
        sub_rgb = rgb[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        a = matte[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        if self.clip is not None:
            a = a * self.clip[fy0:fy1, fx0:fx1]
        frame[fy0:fy1, fx0:fx1] = cv2.blendLinear(sub_rgb, under[fy0:fy1, fx0:fx1], np.ascontiguousarray(a, np.float32),
                                                  np.ascontiguousarray(1.0 - a, np.float32))

    def _moving_under(self, i: int) -> np.ndarray:
        if self.drift is not None:
            under = self._under(self.drift.frame(i - self.start, np.empty_like(self.bg)))
        else:
            under = self.under.copy()
        if self.video is not None:
            r = self.video_rect
            img = self.video.frame(i - self.start)
            under[r.y:r.y1, r.x:r.x1] = cv2.resize(img, (r.w, r.h), interpolation=cv2.INTER_AREA)
        return under

    def compose(self, avatar: AvatarFrame, out: np.ndarray | None = None, *, fresh: bool = True,
                index: int | None = None) -> np.ndarray:
        """The final RGB frame (height, width, 3) for one avatar frame at frame `index` of the video.

        With `out` and `fresh=False` only what changed is redrawn: valid when
        `out` holds this compositor's previous frame. `index` defaults to
        one more than the previous call's.
        """
        i = self.i if index is None else index
        self.i = i + 1
        frame = np.empty_like(self.base) if out is None else out
        state = self.overlays.state(i)
        matte = np.ones_like(avatar.matte) if self.photo_bg else avatar.matte
        if self.drift is not None or self.video is not None:
            under = self._moving_under(i)
            np.copyto(frame, self._with_avatar(under))
            self._blend_into(frame, under, avatar.box, avatar.rgb, matte)
            self.overlays.stamp(frame, i)
        elif out is None or fresh or state != self._state:
            np.copyto(frame, self.base)
            self._blend_into(frame, self.under, avatar.box, avatar.rgb, matte)
            self.overlays.stamp(frame, i)
        else:
            self._blend_into(frame, self.under, avatar.box, avatar.rgb, matte)
            p = self.placement
            bx0, by0, bx1, by1 = avatar.box
            self.overlays.stamp(frame, i, clip=(bx0 + p.x, by0 + p.y, bx1 + p.x, by1 + p.y))
        self._state = state
        return frame

    def close(self) -> None:
        """Release the video slide's decoder, if any."""
        if self.video is not None:
            self.video.close()

    def presenter_alpha(self) -> np.ndarray:
        """Where the presenter (at rest) covers the frame: (height, width) uint8, 255 opaque.

        A crossfade into this scene brings the presenter in ahead of the rest of the picture, so the
        previous scene's text never lies over their face for long (`TransitionRun`'s `front`).
        """
        alpha = np.zeros((self.height, self.width), np.float32)
        ih, iw = self.rig.image.shape[:2]
        p = self.placement
        x0, y0, x1, y1 = max(p.x, 0), max(p.y, 0), min(p.x + iw, self.width), min(p.y + ih, self.height)
        if x1 > x0 and y1 > y0:
            alpha[y0:y1, x0:x1] = 1.0 if self.photo_bg else self.rig.matte[y0 - p.y:y1 - p.y, x0 - p.x:x1 - p.x]
        if self.clip is not None:
            alpha *= self.clip
        # A matte is a little short of 1 inside the person (soft hair, edges): that counts as in front.
        return np.clip(alpha / 0.9 * 255 + 0.5, 0, 255).astype(np.uint8)

    def still(self, index: int) -> np.ndarray:
        """The frame at `index` with the presenter at rest (covers, thumbnails, transitions)."""
        under = self._moving_under(index) if (self.drift is not None or self.video is not None) else self.under
        frame = self._with_avatar(under)
        self.overlays.stamp(frame, index)
        return frame
