"""The refined renderer: the bank renderer with a small network correcting the mouth box (issue 26).

Everything is the bank renderer's (`bank.py`: the photo warped by the
landmark mesh, a real mouth from the mouth bank pasted inside the target
inner lips); after the paste, the mouth refiner
(`avatarkit.models.mouth_refiner`, a U-Net of about 65 thousand parameters
trained on the shared footage by `python -m avatarkit.training.refiner`)
looks at the mouth box around the target lips and adds its correction
there under a feathered edge. Pixels outside that box are the bank
renderer's, unchanged. PyTorch is imported when the renderer is bound, not
before.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..face.rig import FaceRig
from ..models.mouth_refiner import SHIPPED, MouthRefiner
from ..mouthbank import MouthBank, load_bank
from .bank import BankRenderer, BoundBank
from .base import AvatarFrame, register_renderer


@lru_cache(maxsize=4)
def _load(folder: str) -> MouthRefiner:
    import torch

    torch.set_num_threads(1)        # one box per frame: more threads cost more than they save
    return MouthRefiner.from_pretrained(folder)


def load_refiner(model: str | Path | MouthRefiner | None = None) -> MouthRefiner:
    """A refiner: `model` itself, the folder it names, or (None) the shipped one; folders are loaded once."""
    if isinstance(model, MouthRefiner):
        return model
    return _load(str(Path(model) if model is not None else SHIPPED))


@register_renderer("refined")
class RefinedRenderer(BankRenderer):
    """`BankRenderer` (same `grid`, `iterations`, `bank`, `own`) + the mouth refiner `model` (a folder written by
    `MouthRefiner.save_pretrained`, a loaded `MouthRefiner`, or None for the shipped one)."""

    kind = "refined"

    def __init__(self, grid: float = 0.5, iterations: int = 2, bank: str | Path | None = None,
                 own: MouthBank | str | Path | None = None, model: str | Path | MouthRefiner | None = None):
        super().__init__(grid, iterations, bank, own)
        self.model = model

    def bind(self, rig: FaceRig) -> "BoundRefined":
        own = self.own if self.own is not None else rig.mouths
        if own is not None and not isinstance(own, MouthBank):
            own = load_bank(own)
        return BoundRefined(rig, self.grid, self.iterations, load_bank(self.bank_path), own,
                            load_refiner(self.model))


class BoundRefined(BoundBank):
    """A `RefinedRenderer` prepared for one rig: the bank's mouth stage, then the refiner on the mouth box."""

    def __init__(self, rig: FaceRig, grid: float, iterations: int, bank: MouthBank, own: MouthBank | None,
                 refiner: MouthRefiner):
        super().__init__(rig, grid, iterations, bank, own)
        self.refiner = refiner
        self.last_region: tuple[int, int, int, int] | None = None   # changed by the refiner, in frame.rgb pixels

    def mouth(self, frame: AvatarFrame, entry: int) -> None:
        super().mouth(frame, entry)
        x0, y0 = frame.box[:2]
        self.last_region = self.refiner.refine(frame.rgb, frame.landmarks[:, :2].astype(np.float64) - [x0, y0])
