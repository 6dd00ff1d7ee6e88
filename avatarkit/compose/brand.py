"""Brand kits (`brand.yaml`): a company's colours, fonts, logo, intro and outro cards and music.

A brand kit is applied over a script at render time (`avatarkit render
--brand brand.yaml`, or `brand:` in the script), so one course can be
rendered for several customers. Every field is optional; `Brand()` is the
neutral look. Errors name the brand file, the line and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..script.markup import parse_duration_ms
from ..script.model import AUDIO_FILES, BACKGROUND_KINDS, TRANSITIONS, Background, Transition
from ..script.scope import FileScope, short_repr
from ..script.yamlmap import Ctx, Map, load_yaml, read_text

LOGO_POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right")
CAPTION_STYLES = ("box", "outline")
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_IMAGES = (".png", ".jpg", ".jpeg", ".webp")
_FONTS = (".ttf", ".otf", ".ttc")


@dataclass(frozen=True)
class Colors:
    """`primary`: bands, bullet marks and title bars; `accent`: highlights; `text`/`light`: text on light/dark."""

    primary: str = "#1f5fae"
    accent: str = "#f2a900"
    text: str = "#17202b"
    light: str = "#ffffff"
    panel: str = "#ffffff"          # the card a re-laid-out slide is drawn on
    background: tuple[str, ...] = ("#0f2742", "#1f5fae")   # colours of generated backgrounds


@dataclass(frozen=True)
class Logo:
    """A logo image placed in a corner: `size` is its width as a fraction of the frame width, `margin` of the height."""

    file: Path
    position: str = "top-left"
    size: float = 0.12
    margin: float = 0.035
    opacity: float = 1.0


@dataclass(frozen=True)
class Card:
    """An intro or outro card: title and subtitle over the brand background, shown for `ms` milliseconds."""

    title: str = ""
    subtitle: str = ""
    ms: int = 3000


@dataclass(frozen=True)
class Music:
    """Background music: its level under no speech (`volume_db`, relative to speech) and the extra `duck_db` under speech."""

    file: Path
    volume_db: float = -20.0
    duck_db: float = -12.0


@dataclass(frozen=True)
class Brand:
    """A brand kit; `Brand()` is the neutral default look."""

    name: str = ""
    colors: Colors = field(default_factory=Colors)
    heading_font: Path | None = None     # font files; None: the bundled Noto families
    body_font: Path | None = None
    logo: Logo | None = None
    intro: Card | None = None
    outro: Card | None = None
    music: Music | None = None
    background: Background | None = None     # replaces the script's default background kind
    transition: Transition | None = None     # replaces the script's default transition
    caption_style: str = "box"
    source: Path | None = None


def load_brand(path: str | Path, *, scope: FileScope | None = None) -> Brand:
    """Read and validate a brand kit file; raise `ScriptError` naming file, line and field. Its files
    (fonts, logo, music) resolve under `scope` (default: the current one, see `script.scope.using`)."""
    path = Path(path)
    ctx = Ctx(path, scope)
    data = load_yaml(read_text(path, "brand kit"), ctx, "a brand kit")
    base = path.parent
    ctx.check_keys(data, {"name", "colors", "fonts", "logo", "intro", "outro", "music", "background",
                          "transition", "captions"}, "")
    return Brand(
        name=ctx.get(data, "name", str, "", default=""),
        colors=_colors(ctx, data),
        heading_font=_fonts(ctx, data, base, "heading"),
        body_font=_fonts(ctx, data, base, "body"),
        logo=_logo(ctx, data, base),
        intro=_card(ctx, data, "intro"),
        outro=_card(ctx, data, "outro"),
        music=_music(ctx, data, base),
        background=_background(ctx, data),
        transition=_transition(ctx, data),
        caption_style=_captions(ctx, data),
        source=path,
    )


def _path(ctx: Ctx, m: Map, key: str, field: str, base: Path, exts: tuple[str, ...], what: str) -> Path:
    return ctx.path(m, key, field, base, exts, what, required=True)


def _color(ctx: Ctx, m: Map, key: str, field: str, default: str) -> str:
    v = ctx.get(m, key, str, field, default=default)
    if not _HEX.match(v):
        raise ctx.err(f"{short_repr(v)} is not a colour like '#1f5fae'", m.lines.get(key), f"{field}.{key}")
    return v.lower()


def _colors(ctx: Ctx, data: Map) -> Colors:
    m = ctx.get(data, "colors", dict, "")
    if m is None:
        return Colors()
    f = "colors"
    ctx.check_keys(m, {"primary", "accent", "text", "light", "panel", "background"}, f)
    d = Colors()
    bg = ctx.get(m, "background", (str, list), f, default=list(d.background))
    bg = [bg] if isinstance(bg, str) else bg
    if not 1 <= len(bg) <= 3 or not all(isinstance(c, str) and _HEX.match(c) for c in bg):
        raise ctx.err(f"background colours are 1-3 colours like '#0f2742', got {short_repr(bg)}", m.lines["background"],
                      f"{f}.background")
    return Colors(*(_color(ctx, m, k, f, getattr(d, k)) for k in ("primary", "accent", "text", "light", "panel")),
                  background=tuple(c.lower() for c in bg))


def _fonts(ctx: Ctx, data: Map, base: Path, key: str) -> Path | None:
    m = ctx.get(data, "fonts", dict, "")
    if m is None:
        return None
    ctx.check_keys(m, {"heading", "body"}, "fonts")
    if key not in m:
        return None
    return _path(ctx, m, key, "fonts", base, _FONTS, "a font file")


def _fraction(ctx: Ctx, m: Map, key: str, field: str, default: float, lo: float, hi: float) -> float:
    v = ctx.get(m, key, (int, float), field, default=default)
    if not lo <= v <= hi:
        raise ctx.err(f"{key} {v} must be between {lo} and {hi}", m.lines[key], f"{field}.{key}")
    return float(v)


def _file_entry(ctx: Ctx, data: Map, key: str, keys: set[str], base: Path, exts: tuple[str, ...],
                what: str) -> tuple[Path, Map | None] | None:
    """A field given as a file path, or as a mapping with `file` and other `keys`: (path, the mapping or None)."""
    raw = ctx.get(data, key, (str, dict), "")
    if raw is None:
        return None
    if isinstance(raw, str):
        return _path(ctx, data, key, "", base, exts, what), None
    ctx.check_keys(raw, keys | {"file"}, key)
    return _path(ctx, raw, "file", key, base, exts, what), raw


def _logo(ctx: Ctx, data: Map, base: Path) -> Logo | None:
    entry = _file_entry(ctx, data, "logo", {"position", "size", "margin", "opacity"}, base, _IMAGES, "a logo image")
    if entry is None or entry[1] is None:
        return entry and Logo(entry[0])
    path, raw = entry
    f = "logo"
    pos = ctx.get(raw, "position", str, f, default="top-left")
    if pos not in LOGO_POSITIONS:
        raise ctx.err(f"unknown position {short_repr(pos)}; expected one of {', '.join(LOGO_POSITIONS)}",
                      raw.lines["position"], f"{f}.position")
    return Logo(path, pos, _fraction(ctx, raw, "size", f, 0.12, 0.02, 0.5),
                _fraction(ctx, raw, "margin", f, 0.035, 0.0, 0.2), _fraction(ctx, raw, "opacity", f, 1.0, 0.0, 1.0))


def _ms(ctx: Ctx, m: Map, key: str, field: str, default_ms: int, lo: int, hi: int) -> int:
    if key not in m:
        return default_ms
    try:
        ms = parse_duration_ms(m[key], what=key)
    except ValueError as e:
        raise ctx.err(str(e), m.lines[key], f"{field}.{key}") from None
    if not lo <= ms <= hi:
        raise ctx.err(f"{key} must be between {lo / 1000:g}s and {hi / 1000:g}s", m.lines[key], f"{field}.{key}")
    return ms


def _card(ctx: Ctx, data: Map, key: str) -> Card | None:
    raw = ctx.get(data, key, dict, "")
    if raw is None:
        return None
    ctx.check_keys(raw, {"title", "subtitle", "duration"}, key)
    return Card(ctx.get(raw, "title", str, key, default=""), ctx.get(raw, "subtitle", str, key, default=""),
                _ms(ctx, raw, "duration", key, 3000, 500, 20_000))


def _music(ctx: Ctx, data: Map, base: Path) -> Music | None:
    entry = _file_entry(ctx, data, "music", {"volume", "ducking"}, base, AUDIO_FILES, "an audio file")
    if entry is None or entry[1] is None:
        return entry and Music(entry[0])
    path, raw = entry
    return Music(path, _fraction(ctx, raw, "volume", "music", -20.0, -60.0, 0.0),
                 _fraction(ctx, raw, "ducking", "music", -12.0, -60.0, 0.0))


def _background(ctx: Ctx, data: Map) -> Background | None:
    raw = ctx.get(data, "background", (str, dict), "")
    if raw is None:
        return None
    f = "background"
    if isinstance(raw, str):
        kind, drift = raw, False
    else:
        ctx.check_keys(raw, {"kind", "drift"}, f)
        kind = ctx.get(raw, "kind", str, f, required=True)
        drift = ctx.get(raw, "drift", bool, f, default=False)
    if kind not in BACKGROUND_KINDS or kind in ("photo", "blur"):
        kinds = [k for k in BACKGROUND_KINDS if k not in ("photo", "blur")]
        raise ctx.err(f"unknown brand background {short_repr(kind)}; expected one of {', '.join(kinds)} "
                      "(drawn in the brand's background colours)", data.lines["background"], f)
    return Background(kind, (), drift)


def _transition(ctx: Ctx, data: Map) -> Transition | None:
    raw = ctx.get(data, "transition", str, "")
    if raw is None:
        return None
    if raw not in TRANSITIONS:
        raise ctx.err(f"unknown transition {short_repr(raw)}; expected one of {', '.join(TRANSITIONS)}",
                      data.lines["transition"], "transition")
    return Transition(raw)


def _captions(ctx: Ctx, data: Map) -> str:
    v = ctx.get(data, "captions", str, "", default="box")
    if v not in CAPTION_STYLES:
        raise ctx.err(f"unknown caption style {short_repr(v)}; expected one of {', '.join(CAPTION_STYLES)}",
                      data.lines["captions"], "captions")
    return v
