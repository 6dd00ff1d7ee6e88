"""The renderer protocol: a `FaceRig` plus a `MotionTrack` becomes avatar frames.

A renderer is bound once to a rig at its on-screen size (`bind`), which is
where it precomputes everything that does not change per frame. The bound
renderer then yields, per frame, an `AvatarFrame`: the pixels of the region
of the rig image that changed, with the person matte of that region, so the
compositor only touches those pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from ..errors import RenderError
from ..face.avatar import is_footage_avatar
from ..face.rig import FaceRig
from ..motion.track import MotionTrack


@dataclass
class AvatarFrame:
    """Changed region `box` = (x0, y0, x1, y1) of the rig image, its RGB and matte."""

    box: tuple[int, int, int, int]
    rgb: np.ndarray           # (y1-y0, x1-x0, 3) uint8
    matte: np.ndarray         # (y1-y0, x1-x0) float32 0..1
    landmarks: np.ndarray     # (478, 2) target landmarks, rig pixels


class BoundRenderer(Protocol):
    rig: FaceRig

    def frames(self, track: MotionTrack) -> Iterator[AvatarFrame]:
        """One `AvatarFrame` per frame of `track`, in order."""
        ...

    def render_frame(self, values: dict[str, float], shape=None) -> AvatarFrame:
        """One frame from its channel values (`MotionTrack.frame`) and, where the track has one, its lip
        shape (`MotionTrack.frame_shape`): what a live session, which has no whole track, calls."""
        ...


class Renderer(Protocol):
    kind: str

    def bind(self, rig: FaceRig) -> BoundRenderer:
        """Prepare to animate `rig` (already scaled to its on-screen size)."""
        ...


_RENDERERS: dict[str, Callable[..., Renderer]] = {}
# Where each built-in kind lives: imported only when asked for, so a warp
# render never pays for PyTorch (the diffusion renderer's import).
_MODULES = {"warp": "warp", "bank": "bank", "refined": "refined", "footage": "footage_scene", "diffusion": "diffusion"}


def register_renderer(kind: str):
    def deco(cls):
        _RENDERERS[kind] = cls
        return cls

    return deco


def renderer_for(avatar: str | Path, kind: str | None = None) -> str:
    """The renderer kind that draws `avatar` (a photo or an avatar folder): `kind` where one is named, else
    the avatar's own, `footage` for an avatar made from footage (its own frames play) and `warp` for a photo."""
    if kind:
        return kind
    return "footage" if is_footage_avatar(avatar) else "warp"


def make_renderer(kind: str = "warp", **config) -> Renderer:
    """Build a renderer by kind (see `renderer_for` for which kind an avatar gets when none is named)."""
    if kind not in _RENDERERS and kind in _MODULES:
        import_module(f"{__package__}.{_MODULES[kind]}")
    if kind not in _RENDERERS:
        known = sorted(set(_RENDERERS) | set(_MODULES))
        raise RenderError(f"unknown renderer {kind!r}; known: {', '.join(known)}")
    return _RENDERERS[kind](**config)
