"""The bank itself: the canonical mouth frame, an entry's measurements (shape, teeth, lips, light) and `MouthBank`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import RenderError
from ..face import landmarks as lm

WIDTH, HEIGHT = 96, 64                        # canonical crop, pixels
LEFT, RIGHT = (18.0, 26.0), (78.0, 26.0)      # where the inner-lip corners land in it
SPAN = RIGHT[0] - LEFT[0]
# The inner-lip contour as a closed loop: upper lip corner to corner, then the lower lip back.
CONTOUR = tuple(lm.LIP_INNER_UPPER) + tuple(lm.LIP_INNER_LOWER[::-1][1:-1])
RING = 5.0 / SPAN           # the lip ring (colour statistics) and the warp's outer ring, in mouth widths
# How far inside an entry's own inner-lip landmarks (canonical pixels, of a 60 px mouth) its visible lip edge
# lies: MediaPipe puts those landmarks on the wet inner lip, so the band between shows lip (see `paste`).
INSET = 1.5
DEFAULT_PATH = Path(__file__).parent / "data" / "bank.npz"

# Clips whose speakers the shipped bank never sees: the lip-sync harness's test speakers
# (avatarkit.training.real.SPLITS) plus the presenter RD_Radio34 and the CREMA-D actor.
HELD_OUT = ("usgov_WDA_KatieHill_000", "usgov_RD_Radio34_000", "usgov_RD_Radio10_0_clip_0",
            "grid_brbk7n", "grid_sbwe5n",
            *(f"cremad_1001_DFA_{e}_XX" for e in ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")))


def corner_similarity(contour: np.ndarray) -> np.ndarray:
    """The 2x3 similarity taking a (20, 2) inner-lip contour's corners onto `LEFT` and `RIGHT`."""
    a, b = np.asarray(contour[0], np.float64), np.asarray(contour[10], np.float64)
    d = b - a
    n = max(float(np.hypot(*d)), 1e-6)
    k = SPAN / n
    c, s = d[0] / n * k, d[1] / n * k
    R = np.array([[c, s], [-s, c]])          # rotates d onto +x and scales it to SPAN
    t = np.array(LEFT) - R @ a
    return np.concatenate([R, t[:, None]], 1)


def to_canonical(contour: np.ndarray) -> np.ndarray:
    """A (20, 2) inner-lip contour (any pixels) in canonical-crop pixels."""
    m = corner_similarity(contour)
    return np.asarray(contour, np.float64) @ m[:, :2].T + m[:, 2]


def descriptor(contour: np.ndarray) -> np.ndarray:
    """Shape descriptor (36,) of a (20, 2) contour: its 18 non-corner points, canonical, in mouth widths."""
    c = to_canonical(contour)
    return ((c[list(range(1, 10)) + list(range(11, 20))] - np.array(LEFT)) / SPAN).ravel().astype(np.float32)


