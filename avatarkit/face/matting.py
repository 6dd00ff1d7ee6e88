"""Person mattes that follow the photo: edge refinement, hole filling, temporal stability.

A segmentation network's mask (MediaPipe selfie segmentation, 256 pixels
across) is blocky at the edge, misses dark patches (a black jacket, hair) and
flickers from frame to frame. `refine_matte` cleans it on a small working
copy (short side `work_side` pixels): the person's main component is kept,
background regions it encloses are filled and small specks dropped. A
colour guided filter (He et al., 2010; computed at the working size and
applied at full size, "fast guided filter") then moves the soft edge onto the
photo's own boundary, and the result is clamped to a narrow band (`band`, a
fraction of the short side) around the cleaned outline, so nothing far
inside becomes transparent and nothing far outside becomes a halo.
`MatteSequence` does the same for the frames of a video loop, averaging each
pixel's mask over neighbouring frames where the image did not change there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import FaceError
from .detect import segmentation_mask


class MatteError(FaceError):
    """An image or mask that cannot be matted (wrong shape, type or size)."""


@dataclass(frozen=True)
class MatteSettings:
    """How a raw mask is refined; lengths are fractions of the image's short side.

    `work_side` is the short side of the working copy in pixels; `radius` the
    guided filter's window radius and `band` the half width of the soft edge
    band; `eps` the guided filter's regularisation in squared intensity (0..1
    scale): colour edges weaker than about sqrt(eps) do not steer the edge.
    `gain` steepens the filtered matte around 0.5 to keep the edge narrow.
    The filter runs `passes` times, the earlier ones steepened by `snap` so
    that each moves the edge further onto the photo's boundary. Foreground
    components smaller than `speck` times the person's area are dropped.
    Before that, mask pixels within `trim` of the outline whose colour is
    the backdrop's (person probability below `keep`, from colour histograms
    sampled within `ring` of the outline) are cut away; `trim` 0 turns it off.
    """

    work_side: int = 256
    radius: float = 0.025
    band: float = 0.015
    eps: float = 1e-3
    gain: float = 1.6
    speck: float = 0.02
    passes: int = 2
    snap: float = 5.0
    trim: float = 0.04
    ring: float = 0.1
    keep: float = 0.15


DEFAULT = MatteSettings()


@dataclass(frozen=True)
class _Low:
    """Everything the full-size matte needs, at the working size.

    `ab` (h, w, 4) holds the guided filter's local linear model with the
    gain folded in (matte = ab[:3] . rgb + ab[3], rgb in 0..255); `inner` is 1
    where the matte is forced opaque and `band` (bool) where the model
    decides, everything else being transparent.
    """

    ab: np.ndarray
    inner: np.ndarray
    band: np.ndarray


def _check(image: np.ndarray, raw: np.ndarray | None = None) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        raise MatteError(f"matte: image must be RGB uint8 (H, W, 3), got {shape} {getattr(image, 'dtype', type(image))}")
    if min(image.shape[:2]) < 16:
        raise MatteError(f"matte: image {image.shape[1]}x{image.shape[0]} is too small (at least 16 pixels a side)")
    if raw is not None:
        if not isinstance(raw, np.ndarray) or raw.shape != image.shape[:2]:
            raise MatteError(f"matte: raw mask shape {getattr(raw, 'shape', None)} does not match image {image.shape[:2]}")


def _as_float(raw: np.ndarray) -> np.ndarray:
    """A mask as float32 0..1 (uint8 masks are 0..255)."""
    if raw.dtype == np.uint8:
        return raw.astype(np.float32) * (1.0 / 255.0)
    return np.clip(np.nan_to_num(raw.astype(np.float32, copy=False)), 0.0, 1.0)


def work_size(shape: tuple[int, ...], settings: MatteSettings = DEFAULT) -> tuple[int, int]:
    """(width, height) in pixels of the working copy of an image of `shape` (never larger than it)."""
    h, w = shape[:2]
    s = min(1.0, settings.work_side / min(h, w))
    return max(1, int(round(w * s))), max(1, int(round(h * s)))


def _shrink(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if img.shape[1::-1] == size:
        return img
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def clean_mask(fg: np.ndarray, speck: float = DEFAULT.speck) -> np.ndarray:
    """Keep the person in a binary mask: fill enclosed holes, drop small specks.

    `fg` is bool or 0/1 (H, W). Background components that do not touch the
    image border are holes in the person and become foreground; foreground
    components smaller than `speck` times the largest one are dropped (a
    second person-sized part, such as a hand apart from the body, stays).
    Returns a new bool array.
    """
    out = np.array(fg, dtype=bool, copy=True)
    u8 = out.view(np.uint8)
    n, labels = cv2.connectedComponents(u8, connectivity=8)
    if n > 2:
        # Several parts: only now pay for their areas and boxes, and clear each speck inside its own box.
        n, labels, stats, _ = cv2.connectedComponentsWithStats(u8, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        for i in np.nonzero(areas < speck * areas.max())[0] + 1:
            x, y, w, h = stats[i, :4]
            box = out[y:y + h, x:x + w]
            box[labels[y:y + h, x:x + w] == i] = False
    # Flood the background from a frame around the image, 4-connected so that a diagonal chain of
    # person pixels still closes a hole: whatever the flood cannot reach is enclosed.
    pad = cv2.copyMakeBorder(u8, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    cv2.floodFill(pad, None, (0, 0), 2, flags=4)
    out |= pad[1:-1, 1:-1] == 0
    return out


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


_MEAN3 = np.full((1, 3), 1.0 / 3.0, np.float32)
_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


class _Guided:
    """A colour guided filter over one guide image, for several inputs (He et al., 2010).

    `guide` is (h, w, 3) float32 in 0..1, `r` the window radius in pixels
    and `eps` the regularisation. The guide's window statistics and their
    inverse covariance are computed once; each `coefficients(p)` then costs
    five box filters.
    """

    def __init__(self, guide: np.ndarray, r: int, eps: float):
        self.r = r
        # Planar float32 throughout: interleaved channel views make numpy's arithmetic ten times slower.
        self.c = cv2.split(guide)
        self.mi = [_box(ch, r) for ch in self.c]
        s00, s01, s02, s11, s12, s22 = (_box(self.c[i] * self.c[j], r) - self.mi[i] * self.mi[j] for i, j in _PAIRS)
        s00 += eps
        s11 += eps
        s22 += eps
        # Closed-form inverse via cofactors: numpy's batched inv is several times slower here.
        c00 = s11 * s22 - s12 * s12
        c01 = s02 * s12 - s01 * s22
        c02 = s01 * s12 - s02 * s11
        c11 = s00 * s22 - s02 * s02
        c12 = s01 * s02 - s00 * s12
        c22 = s00 * s11 - s01 * s01
        inv_det = 1.0 / np.maximum(s00 * c00 + s01 * c01 + s02 * c02, 1e-12)
        self.inv = [x * inv_det for x in (c00, c01, c02, c11, c12, c22)]

    def coefficients(self, p: np.ndarray) -> np.ndarray:
        """(h, w, 4): per pixel a (3,) and b with p ~ a . guide + b, averaged over the windows covering it.

        Averaged, they can be upsampled and applied to the full-size image.
        """
        r, mi = self.r, self.mi
        mp = _box(p, r)
        v0, v1, v2 = (_box(ch * p, r) - m * mp for ch, m in zip(self.c, mi))
        i00, i01, i02, i11, i12, i22 = self.inv
        a0 = i00 * v0 + i01 * v1 + i02 * v2
        a1 = i01 * v0 + i11 * v1 + i12 * v2
        a2 = i02 * v0 + i12 * v1 + i22 * v2
        b = mp - a0 * mi[0] - a1 * mi[1] - a2 * mi[2]
        return cv2.merge([_box(x, r) for x in (a0, a1, a2, b)])


def _disc(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _apply(ab: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """ab[..., :3] . rgb + ab[..., 3] per pixel, float32 (same height and width)."""
    q = cv2.transform(cv2.multiply(ab[..., :3], rgb, dtype=cv2.CV_32F), np.ones((1, 3), np.float32))
    q += ab[..., 3]
    return q


_BINS = 32      # colour histogram cells per channel (8 grey levels each)


def _colour_trim(guide: np.ndarray, p: np.ndarray, fg: np.ndarray, settings: MatteSettings) -> np.ndarray:
    """`fg` less the pixels near its outline whose colour belongs to the photo's background.

    A segmentation network's mask often claims a strip of the backdrop beside
    a shoulder or in a gap of the hair (the same texture next to the person).
    Colour histograms of the person and of the backdrop, both sampled in a
    ring around the outline (`ring`; person samples only where the network
    `p` is sure), give each colour a probability of being person; mask
    pixels within `reach` of the outline, or where the network is unsure,
    whose colour is decisively backdrop (below `keep`) are dropped. Only
    what stays connected to the background goes: a backdrop-coloured patch
    enclosed by the person (a badge, a highlight) is filled again by
    `clean_mask`.
    """
    h, w = fg.shape
    side = min(h, w)
    reach = max(1, int(round(settings.trim * side)))
    ring = max(reach + 1, int(round(settings.ring * side)))
    # Distances to the outline from inside and from outside (the image border is no outline: padded).
    pad = cv2.copyMakeBorder(fg.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    inside = cv2.distanceTransform(pad, cv2.DIST_L2, 5)[1:-1, 1:-1]
    outside = cv2.distanceTransform(1 - pad, cv2.DIST_L2, 5)[1:-1, 1:-1]
    deep = inside > reach
    sure = p > 0.9
    sure_fg = deep & (inside <= ring) & sure
    sure_bg = (outside > max(1, reach // 2)) & (outside <= ring)
    nf, nb = int(sure_fg.sum()), int(sure_bg.sum())
    if nf < 64 or nb < 64:
        return fg
    cells = (guide >> 3).astype(np.int32)                       # 256 / _BINS = 8 levels per cell
    idx = (cells[..., 0] * _BINS + cells[..., 1]) * _BINS + cells[..., 2]
    hf = np.bincount(idx[sure_fg], minlength=_BINS ** 3).astype(np.float32).reshape((_BINS,) * 3)
    hb = np.bincount(idx[sure_bg], minlength=_BINS ** 3).astype(np.float32).reshape((_BINS,) * 3)
    # Each sample counts for its neighbouring cells too (noise, shading): a 3x3x3 box in colour space
    # (not wrapping around: black and white are no neighbours).
    for hist in (hf, hb):
        for ax in range(3):
            src = hist.copy()
            lo, hi = [slice(None)] * 3, [slice(None)] * 3
            lo[ax], hi[ax] = slice(None, -1), slice(1, None)
            hist[tuple(hi)] += src[tuple(lo)]
            hist[tuple(lo)] += src[tuple(hi)]
    pf, pb = hf / nf, hb / nb
    person = pf / np.maximum(pf + pb, 1e-12)
    candidates = fg & ~(deep & sure)
    drop = candidates & (person.ravel()[idx] < settings.keep) & (pb.ravel()[idx] > 0)
    # Slivers (hair tips against a wall of their own colour) are the guided filter's to settle: only whole
    # regions of backdrop, three working pixels across and more, go here.
    drop = cv2.morphologyEx(drop.view(np.uint8), cv2.MORPH_OPEN, _disc(1)).view(bool)
    if not drop.any():
        return fg
    return clean_mask(fg & ~drop, settings.speck)


def _refine_low(guide: np.ndarray, p: np.ndarray, settings: MatteSettings) -> _Low:
    """The guided filter's model and the edge band at the working size (`guide` uint8 RGB, `p` float32 0..1)."""
    h, w = p.shape
    side = min(h, w)
    fg = clean_mask(p > 0.5, settings.speck)
    if settings.trim > 0:
        fg = _colour_trim(guide, p, fg, settings)
    band = max(1, int(round(settings.band * side)))
    u8 = fg.astype(np.uint8)
    inner = cv2.erode(u8, _disc(band), borderType=cv2.BORDER_REPLICATE).astype(np.float32)
    outer = cv2.dilate(u8, _disc(band), borderType=cv2.BORDER_REPLICATE).astype(np.float32)
    # Start from the network's soft values, made certain where cleaning filled a hole or removed a speck.
    q = p.copy()
    q[fg & (p <= 0.5)] = 1.0
    q[~fg & (p > 0.5)] = 0.0
    r = max(1, int(round(settings.radius * side)))
    gf = _Guided(guide.astype(np.float32) * (1.0 / 255.0), r, settings.eps)
    for k in range(max(1, settings.passes)):
        ab = gf.coefficients(np.clip(q, inner, outer))
        last = k >= settings.passes - 1
        # Early passes decide hard, so that the next one re-labels each colour by its window's majority:
        # the edge moves onto the photo's boundary.
        gain = settings.gain if last else settings.snap
        ab[..., :3] *= gain / 255.0
        ab[..., 3] = (ab[..., 3] - 0.5) * gain + 0.5
        if not last:
            q = _apply(ab, guide)
    return _Low(ab, inner, outer > inner)


