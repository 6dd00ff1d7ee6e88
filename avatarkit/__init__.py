"""avatarkit: turn a written script into a presenter video, offline, on a CPU.

    import avatarkit
    result = avatarkit.render("samples/welcome.yaml", out_dir="out")
    print(result.video)   # out/welcome.en.mp4
    avatarkit.lipsync("samples/avatar.png", "talk.wav", "talk.mp4")   # speak a recording
    with avatarkit.LiveSession() as live:                              # a live presenter, frame by frame
        live.say("Hello!")

Every output is labelled AI-generated (in the picture, the captions and the
file metadata).
"""

from ._version import __version__
from .audio.io import AudioError
from .errors import AvatarkitError, FaceError, RenderError, ScriptError, VoiceError
from .live import LiveConfig, LiveSession
from .pipeline import Pipeline, ProgressEvent, RenderResult, render
from .recordings.lipsync import LipsyncResult, lipsync
from .script import Background, Phrase, Scene, Script, Segment, load_script, parse_text
from .speech.voice import Voice, get_voice, list_voices

__all__ = [
    "__version__",
    "AudioError", "AvatarkitError", "Background", "LipsyncResult", "LiveConfig", "LiveSession", "FaceError", "Phrase",
    "Pipeline", "ProgressEvent",
    "RenderError", "RenderResult", "Scene", "Script", "ScriptError", "Segment", "Voice",
    "VoiceError", "get_voice", "lipsync", "list_voices", "load_script", "parse_text", "render",
]
