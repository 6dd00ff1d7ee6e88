"""The bank renderer: the warp renderer's face with a real mouth from the mouth bank inside the lips.

Everything outside the inner lips is the warp renderer's (`warp.py`: the
photo moved by the landmark mesh, eyelids in blinks). Inside the target
inner-lip contour the renderer pastes a real mouth from the shipped mouth
bank (`avatarkit.mouthbank`): the entry is chosen by the target inner-lip
shape, smoothly over time (`frames` runs a Viterbi pass over the whole
track first; `render_frame` runs the same recursion forward, frame by
frame), warped onto the contour, colour-matched to the avatar's own lips
and blended under a feathered edge, over the warp renderer's painted mouth
and a little past the inner lips (`paste.GROW`), so the entry's own inner
lip edge covers the warp's stretched one. When the photo's own mouth is
open (`PHOTO_OPEN_PX`), retrieval prefers entries that show as much teeth
as the photo does (`retrieve.TEETH_MATCH`).

When the person's own mouths are known (`own`, or a rig whose avatar has a
`mouths.npz`: a few seconds of their footage, or a second photo with the
mouth open), they join the shared bank and retrieval prefers them
(`retrieve.OTHERS` on every other entry): their teeth are what a viewer
expects to see, and the shared bank fills only the shapes they never made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ..face.rig import FaceRig
from ..motion.track import FaceShape, MotionTrack
from ..mouthbank import CONTOUR, MouthBank, OnlineRetriever, descriptor, load_bank, paste, retrieve, teeth_fraction
from ..mouthbank.retrieve import entry_prior
from .base import AvatarFrame, register_renderer
from .warp import BoundWarp

_CONTOUR = list(CONTOUR)
PHOTO_OPEN_PX = 3.0     # the photo's lips this far apart (pixels) show what is inside: its teeth share counts


def photo_teeth(rig: FaceRig) -> float | None:
    """Share of the photo's open mouth that is teeth, or None when its lips (nearly) touch."""
    if rig.rest_gap < PHOTO_OPEN_PX:
        return None
    return teeth_fraction(rig.image, rig.landmarks[_CONTOUR, :2].astype(np.float64))


@register_renderer("bank")
class BankRenderer:
    """Warp renderer + mouth bank; `bank` is a bank file (default: the one shipped in the package), `own`
    the person's own mouths (a bank or its file; default: the rig's `mouths`, if any), preferred over
    the shared bank's (`retrieve.OTHERS`)."""

    kind = "bank"

    def __init__(self, grid: float = 0.5, iterations: int = 2, bank: str | Path | None = None,
                 own: MouthBank | str | Path | None = None):
        self.grid, self.iterations, self.bank_path, self.own = grid, iterations, bank, own

    def bind(self, rig: FaceRig) -> "BoundBank":
        own = self.own if self.own is not None else rig.mouths
        if own is not None and not isinstance(own, MouthBank):
            own = load_bank(own)
        return BoundBank(rig, self.grid, self.iterations, load_bank(self.bank_path), own)


class BoundBank:
    """A `BankRenderer` prepared for one rig (see the module docstring)."""

    def __init__(self, rig: FaceRig, grid: float, iterations: int, bank: MouthBank, own: MouthBank | None = None):
        self.warp = BoundWarp(rig, grid, iterations)
        self.rig, self.deformer, self.box = rig, self.warp.deformer, self.warp.box
        self.own = len(own) if own is not None else 0
        if own is not None and len(own):
            # The person's own mouths first; the shared bank fills the shapes they never made.
            self.bank = own.joined(bank)
            self.prior = entry_prior(self.bank, np.arange(len(self.bank)) < len(own))
            self.teeth = None       # their own mouths already show their own teeth
        else:
            self.bank = bank
            self.prior = entry_prior(bank)
            self.teeth = photo_teeth(rig)
        self.online = OnlineRetriever(self.bank, teeth=self.teeth, prior=self.prior)
        self.last_entry: int | None = None

    def mouth(self, frame: AvatarFrame, entry: int) -> None:
        """Paste bank entry `entry` inside the frame's target inner lips (in place): the mouth stage."""
        x0, y0 = frame.box[:2]
        contour = frame.landmarks[_CONTOUR, :2].astype(np.float64) - [x0, y0]
        paste(frame.rgb, contour, self.bank.crop(entry), self.bank.shapes[entry], self.bank.light[entry],
              inset=0.0 if entry < self.own else None)
        self.last_entry = entry

    def render_frame(self, values: dict[str, float], shape: FaceShape | None = None, *,
                     entry: int | None = None) -> AvatarFrame:
        """Render one frame (`shape`: see `MotionTrack`), with the arguments of every renderer's
        `render_frame`; the bank entry comes from the forward recursion unless `entry` is given."""
        f = self.warp.render_frame(values, shape)
        if entry is None:
            entry = self.online.step(descriptor(f.landmarks[_CONTOUR, :2]))
        self.mouth(f, entry)
        return f

    def frames(self, track: MotionTrack) -> Iterator[AvatarFrame]:
        shapes = np.stack([descriptor(self.deformer.targets(track.frame(i), track.frame_shape(i))[_CONTOUR, :2])
                           for i in range(len(track))]) if len(track) else np.zeros((0, 36), np.float32)
        path = retrieve(self.bank, shapes, teeth=self.teeth, prior=self.prior)
        for i in range(len(track)):
            yield self.render_frame(track.frame(i), track.frame_shape(i), entry=int(path[i]))
