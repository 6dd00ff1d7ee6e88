"""Fonts for on-screen text: the bundled families, a brand font, per-character fallback.

The bundled fonts come from PyPI font packages (Noto Sans for Latin, Greek
and Cyrillic, Noto Sans Arabic, Heebo for Hebrew, Noto Sans Devanagari,
Noto Sans Thai, Noto Sans CJK), found with `importlib` so that no path to
site-packages is written anywhere. A `FontStack` is an ordered list of font
files, an optional user font first; each grapheme cluster is drawn with the
first font whose character map covers it, and spaces, punctuation and
digits stay with their neighbours' font so a line is not cut into needless
runs. Character maps are read once with fontTools; Pillow fonts (shaped by
raqm: HarfBuzz + FriBiDi) are cached per (file, size in pixels, weight).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont, TTLibError
from PIL import ImageFont, features

from ..errors import RenderError


class FontError(RenderError):
    """A font file or font package that cannot be found or read."""


@dataclass(frozen=True)
class BundledFont:
    """One bundled family: the pip package that ships it, its import name and the file inside."""

    family: str
    pip: str
    module: str
    file: str


# Order matters: the first font covering a character draws it. Noto Sans
# leads so Latin words inside Hebrew or Arabic text get the Latin design.
BUNDLED: tuple[BundledFont, ...] = (
    BundledFont("Noto Sans", "fontpkg-noto-sans", "fontpkg_noto_sans", "files/NotoSans[wdth,wght].ttf"),
    BundledFont("Noto Sans Arabic", "fontpkg-noto-sans-arabic", "fontpkg_noto_sans_arabic", "files/NotoSansArabic[wdth,wght].ttf"),
    BundledFont("Heebo", "fontpkg-heebo", "fontpkg_heebo", "files/Heebo[wght].ttf"),
    BundledFont("Noto Sans Devanagari", "fontpkg-noto-sans-devanagari", "fontpkg_noto_sans_devanagari",
                "files/NotoSansDevanagari[wdth,wght].ttf"),
    BundledFont("Noto Sans Thai", "fontpkg-noto-sans-thai", "fontpkg_noto_sans_thai", "files/NotoSansThai[wdth,wght].ttf"),
    BundledFont("Noto Sans CJK", "cvttf-notosanscjk-regular", "cvttf_NotoSansCJK_Regular", "NotoSansCJKtc-Regular.otf"),
)


def bundled_path(font: BundledFont) -> Path:
    """The file of a bundled family on disk; FontError naming the pip package when it is not installed."""
    if importlib.util.find_spec(font.module) is None:
        raise FontError(f"font package {font.pip!r} ({font.family}) is not installed: pip install {font.pip}")
    path = Path(str(importlib.resources.files(font.module).joinpath(font.file)))
    if not path.is_file():
        raise FontError(f"font package {font.pip!r} has no file {font.file!r}: reinstall it (pip install --force-reinstall {font.pip})")
    return path


@dataclass(frozen=True)
class FontInfo:
    """What fontTools reads once from a font file: covered code points and variation axes (tag, min, default, max)."""

    path: Path
    cmap: frozenset[int]
    axes: tuple[tuple[str, float, float, float], ...]

    @property
    def variable_weight(self) -> bool:
        return any(tag == "wght" for tag, *_ in self.axes)


@lru_cache(maxsize=64)
def font_info(path: Path) -> FontInfo:
    """Read a font's character map and axes (cached per path); FontError naming the file if it is not a font."""
    if not path.is_file():
        raise FontError(f"font file not found: {path}")
    try:
        tt = TTFont(str(path), lazy=True, fontNumber=0)
        cmap = tt.getBestCmap() or {}
        fvar = tt["fvar"].axes if "fvar" in tt else []
        axes = tuple((a.axisTag, float(a.minValue), float(a.defaultValue), float(a.maxValue)) for a in fvar)
    except (TTLibError, OSError, KeyError, AssertionError, ValueError) as e:
        raise FontError(f"cannot read font file {path}: {e}") from None
    if not cmap:
        raise FontError(f"font file {path} has no Unicode character map")
    return FontInfo(path, frozenset(cmap), axes)


# Characters that never decide a font on their own: they follow the run around them.
_NEUTRAL_CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf", "Po", "Ps", "Pe", "Pi", "Pf", "Pd", "Pc", "Nd", "Sm", "Sc", "Sk"}
# Invisible controls need no glyph of their own (shapers drop or use them).
_IGNORABLE = {0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, 0xFE0E, 0xFE0F}
_IGNORABLE |= set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))


def is_neutral(cluster: str) -> bool:
    """True for a cluster of spaces, punctuation, digits or common symbols only (it takes its neighbours' font)."""
    return all(unicodedata.category(c) in _NEUTRAL_CATEGORIES or unicodedata.category(c).startswith("M") for c in cluster)


