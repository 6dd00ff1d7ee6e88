"""Evaluation: how well generated motion matches real talking faces.

`metrics` holds the pure numpy measures (mouth opening, aligned landmark
distance, audio-visual offset, jitter); `lipsync` the harness that
re-animates real videos from their audio and scores each motion method.
"""

from .clips import EvalError, EvalProgress
from .lipsync import (
    DEFAULT_METHODS,
    METHODS,
    MethodScore,
    Report,
    VideoReport,
    evaluate,
    evaluate_video,
    score,
)

__all__ = ["DEFAULT_METHODS", "METHODS", "EvalError", "EvalProgress", "MethodScore", "Report", "VideoReport",
           "evaluate", "evaluate_video", "score"]
