"""The mouth bank: real mouth interiors, retrieved by lip shape and pasted inside a target's inner lips.

Real mouths (teeth, tongue, cavity, the inner edges of the lips) are cut
from filmed speakers (`build`), each normalised into one canonical frame by
its inner-lip corners: a similarity maps the inner-lip corners (landmarks 78
and 308) onto two fixed points of a `WIDTH` x `HEIGHT` box. An entry keeps
that crop (JPEG), its 20-point inner-lip contour in the canonical frame (the
shape descriptor), how much of its inside is teeth (bright, unsaturated
pixels), how much of its inside is lip (`lip_share`: a mouth barely open, or
soft from a small source video, shows its own lips where the teeth and
cavity should be) and the lighting of its lips (Lab mean and spread in a
ring just outside the inner contour).

For a face to animate, `retrieve` picks one entry per frame by the target
inner-lip shape with temporal smoothness (Viterbi over the best `k`
candidates: a shape cost plus a cost for switching that is zero for staying
on an entry or moving to its next filmed frame), and `paste` warps the
entry's crop onto the target inner-lip contour (piecewise affine over a
fixed triangulation of the contour, a ring just outside it and its
centroid), matches its colour to the target's lips (lightness gain and a
half shift of a*, b* in Lab from ring to ring) and blends it inside the
inner lips under an anti-aliased, feathered alpha. Pixels further than a few
pixels outside the target inner-lip contour never change.

One bank, one retrieval and one blend serve every renderer; the bank that
ships (`data/bank.npz`) is built by `python -m avatarkit.mouthbank.build`
from `../shared/media/talking` without its held-out speakers (`HELD_OUT`).
"""

from .bank import (  # noqa: F401  (the canonical frame and measurements, used across the package)
    CONTOUR,
    DEFAULT_PATH,
    HEIGHT,
    HELD_OUT,
    INSET,
    LEFT,
    RIGHT,
    RING,
    SPAN,
    WIDTH,
    MouthBank,
    corner_similarity,
    descriptor,
    lip_share,
    load_bank,
    outer_ring,
    polygon_mask,
    ring_stats,
    teeth_fraction,
    to_canonical,
)
from .paste import paste, untangle
from .retrieve import OnlineRetriever, retrieve

__all__ = ["MouthBank", "load_bank", "retrieve", "OnlineRetriever", "paste", "untangle", "descriptor", "to_canonical",
           "corner_similarity", "teeth_fraction", "lip_share", "HELD_OUT", "CONTOUR", "WIDTH", "HEIGHT"]
