"""The script format: YAML files (or code) describing scenes of spoken text."""

from .markup import parse_text
from .model import Background, Gesture, Lexicon, LexiconEntry, Mark, Phrase, Scene, Script, Segment
from .parse import load_script, parse_script

__all__ = ["Background", "Gesture", "Lexicon", "LexiconEntry", "Mark", "Phrase", "Scene",
           "Script", "Segment", "load_script", "parse_script", "parse_text"]
