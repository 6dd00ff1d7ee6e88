"""Media: the streaming MP4 writer, captions and thumbnails."""

from .captions import Cue, phrase_cues, to_srt, to_vtt
from .writer import AI_NOTICE, VideoWriter

__all__ = ["AI_NOTICE", "Cue", "VideoWriter", "phrase_cues", "to_srt", "to_vtt"]
