"""The diffusion renderer: a footage avatar's own frames with the mouth regenerated.

`MouthPainter` is the part dubbing and scenes share: given frames, their
(smoothed) crop poses and target landmarks, it cuts the lower-face crops,
masks the mouth, draws the target lips and jaw, samples the avatar's
`MouthDiffusion` model for a batch of frames at once and pastes the result
back under the feathered mask, so pixels outside the mask never change.

`DiffusionRenderer` (kind `diffusion`) is the renderer protocol over it for
scripts: the person's footage plays its best idle loop, scaled to where the
layout puts them, and every frame's mouth follows the `MotionTrack` through
the person's `MouthRig`. Head, eyes and body move as they did in the
footage; the motion track's head channels are not used.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..errors import RenderError
from ..face.avatar import Avatar, AvatarError, is_avatar_folder, open_avatar, shared_idle_clip
from ..face.crop import crop_matrix, cut, draw_condition, mouth_mask, paste, to_crop
from ..face.footage import video_frames
from ..face.mouthrig import MouthRig
from ..face.rig import FaceRig
from ..models.mouth_diffusion import MouthDiffusion, to_tensor, to_uint8
from .base import AvatarFrame, register_renderer


class MouthPainter:
    """Repaint mouths with a trained model; `reference` is the (S, S, 3) reference crop."""

    def __init__(self, model: MouthDiffusion, reference: np.ndarray, steps: int | None = None):
        self.model = model
        self.size = model.config.size
        self.steps = steps
        self.ref = to_tensor(reference)
        self.hard = torch.from_numpy(mouth_mask(self.size)[0])[None, None]

    def paint(self, frames: list[np.ndarray], poses: list[np.ndarray], targets: list[np.ndarray]) -> list[tuple]:
        """Regenerate the mouth of each frame (in place) to the target (478, 2) landmarks, pixels.

        `poses` are the crop poses (`face.crop.face_pose`, smoothed over time).
        Returns the changed box (x0, y0, x1, y1) of each frame.
        """
        if not frames:
            return []
        s = self.size
        mats = [crop_matrix(p, s) for p in poses]
        crops = np.stack([cut(f, m, s) for f, m in zip(frames, mats)])
        conds = np.stack([draw_condition(to_crop(t, m), s) for t, m in zip(targets, mats)])
        x = to_tensor(crops)
        n = len(frames)
        mask = self.hard.expand(n, -1, -1, -1)
        cond = MouthDiffusion.conditioning(x * (1 - mask), mask, self.ref.expand(n, -1, -1, -1),
                                           torch.from_numpy(conds))
        gen = to_uint8(self.model.sample(cond.to(self.model.device), steps=self.steps))
        return [paste(f, g, m) for f, g, m in zip(frames, gen, mats)]


def reference_crop(avatar: Avatar, model: MouthDiffusion) -> np.ndarray:
    """The reference crop the model was trained to look at (saved beside it, else cut from the footage)."""
    from PIL import Image

    p = avatar.model_dir / "reference.png"
    if p.is_file():
        return np.asarray(Image.open(p).convert("RGB"))
    i = int(model.training_info.get("reference_frame", (avatar.track.neutral or [0])[0]))
    poses = avatar.poses
    for k, rgb in enumerate(video_frames(avatar.footage)):
        if k == i:
            return cut(rgb, crop_matrix(poses[i], model.config.size), model.config.size)
    raise RenderError(f"{avatar.footage}: reference frame {i} is past the end of the footage")


@lru_cache(maxsize=4)
def load_personal(folder: str, device: str = "cpu") -> tuple[Avatar, MouthDiffusion, MouthRig, np.ndarray]:
    """(avatar, model, mouth rig, reference crop) of a trained footage avatar folder, cached."""
    avatar = check_trained(folder)
    model = MouthDiffusion.from_pretrained(avatar.model_dir, device=device)
    rig_path = avatar.model_dir / "mouthrig.json"
    rig = MouthRig.load(rig_path) if rig_path.is_file() else MouthRig.fit(avatar.track)
    return avatar, model, rig, reference_crop(avatar, model)


def check_trained(folder: str | Path) -> Avatar:
    """The footage avatar in `folder`, or `RenderError` if it has no trained mouth model."""
    avatar = open_avatar(folder)
    if not avatar.trained:
        raise RenderError(f"avatar {avatar.name!r} has no trained mouth model yet; run `avatarkit avatar train {avatar.name}`")
    return avatar


@register_renderer("diffusion")
class DiffusionRenderer:
    """Footage avatar renderer; `steps` overrides the model's sampling steps."""

    kind = "diffusion"

    def __init__(self, steps: int | None = None, device: str = "auto"):
        self.steps = steps
        self.device = "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)

    def bind(self, rig: FaceRig) -> "BoundDiffusion":
        if not is_avatar_folder(rig.source):
            raise RenderError(f"renderer 'diffusion' needs a footage avatar (see `avatarkit avatar add`), "
                              f"not the photo {rig.source}; use renderer 'warp' for photos")
        return BoundDiffusion(rig, *load_personal(str(rig.source), self.device), self.steps)


class BoundDiffusion:
    """A `DiffusionRenderer` bound to a footage avatar at its on-screen scale."""

    def __init__(self, rig: FaceRig, avatar: Avatar, model: MouthDiffusion, mouth: MouthRig,
                 reference: np.ndarray, steps: int | None):
        self.rig, self.avatar, self.mouth = rig, avatar, mouth
        self.painter = MouthPainter(model, reference, steps)
        h, w = rig.image.shape[:2]
        try:
            self.clip = shared_idle_clip(avatar, w, h)
        except AvatarError as e:
            raise RenderError(str(e)) from None
        self.box = (0, 0, w, h)
        self.i = 0

    def render_frame(self, channels: dict[str, float], shape=None) -> AvatarFrame:
        # `shape` (a MotionTrack shape frame) is accepted for the renderer protocol; this renderer's
        # MouthRig reenacts the channels only.
        c = self.clip
        k = c.at(self.i)
        self.i += 1
        frame = c.images[k].copy()
        target = self.mouth.retarget(c.points[k], channels, c.poses[k])
        self.painter.paint([frame], [c.poses[k]], [target])
        return AvatarFrame(self.box, frame, c.mattes[k].astype(np.float32) / 255.0, target.astype(np.float32))

    def frames(self, track):
        for i in range(len(track)):
            yield self.render_frame(track.frame(i))


__all__ = ["DiffusionRenderer", "MouthPainter", "load_personal"]