def outer_ring(contour: np.ndarray, distance: float) -> np.ndarray:
    """The closed contour moved `distance` pixels outward along its vertex normals."""
    p = np.asarray(contour, np.float64)
    prev, nxt = np.roll(p, 1, 0), np.roll(p, -1, 0)
    t = nxt - prev
    n = np.stack([t[:, 1], -t[:, 0]], 1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    # Outward is away from the centroid (the loop's orientation is not trusted).
    flip = ((p - p.mean(0)) * n).sum(1) < 0
    n[flip] *= -1
    return p + n * distance


def polygon_mask(poly: np.ndarray, shape: tuple[int, int], aa: bool = True) -> np.ndarray:
    """uint8 0..255 mask of a sub-pixel polygon (anti-aliased unless `aa` is False)."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(poly) * 8).astype(np.int32)], 255,
                 cv2.LINE_AA if aa else cv2.LINE_8, shift=3)
    return mask


def ring_stats(rgb: np.ndarray, contour: np.ndarray, distance: float) -> np.ndarray:
    """(6,) Lab mean and standard deviation (OpenCV's 8-bit Lab) of `rgb` in the ring
    between `contour` and the contour moved `distance` outward."""
    shape = rgb.shape[:2]
    ring = (polygon_mask(outer_ring(contour, distance), shape, False) > 0) & (polygon_mask(contour, shape, False) == 0)
    if ring.sum() < 4:
        ring = polygon_mask(outer_ring(contour, distance), shape, False) > 0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[ring].astype(np.float64)
    if not len(lab):
        return np.array([128, 128, 128, 1, 1, 1], np.float32)
    return np.concatenate([lab.mean(0), lab.std(0) + 1e-3]).astype(np.float32)


def teeth_fraction(rgb: np.ndarray, contour: np.ndarray) -> float:
    """Share of the pixels inside `contour` that look like teeth (bright and unsaturated)."""
    inside = polygon_mask(contour, rgb.shape[:2], False) > 0
    if not inside.any():
        return 0.0
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[inside].astype(np.float32)
    return float(((hsv[:, 2] > 130) & (hsv[:, 1] < 95)).mean())


def lip_share(rgb: np.ndarray, contour: np.ndarray, light: np.ndarray) -> float:
    """Share of the pixels inside `contour` moved 3 canonical pixels inward (past the wet inner lip the
    landmarks sit on) whose colour is the lip ring's (`light`, from `ring_stats`): within two of its
    standard deviations (at least 4 levels each) in Lab."""
    inside = polygon_mask(outer_ring(contour, -3.0), rgb.shape[:2], False) > 0
    if not inside.any():
        return 1.0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[inside].astype(np.float32)
    z = (lab - light[:3]) / np.maximum(light[3:], 4.0)
    return float((np.sqrt((z * z).sum(1)) < 2.0).mean())


@dataclass
class MouthBank:
    """Entries: canonical crops (JPEG bytes, decoded on demand), contours, teeth and lip shares, lip lighting."""

    jpeg: np.ndarray          # (bytes,) uint8, every entry's JPEG one after another
    offsets: np.ndarray       # (N + 1,) int64
    shapes: np.ndarray        # (N, 20, 2) float32 canonical pixels
    teeth: np.ndarray         # (N,) float32
    light: np.ndarray         # (N, 6) float32 Lab mean, std of the lip ring
    clip: np.ndarray          # (N,) int16, index into `clips`
    frame: np.ndarray         # (N,) int32, frame number in its clip
    clips: list[str]
    meta: dict = field(default_factory=dict)
    lips: np.ndarray | None = None   # (N,) float32 `lip_share`; measured on first use for banks saved without it
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.lips is None:
            self.lips = np.array([lip_share(self.crop(i), self.shapes[i].astype(np.float64), self.light[i])
                                  for i in range(len(self))], np.float32)

    def __len__(self) -> int:
        return int(self.shapes.shape[0])

    @property
    def descriptors(self) -> np.ndarray:
        if "desc" not in self._cache:
            c = self.shapes[:, list(range(1, 10)) + list(range(11, 20))]
            self._cache["desc"] = ((c - np.array(LEFT, np.float32)) / SPAN).reshape(len(self), -1).astype(np.float32)
        return self._cache["desc"]

    def crop(self, i: int) -> np.ndarray:
        """Entry `i`'s canonical RGB crop (HEIGHT, WIDTH, 3) uint8."""
        crops = self._cache.setdefault("crops", {})
        if i not in crops:
            if len(crops) > 512:
                crops.clear()
            buf = self.jpeg[self.offsets[i]:self.offsets[i + 1]]
            crops[i] = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return crops[i]

    def without(self, clips: "list[str] | tuple[str, ...]") -> "MouthBank":
        """The bank less every entry cut from the named clips (for leave-one-speaker-out tuning)."""
        drop = [i for i, c in enumerate(self.clips) if c in set(clips)]
        keep = ~np.isin(self.clip, drop)
        idx = np.flatnonzero(keep)
        blobs = [self.jpeg[self.offsets[i]:self.offsets[i + 1]] for i in idx]
        offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
        return MouthBank(np.concatenate(blobs) if blobs else np.zeros(0, np.uint8), offsets, self.shapes[idx],
                         self.teeth[idx], self.light[idx], self.clip[idx], self.frame[idx], list(self.clips),
                         dict(self.meta), self.lips[idx])

    def joined(self, other: "MouthBank") -> "MouthBank":
        """This bank's entries, then `other`'s (their clips renumbered after this bank's)."""
        return MouthBank(np.concatenate([self.jpeg, other.jpeg]),
                         np.concatenate([self.offsets[:-1], other.offsets + self.offsets[-1]]).astype(np.int64),
                         np.concatenate([self.shapes, other.shapes]), np.concatenate([self.teeth, other.teeth]),
                         np.concatenate([self.light, other.light]),
                         np.concatenate([self.clip, other.clip + len(self.clips)]).astype(np.int16),
                         np.concatenate([self.frame, other.frame]), list(self.clips) + list(other.clips),
                         dict(self.meta), np.concatenate([self.lips, other.lips]))

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, jpeg=self.jpeg, offsets=self.offsets, shapes=self.shapes.astype(np.float16),
                 teeth=self.teeth.astype(np.float16), light=self.light.astype(np.float16),
                 lips=self.lips.astype(np.float16), clip=self.clip,
                 frame=self.frame, clips=np.array(json.dumps(self.clips)), meta=np.array(json.dumps(self.meta)))
        tmp.replace(path)

    @classmethod
    def from_entries(cls, crops: list[np.ndarray], shapes: list[np.ndarray], clip: list[int], frame: list[int],
                     clips: list[str], quality: int = 90, meta: dict | None = None) -> "MouthBank":
        """A bank from canonical RGB crops and their canonical contours (teeth and lighting measured here)."""
        blobs, teeth, light, lips = [], [], [], []
        for c, s in zip(crops, shapes):
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(c, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
            assert ok
            blobs.append(buf.ravel())
            teeth.append(teeth_fraction(c, s))
            light.append(ring_stats(c, s, RING * SPAN))
            lips.append(lip_share(c, np.asarray(s, np.float64), light[-1]))
        offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
        jpeg = np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)
        return cls(jpeg, offsets, np.asarray(shapes, np.float32).reshape(-1, 20, 2), np.asarray(teeth, np.float32),
                   np.asarray(light, np.float32).reshape(-1, 6), np.asarray(clip, np.int16),
                   np.asarray(frame, np.int32), list(clips), dict(meta or {}), np.asarray(lips, np.float32))


_LOADED: dict[Path, MouthBank] = {}


def load_bank(path: str | Path | None = None) -> MouthBank:
    """The bank at `path` (default: the one shipped in the package), loaded once per process."""
    p = Path(path) if path is not None else DEFAULT_PATH
    if p not in _LOADED:
        if not p.is_file():
            raise RenderError(f"{p}: no mouth bank; build it with `python -m avatarkit.mouthbank.build` "
                              "(needs the talking-face clips of ../shared/media/talking)")
        with np.load(p, allow_pickle=False) as z:
            _LOADED[p] = MouthBank(z["jpeg"], z["offsets"], z["shapes"].astype(np.float32),
                                   z["teeth"].astype(np.float32), z["light"].astype(np.float32), z["clip"],
                                   z["frame"], json.loads(str(z["clips"])), json.loads(str(z["meta"])),
                                   z["lips"].astype(np.float32) if "lips" in z.files else None)
    return _LOADED[p]
