"""Named groups of MediaPipe face-mesh landmark indices (468 mesh + 10 iris).

The indices are properties of MediaPipe's canonical face topology; naming
them once here keeps motion and rendering code readable.
"""

from __future__ import annotations

NUM_MESH = 468  # without the 10 iris points, which the warp must not pin

# Inner lip contour, corner to corner (left corner 78, right corner 308).
LIP_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
# Outer lip contour, corner to corner (61 and 291).
LIP_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIP_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
# Points between the inner and outer contours.
LIP_MID_UPPER = (62, 183, 42, 41, 38, 12, 268, 271, 272, 407, 292)
LIP_MID_LOWER = (62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292)
# The ring between the outer and middle contours (MediaPipe's 11 and 16 rings): `MOUTH_SHAPE` leaves it
# out, so with a shape it moves halfway between its two neighbours (`FaceDeformer.fill_rings`).
LIP_RING_UPPER = (76, 184, 74, 73, 72, 11, 302, 303, 304, 408, 306)
LIP_RING_LOWER = (76, 77, 90, 180, 85, 16, 315, 404, 320, 307, 306)
MOUTH_CORNERS = (61, 291, 78, 308, 62, 292, 76, 306, 184, 408, 77, 307, 146, 375)

UPPER_LIP_CENTER, LOWER_LIP_CENTER = 13, 14
CHIN = 152
NOSE_TIP = 1
FOREHEAD = 10

LEFT_EYE_UPPER = (246, 161, 160, 159, 158, 157, 173)
LEFT_EYE_LOWER = (7, 163, 144, 145, 153, 154, 155)
LEFT_EYE_CORNERS = (33, 133)
RIGHT_EYE_UPPER = (466, 388, 387, 386, 385, 384, 398)
RIGHT_EYE_LOWER = (249, 390, 373, 374, 380, 381, 382)
RIGHT_EYE_CORNERS = (263, 362)
# Eyelid points one ring out, so a blink moves the lid skin, not only its edge.
LEFT_LID_OUTER = (247, 30, 29, 27, 28, 56, 190)
RIGHT_LID_OUTER = (467, 260, 259, 257, 258, 286, 414)
LEFT_EYE_CENTER_PAIR = (159, 145)
RIGHT_EYE_CENTER_PAIR = (386, 374)

LEFT_BROW = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)
RIGHT_BROW = (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)

# The lower face oval from jaw angle to jaw angle, through the chin (152).
JAW_LINE = (288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58)
# The points a `MotionTrack.mouth` shape places: the lip contours (not the rings), then the jaw line.
MOUTH_SHAPE = tuple(dict.fromkeys(LIP_OUTER_UPPER + LIP_OUTER_LOWER + LIP_MID_UPPER + LIP_MID_LOWER
                                  + LIP_INNER_UPPER + LIP_INNER_LOWER + JAW_LINE))
# The five central inner-lip pairs (upper, lower; the corners always touch) the mouth's opening is read from, on landmarks
# (`eval.metrics.mouth_opening`) and on shapes (`shape_opening`).
INNER_PAIRS = ((81, 178), (82, 87), (13, 14), (312, 317), (311, 402))
# Their rows within MOUTH_SHAPE, and the outer corners' (`shape_width`).
SHAPE_UPPER_ROWS = tuple(MOUTH_SHAPE.index(a) for a, _ in INNER_PAIRS)
SHAPE_LOWER_ROWS = tuple(MOUTH_SHAPE.index(b) for _, b in INNER_PAIRS)
SHAPE_CORNER_ROWS = (MOUTH_SHAPE.index(61), MOUTH_SHAPE.index(291))

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
             54, 103, 67, 109)


def shape_opening(points):
    """Inner-lip gap (..., ) of `MOUTH_SHAPE` shapes (..., 75, 2): the mean of the five central pairs along v."""
    import numpy as np

    p = np.asarray(points)
    return (p[..., list(SHAPE_LOWER_ROWS), 1] - p[..., list(SHAPE_UPPER_ROWS), 1]).mean(-1)


def shape_width(points):
    """Corner-to-corner distance along u (..., ) of `MOUTH_SHAPE` shapes (..., 75, 2)."""
    import numpy as np

    p = np.asarray(points)
    return p[..., SHAPE_CORNER_ROWS[1], 0] - p[..., SHAPE_CORNER_ROWS[0], 0]