class FontStack:
    """An ordered list of font files; each grapheme cluster goes to the first font that covers all of it.

    `paths` are tried in order. Fonts for drawing are Pillow FreeType fonts
    with raqm layout, made on first use and cached per (font index, size in
    pixels, weight); variable fonts get the weight on their `wght` axis, and
    fonts without one are emboldened when drawn (see `fake_bold`).
    """

    def __init__(self, paths: list[Path] | tuple[Path, ...]):
        if not paths:
            raise FontError("a font stack needs at least one font file")
        self.infos: tuple[FontInfo, ...] = tuple(font_info(Path(p)) for p in paths)
        self._fonts: dict[tuple[int, int, int], ImageFont.FreeTypeFont] = {}
        self._picks: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(i.path for i in self.infos)

    def covers(self, index: int, cluster: str) -> bool:
        """Whether font `index` has a glyph for every visible character of `cluster`."""
        cmap = self.infos[index].cmap
        return all(ord(c) in cmap or ord(c) in _IGNORABLE for c in cluster)

    def pick(self, cluster: str) -> int:
        """Index of the first font covering the whole cluster, else the first covering its base character, else 0 (tofu)."""
        got = self._picks.get(cluster)
        if got is None:
            got = self._picks[cluster] = self._pick(cluster)
        return got

    def _pick(self, cluster: str) -> int:
        for i in range(len(self.infos)):
            if self.covers(i, cluster):
                return i
        for i in range(len(self.infos)):
            if self.covers(i, cluster[0]):
                return i
        return 0

    def assign(self, clusters: list[str]) -> list[int]:
        """A font index for each grapheme cluster of a line.

        Clusters with letters pick their own font; neutral ones (spaces,
        punctuation, digits) take the font of the cluster before them if it
        covers them, else the one after, so `שלום, world` splits into two
        runs, not four.
        """
        own = [None if is_neutral(c) else self.pick(c) for c in clusters]
        out: list[int] = [0] * len(clusters)
        prev: int | None = None
        for k, c in enumerate(clusters):
            if own[k] is not None:
                out[k] = prev = own[k]
                continue
            nxt = next((own[j] for j in range(k + 1, len(clusters)) if own[j] is not None), None)
            for cand in (prev, nxt):
                if cand is not None and self.covers(cand, c):
                    out[k] = prev = cand
                    break
            else:
                out[k] = prev = self.pick(c)
        return out

    def missing(self, text: str) -> list[str]:
        """The characters of `text` (no controls or spaces) that no font in the stack covers."""
        seen = []
        for ch in text:
            if ch.isspace() or ord(ch) in _IGNORABLE or unicodedata.category(ch) == "Cc":
                continue
            if not any(ord(ch) in i.cmap for i in self.infos) and ch not in seen:
                seen.append(ch)
        return seen

    def font(self, index: int, size: int, weight: int) -> ImageFont.FreeTypeFont:
        """The Pillow font for `index` at `size` pixels and CSS `weight` (cached; raqm layout)."""
        key = (index, int(size), int(weight))
        f = self._fonts.get(key)
        if f is not None:
            return f
        with self._lock:
            f = self._fonts.get(key)
            if f is None:
                f = self._make(index, int(size), int(weight))
                self._fonts[key] = f
        return f

    def fake_bold(self, index: int, size: int, weight: int) -> int:
        """Pixels by which glyphs of a font with no weight axis are thickened for bold (0 for variable fonts and regular weight)."""
        if weight <= 450 or self.infos[index].variable_weight:
            return 0
        return max(1, round(size * 0.03 * (weight - 400) / 300))

    def _make(self, index: int, size: int, weight: int) -> ImageFont.FreeTypeFont:
        info = self.infos[index]
        try:
            f = ImageFont.truetype(str(info.path), size, layout_engine=ImageFont.Layout.RAQM)
        except OSError as e:
            raise FontError(f"cannot load font file {info.path}: {e}") from None
        if info.axes:
            # Design coordinates in the file's axis order; only the weight moves.
            values = [min(hi, max(lo, float(weight))) if tag == "wght" else default for tag, lo, default, hi in info.axes]
            f.set_variation_by_axes(values)
        return f


_stacks: dict[Path | None, FontStack] = {}
_stacks_lock = threading.Lock()


def font_stack(user_font: str | Path | None = None) -> FontStack:
    """The bundled families, with `user_font` (a TTF/OTF path) tried first; one shared stack per user font.

    A user font that does not exist or is not a font raises FontError
    naming it; so does a bundled font package that is not installed, and
    a Pillow without raqm layout (HarfBuzz shaping and FriBiDi).
    """
    key = Path(user_font).expanduser().resolve() if user_font else None
    with _stacks_lock:
        stack = _stacks.get(key)
        if stack is None:
            if not features.check("raqm"):
                raise FontError("Pillow's raqm text layout is unavailable: it needs the system FriBiDi library "
                                "(apt-get install libfribidi0) to shape Arabic, Hebrew, Devanagari and Thai")
            paths = [bundled_path(b) for b in BUNDLED]
            if key is not None:
                if not key.is_file():
                    raise FontError(f"font file not found: {user_font}")
                paths.insert(0, key)
            stack = _stacks[key] = FontStack(paths)
    return stack
