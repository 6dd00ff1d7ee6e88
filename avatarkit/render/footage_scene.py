"""The footage renderer for scenes and live sessions: a footage avatar's own frames and mouths, no training.

Kind `footage` in the renderer protocol (`bind(rig)`, then `render_frame(values, shape)` per frame).
Dubbing (`footage.py`) re-times the whole footage against a known recording; a script scene or a live
session has no recording to plan against, so here the person plays their idle motion (the best loop, or
the longest still stretch forwards and back: `face.avatar.idle_clip`) at the layout's size, and each
frame is the footage frame with

1. **its lips and jaw warped** to the mouth the motion channels ask for: the person's `MouthRig`
   (a linear model of their lips and jaw on opening and width, fitted on their own footage at intake,
   or the trained one saved beside a diffusion model) gives the target landmarks, and the footage
   renderer's warp (`footage.warp_field`) moves the frame's lips, chin and jaw line onto them;
2. **a mouth of their own** pasted inside the target inner lips: an entry of their own bank
   (`mouths.npz`; the shipped bank where their footage never opened the mouth), chosen frame by frame
   by the target lip shape with temporal smoothness (`mouthbank.OnlineRetriever`).

Every pixel outside the warped lower face is the footage's own. Head, eyes, blinks and body move as
they did in the footage: the motion track's head and eye channels are not used, and a track's lip
`shape` is read through the channels derived from it (opening and width), as `MouthRig` works on those.
"""

from __future__ import annotations

import numpy as np

from ..errors import RenderError
from ..face.avatar import Avatar, AvatarError, is_footage_avatar, open_avatar, shared_idle_clip
from ..face.mouthrig import MouthRig
from ..face.rig import FaceRig
from ..mouthbank import CONTOUR, OnlineRetriever, descriptor, paste, untangle
from .base import AvatarFrame, register_renderer
from .footage import FootageRenderConfig, apply_warp, close_seam, needs_closing, warp_field

_CONTOUR = list(CONTOUR)


def mouth_rig(avatar: Avatar) -> MouthRig:
    """The person's `MouthRig`: the one saved with a trained model, else fitted on their footage now."""
    saved = avatar.model_dir / "mouthrig.json"
    return MouthRig.load(saved) if saved.is_file() else MouthRig.fit(avatar.track)


@register_renderer("footage")
class FootageSceneRenderer:
    """A footage avatar's idle frames with their lips, jaw and mouth following the motion (see the module).

    `chin_follow` and `upper_follow` are the dubbing renderer's (`FootageRenderConfig`)."""

    kind = "footage"

    def __init__(self, chin_follow: float | None = None, upper_follow: float | None = None):
        d = FootageRenderConfig()
        self.chin_follow = d.chin_follow if chin_follow is None else float(chin_follow)
        self.upper_follow = d.upper_follow if upper_follow is None else float(upper_follow)

    def bind(self, rig: FaceRig) -> "BoundFootageScene":
        if not is_footage_avatar(rig.source):
            raise RenderError(f"renderer 'footage' needs an avatar made from footage (`avatarkit avatar add "
                              f"--footage`), not the photo {rig.source}; photos use 'warp', 'bank' or 'refined'")
        return BoundFootageScene(rig, open_avatar(rig.source), self.chin_follow, self.upper_follow)


class BoundFootageScene:
    """A `FootageSceneRenderer` bound to one footage avatar at its on-screen size."""

    def __init__(self, rig: FaceRig, avatar: Avatar, chin_follow: float, upper_follow: float):
        self.rig, self.avatar = rig, avatar
        self.chin_follow, self.upper_follow = chin_follow, upper_follow
        h, w = rig.image.shape[:2]
        try:
            self.clip = shared_idle_clip(avatar, w, h)
        except AvatarError as e:
            raise RenderError(str(e)) from None
        self.mouth = mouth_rig(avatar)
        self.bank = avatar.mouth_bank()
        self.own = avatar.mouths_file is not None
        self.online = OnlineRetriever(self.bank)
        self.box = (0, 0, w, h)
        self.size = (w, h)
        self.i = 0

    def render_frame(self, values: dict[str, float], shape=None) -> AvatarFrame:
        """The next frame of the idle clip with its mouth following `values` (`MotionTrack.frame`)."""
        c = self.clip
        k = c.at(self.i)
        self.i += 1
        points = c.points[k]
        target = self.mouth.retarget(points, values, c.poses[k])
        contour = target[_CONTOUR].astype(np.float64)
        frame = c.images[k].copy()
        warp = warp_field(points, contour, self.size, self.chin_follow, self.upper_follow)
        if warp is not None:
            x0, y0, x1, y1 = warp.box
            frame[y0:y1, x0:x1] = apply_warp(warp, c.images[k])
            inner = points[_CONTOUR]
            if needs_closing(inner, contour):
                close_seam(frame[y0:y1, x0:x1], warp, inner, contour, frame.shape[:2])
        e = self.online.step(descriptor(contour))
        # Their own mouths sit on their own landmarks, so no inset (as in dubbing).
        paste(frame, untangle(contour), self.bank.crop(e), self.bank.shapes[e], self.bank.light[e],
              inset=0.0 if self.own else None)
        return AvatarFrame(self.box, frame, c.mattes[k].astype(np.float32) / 255.0, target.astype(np.float32))

    def frames(self, track):
        for i in range(len(track)):
            yield self.render_frame(track.frame(i), track.frame_shape(i))


__all__ = ["FootageSceneRenderer", "mouth_rig"]