def _full(image: np.ndarray, low: _Low, speck: float = DEFAULT.speck, tile: int = 16) -> np.ndarray:
    """Apply the working-size model to the full-size image and clean the result (float32 (H, W) 0..1).

    Only `tile` x `tile` working pixel blocks that touch the edge band are
    evaluated at full size; elsewhere the matte is the upsampled opaque core.
    """
    H, W = image.shape[:2]
    h, w = low.inner.shape
    sx, sy = W / w, H / h
    m = cv2.resize(low.inner, (W, H), interpolation=cv2.INTER_LINEAR) if (h, w) != (H, W) else low.inner.copy()
    # One working pixel more: bilinear upsampling reaches one pixel into the neighbouring block.
    band = cv2.dilate(low.band.astype(np.uint8), np.ones((3, 3), np.uint8))
    ny, nx = -(-h // tile), -(-w // tile)
    padded = np.zeros((ny * tile, nx * tile), np.uint8)
    padded[:h, :w] = band
    hit = padded.reshape(ny, tile, nx, tile).max(axis=(1, 3)) > 0
    outer = (low.band | (low.inner > 0)).astype(np.float32)
    for ty, tx in zip(*np.nonzero(hit)):
        y0, y1 = int(round(ty * tile * sy)), min(H, int(round((ty + 1) * tile * sy)))
        x0, x1 = int(round(tx * tile * sx)), min(W, int(round((tx + 1) * tile * sx)))
        # Full pixel X samples working coordinate (X + 0.5) / s - 0.5, as cv2.resize does.
        M = np.array([[1 / sx, 0, (x0 + 0.5) / sx - 0.5], [0, 1 / sy, (y0 + 0.5) / sy - 0.5]], np.float64)
        size = (x1 - x0, y1 - y0)
        ab = cv2.warpAffine(low.ab, M, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        lo = m[y0:y1, x0:x1]
        hi = cv2.warpAffine(outer, M, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        q = _apply(ab, image[y0:y1, x0:x1])
        np.clip(q, lo, hi, out=q)
        np.clip(q, 0.0, 1.0, out=m[y0:y1, x0:x1])
    # The clamp leaves holes or islands only inside the thin band; settle them at full size.
    fg = m > 0.5
    keep = clean_mask(fg, speck)
    changed = keep != fg
    if changed.any():
        m[changed] = keep[changed]
    return m


def _prepare(image: np.ndarray, raw: np.ndarray, settings: MatteSettings) -> tuple[np.ndarray, np.ndarray]:
    """The working-size guide (uint8 RGB) and mask (float32 0..1) of an image and its raw mask."""
    _check(image, raw)
    size = work_size(image.shape, settings)
    if raw.dtype == bool:
        raw = raw.astype(np.uint8) * 255
    elif raw.dtype not in (np.uint8, np.float32):
        raw = raw.astype(np.float32)
    return _shrink(image, size), _as_float(_shrink(raw, size))


def refine_matte(image: np.ndarray, raw: np.ndarray, settings: MatteSettings = DEFAULT) -> np.ndarray:
    """Refine a segmentation mask into a clean person matte, float32 (H, W) in [0, 1].

    `image` is the RGB uint8 (H, W, 3) photo and `raw` the network's mask of
    the same height and width (float 0..1, uint8 0..255 or bool). The soft
    edge follows the photo's own boundary within a band of `settings.band` of
    the short side around the mask's outline; enclosed holes are filled and
    small specks apart from the person removed.
    """
    guide, p = _prepare(image, raw, settings)
    return _full(image, _refine_low(guide, p, settings), settings.speck)


def person_matte(image: np.ndarray) -> np.ndarray:
    """Soft foreground matte (H, W) float32 in [0, 1] of the person in an RGB image.

    MediaPipe's mask (`detect.segmentation_mask`), refined by `refine_matte`:
    the edge follows the photo's own boundary (hair, shoulders) in a narrow
    band, holes inside the person are filled and stray specks dropped.
    """
    return refine_matte(image, segmentation_mask(image))


class MatteSequence:
    """Mattes for the frames of a video loop that do not shimmer from frame to frame.

    `add` each frame in order (with its raw mask, or None to run the
    segmentation network); `matte(k, frame)` then refines frame k from its
    mask averaged, pixel by pixel, over the `window` frames either side,
    each neighbour weighted by how little the image changed at that pixel
    (`sigma`: mean RGB difference, 0..255, at which the weight falls to
    1/e). Where nothing moves the network's noise averages out; where the
    person moves the frame's own mask dominates, so the matte follows. With
    `loop` the window wraps from the last frame to the first (the loop's
    playback order); otherwise (played forwards and back) it stays
    symmetric and so shrinks towards the ends: the first and last mattes
    are their own frames' and never lag behind the motion. Only
    working-size copies are kept (about 0.5 MB a frame at 1080p).
    """

    def __init__(self, *, loop: bool = False, window: int = 3, sigma: float = 10.0, settings: MatteSettings = DEFAULT):
        if window < 0 or sigma <= 0:
            raise MatteError(f"matte sequence: window must be >= 0 and sigma > 0, got {window} and {sigma}")
        self.loop, self.window, self.sigma, self.settings = loop, window, sigma, settings
        self._guides: list[np.ndarray] = []
        self._masks: list[np.ndarray] = []
        self._shape: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self._guides)

    def add(self, image: np.ndarray, raw: np.ndarray | None = None) -> None:
        """Append the next frame (RGB uint8) and its raw mask (None: segment it now)."""
        if raw is None:
            _check(image)
            raw = segmentation_mask(image)
        if self._shape is not None and image.shape[:2] != self._shape:
            raise MatteError(f"matte sequence: frame {len(self)} is {image.shape[1]}x{image.shape[0]}, "
                             f"the first was {self._shape[1]}x{self._shape[0]}")
        guide, p = _prepare(image, raw, self.settings)
        self._shape = image.shape[:2]
        self._guides.append(guide)
        # uint8: a quarter of the memory, and 1/255 steps are far below the network's own noise.
        self._masks.append(np.round(p * 255).astype(np.uint8))

    def _neighbours(self, k: int) -> list[int]:
        n = len(self)
        if self.loop:
            return sorted({(k + d) % n for d in range(-self.window, self.window + 1)} - {k})
        # Symmetric, shrinking to nothing at the ends: a one-sided window would lag behind the motion there.
        r = min(self.window, k, n - 1 - k)
        return [j for j in range(k - r, k + r + 1) if j != k]

    def mask(self, k: int) -> np.ndarray:
        """Frame k's temporally averaged mask at the working size, float32 0..1."""
        if not 0 <= k < len(self):
            raise MatteError(f"matte sequence: no frame {k} (it has {len(self)})")
        g = self._guides[k]
        num = self._masks[k].astype(np.float32)
        den = np.ones_like(num)
        # Weight by difference level 0..255 (a table), the difference being the channels' mean over a
        # 3x3 neighbourhood: sensor noise alone should not break the average.
        table = np.exp(-np.square(np.arange(256, dtype=np.float32) / self.sigma))
        for j in self._neighbours(k):
            d = cv2.blur(cv2.transform(cv2.absdiff(self._guides[j], g), _MEAN3), (3, 3))
            w = table[d]
            num += w * self._masks[j]
            den += w
        return num / (den * 255.0)

    def matte(self, k: int, image: np.ndarray) -> np.ndarray:
        """The matte of frame k, float32 (H, W) in [0, 1]; `image` is that frame at full size."""
        _check(image)
        p = self.mask(k)
        if image.shape[:2] != self._shape:
            raise MatteError(f"matte sequence: frame {k} given at {image.shape[1]}x{image.shape[0]}, "
                             f"added at {self._shape[1]}x{self._shape[0]}")
        return _full(image, _refine_low(self._guides[k], p, self.settings), self.settings.speck)


def stable_mattes(frames: Sequence[np.ndarray], raws: Sequence[np.ndarray] | None = None, *,
                  loop: bool = False, window: int = 3, settings: MatteSettings = DEFAULT) -> list[np.ndarray]:
    """Temporally stable mattes (float32 (H, W) 0..1 each) of a video loop's RGB frames.

    `raws` are the frames' raw masks (None: run the segmentation network);
    `loop` says the frames play as a loop rather than forwards and back. For
    long loops at high resolution use `MatteSequence` directly and keep each
    matte as uint8: 150 float32 mattes at 1080p take 1.2 GB.
    """
    if raws is not None and len(raws) != len(frames):
        raise MatteError(f"stable mattes: {len(frames)} frames but {len(raws)} masks")
    seq = MatteSequence(loop=loop, window=window, settings=settings)
    for k, frame in enumerate(frames):
        seq.add(frame, None if raws is None else raws[k])
    return [seq.matte(k, frame) for k, frame in enumerate(frames)]
