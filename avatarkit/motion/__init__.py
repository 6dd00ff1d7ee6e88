"""Motion: what the face does per video frame, from phonemes (or, later, audio)."""

from .animate import MotionConfig, PhonemeMotion
from .track import CHANNELS, MotionTrack

__all__ = ["CHANNELS", "MotionConfig", "MotionTrack", "PhonemeMotion"]
