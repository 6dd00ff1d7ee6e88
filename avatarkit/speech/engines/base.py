"""The protocol every speech engine follows, and the engine registry.

An engine turns one phrase (a list of `Token`s) into an `Utterance` whose
phones are timed to the sample. Engines are chosen by name from a voice's
YAML (`engine: piper`), so adding one means registering a factory here.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from ...errors import VoiceError
from ..utterance import Token, Utterance

if TYPE_CHECKING:
    from ..voice import Voice


class SpeechEngine(Protocol):
    """Synthesises phrases for one voice."""

    voice: "Voice"

    def synthesize(self, tokens: Sequence[Token]) -> Utterance:
        """Speak `tokens` as one phrase; return audio with sample-exact phones and words."""
        ...


_FACTORIES: dict[str, Callable[["Voice"], SpeechEngine]] = {}
# Where each built-in engine lives (`avatarkit.speech.engines.<module>`), imported when a voice first uses it.
_MODULES = {"coqui": "coqui", "espeak": "espeak", "kokoro": "kokoro", "piper": "piper"}


def register_engine(name: str):
    """Class decorator: make an engine available as `engine: <name>` in voice files."""

    def deco(cls):
        _FACTORIES[name] = cls
        return cls

    return deco


def engine_names() -> list[str]:
    return sorted(set(_FACTORIES) | set(_MODULES))


def make_engine(voice: "Voice") -> SpeechEngine:
    """Build the engine a voice names; raise `VoiceError` if it is unknown."""
    if voice.engine not in _FACTORIES and voice.engine in _MODULES:
        # Imported when first asked for, so that `import avatarkit` stays cheap and an engine whose
        # optional dependency is missing fails only when a voice uses it (as `render.base` does).
        import_module(f"{__package__}.{_MODULES[voice.engine]}")
    try:
        factory = _FACTORIES[voice.engine]
    except KeyError:
        raise VoiceError(
            f"voice {voice.id!r}: unknown engine {voice.engine!r} "
            f"(known: {', '.join(engine_names())})"
        ) from None
    return factory(voice)


def strip_stress(ipa: str) -> str:
    """Drop IPA stress and length marks that are not phonemes of their own."""
    return "".join(ch for ch in ipa if ch not in "ˈˌ")


# Whether onnxruntime sessions made from now on keep their CPU memory arena (see `keep_onnx_arena`).
_ARENA = True
# Worker threads of onnxruntime sessions made from now on (see `onnx_threads`).
_THREADS = 1


def onnx_threads(n: int) -> None:
    """How many threads speech sessions made after this call run their network on (at most the cores).

    A render speaks on its own thread while frames are drawn and encoded on
    both cores, and there one thread costs less in all: the 60 s benchmark
    script at 720p took 1.5-6 s less CPU and 0.3-3 s less time in four
    alternated pairs of runs (docs/quality.md, 2026-12-08), although its
    speech alone takes longer. A live presenter, whose first sound waits for
    its first sentence, asks for two. Sessions already made keep theirs.
    """
    global _THREADS
    _THREADS = max(1, int(n))


def keep_onnx_arena(keep: bool) -> None:
    """Whether speech sessions made after this call keep onnxruntime's CPU memory arena.

    The arena is faster and has lower peaks (Piper: 150 ms a sentence and
    +0 MB, against 161-186 ms and +75-110 MB without it) but grows in 32 and
    64 MB blocks it never gives back, so a process that speaks for hours
    creeps up; Kokoro without it peaks near 1.5 GB. A live presenter's
    process speaks with Piper for hours, so `avatarkit live` and the
    service's live sessions turn it off (docs/quality.md, issue 29); renders
    keep it. Sessions already made (engines are cached) keep what they had.
    """
    global _ARENA
    _ARENA = bool(keep)


def onnx_session(model: str | bytes):
    """An onnxruntime CPU session for `model` (a path or the serialised graph) that shares the machine well.

    Speech runs on its own thread while frames are drawn and encoded, so its
    worker threads (`onnx_threads`, one unless asked) must not busy-wait
    between runs: onnxruntime's default spins them for a while, which takes a
    core from the encoder for nothing (measured: 0.03 s of CPU per second of
    video with Piper). The memory arena follows `keep_onnx_arena`.
    """
    import os

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = min(_THREADS, os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.enable_profiling = False      # a profile is megabytes of JSON in the current folder, per session
    opts.enable_cpu_mem_arena = _ARENA
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    if isinstance(model, bytes) and getattr(session, "_model_bytes", None) is model:
        # onnxruntime keeps a graph given as bytes for the life of the session, only to rebuild it if a
        # GPU provider fails, which a CPU session never does: the session already holds its own weights,
        # so the copy is dead weight (measured: Piper's voice 63 MB, Kokoro's int8 model 88 MB of RSS, per process).
        session._model_bytes = None
    return session
