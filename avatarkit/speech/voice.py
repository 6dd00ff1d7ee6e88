"""Voices: one small YAML file per voice, found in a catalogue of folders.

A voice file names an `id`, the `engine` that speaks it, its `language` (a
BCP-47 tag such as `en-US`) and engine `settings`, and describes it for a
chooser (`gender`, `style`, `sample_rate` in Hz). The catalogue is the
project's `voices/` folder, `$AVATARKIT_HOME/voices` (where `avatarkit voices
save` writes house voices) and any folders in `AVATARKIT_VOICES` (separated by
the OS path separator) or passed explicitly (`speech.catalog`). A voice can
also be named ad hoc as `piper:/path/to/voice.onnx`, `espeak:<espeak voice
name>` or `kokoro:<speaker>` / `kokoro:af_heart=0.7,af_bella=0.3` (a blend).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ..errors import VoiceError
from ..script.scope import ScopeRefusal, current_scope, short_repr


@dataclass(frozen=True)
class Voice:
    """A voice from the catalogue: who speaks, with which engine and settings."""

    id: str
    engine: str
    language: str
    name: str = ""
    description: str = ""
    settings: dict = field(default_factory=dict, hash=False, compare=False)
    source: str = ""
    gender: str = ""        # "female" | "male" | "" (not stated)
    style: str = ""         # how it sounds, in a few words ("warm narration")
    sample_rate: int = 0    # Hz of the engine's output; 0 when not stated

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        return d

    def save(self, folder: str | Path) -> Path:
        """Write this voice as `<folder>/<id>.yaml` (atomically) so that the catalogue finds it by id."""
        from ..utils.files import write_text_atomic

        d = {k: v for k, v in self.to_dict().items() if v not in ("", 0, {})}
        Path(folder).mkdir(parents=True, exist_ok=True)
        return write_text_atomic(Path(folder) / f"{self.id}.yaml", yaml.safe_dump(d, allow_unicode=True, sort_keys=False))


def load_voice_file(path: str | Path) -> Voice:
    """Read one voice YAML file; raise `VoiceError` naming the file and field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise VoiceError(f"{path}: cannot read voice file: {e}") from None
    if not isinstance(data, dict):
        raise VoiceError(f"{path}: a voice file must be a mapping with id, engine, language")
    for key in ("id", "engine", "language"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise VoiceError(f"{path}: field {key!r} is required and must be a string")
    settings = data.get("settings") or {}
    if not isinstance(settings, dict):
        raise VoiceError(f"{path}: field 'settings' must be a mapping")
    unknown = set(data) - {"id", "engine", "language", "name", "description", "settings", "gender", "style",
                           "sample_rate"}
    if unknown:
        raise VoiceError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}")
    if data.get("gender", "") not in ("", "female", "male"):
        raise VoiceError(f"{path}: field 'gender' must be female or male, not {data['gender']!r}")
    if not isinstance(data.get("sample_rate", 0), int) or data.get("sample_rate", 0) < 0:
        raise VoiceError(f"{path}: field 'sample_rate' must be a whole number of Hz")
    return Voice(
        id=data["id"], engine=data["engine"], language=data["language"],
        name=str(data.get("name", "")), description=str(data.get("description", "")),
        settings=dict(settings), source=str(path), gender=str(data.get("gender", "")),
        style=str(data.get("style", "")), sample_rate=int(data.get("sample_rate", 0)),
    )


def list_voices(extra_dirs: list[str | Path] | None = None, *, scope=None) -> list[Voice]:
    """All catalogue voices; the first folder that defines an id wins."""
    seen: dict[str, Voice] = {}
    for d in _scope(scope).voice_dirs(extra_dirs):
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")):
            if f.name == "defaults.yaml":
                continue  # the per-language defaults, not a voice
            v = load_voice_file(f)
            seen.setdefault(v.id, v)
        # A folder of Piper models is a catalogue too: each .onnx with its
        # .onnx.json beside it becomes a voice named after the file.
        for f in sorted(d.glob("*.onnx")):
            if Path(str(f) + ".json").exists():
                v = _piper_voice(str(f))
                seen.setdefault(v.id, v)
    return list(seen.values())


def default_voices(extra_dirs: list[str | Path] | None = None) -> dict[str, str]:
    """Language tag → the voice id that speaks it by default, from `defaults.yaml` in the catalogue folders.

    The project's file is written from `benchmarks/voices.py` (the voice each
    language's listeners understood best); a folder earlier in the search
    order overrides a language by listing it in its own `defaults.yaml`.
    """
    out: dict[str, str] = {}
    for d in reversed(_scope(None).voice_dirs(extra_dirs)):
        path = Path(d) / "defaults.yaml"
        if not path.is_file():
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise VoiceError(f"{path}: cannot read the default voices: {e}") from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise VoiceError(f"{path}: expected a mapping of language tags to voice ids")
        out.update({k.lower(): v for k, v in data.items()})
    return out


def voice_for_language(language: str, extra_dirs: list[str | Path] | None = None) -> str | None:
    """The voice id that speaks `language` by default: for the full tag, then for its primary language, the
    measured default (`defaults.yaml`) or else the first catalogue voice of it; None if no voice speaks it."""
    tag, primary = language.lower(), language.split("-")[0].lower()
    defaults = default_voices(extra_dirs)
    voices = list_voices(extra_dirs)
    for key, of in ((tag, lambda v: v.language.lower()), (primary, lambda v: v.language.split("-")[0].lower())):
        if key in defaults:
            return defaults[key]
        found = next((v for v in voices if of(v) == key), None)
        if found is not None:
            return found.id
    return None


def kokoro_voice(ref: str) -> Voice:
    """A `Voice` for `kokoro:af_heart` or `kokoro:af_heart=0.7,af_bella=0.3`, its language from the first name."""
    # Imported here: the engine module (numpy, the phonemiser) is not needed to list voices.
    from .engines.kokoro import SAMPLE_RATE, parse_speaker, speaker_language

    speaker = parse_speaker(ref[len("kokoro:"):])
    language, espeak = speaker_language(speaker)
    return Voice(id=ref, engine="kokoro", language=language, settings={"speaker": speaker, "espeak": espeak},
                 source=ref, sample_rate=SAMPLE_RATE)


def get_voice(ref: str, extra_dirs: list[str | Path] | None = None, *, scope=None) -> Voice:
    """Resolve a voice reference: a catalogue id, a YAML path, or `engine:spec`.

    `scope` (default: the current one, see `script.scope.using`) decides which
    references are allowed and which catalogue folders are searched; the
    render service allows no paths and only the shipped and the key's voices.
    """
    scope = _scope(scope)
    try:
        scope.check_voice(ref)
    except ScopeRefusal as e:
        raise VoiceError(str(e)) from None
    if ref.startswith("piper:"):
        return _piper_voice(ref[len("piper:"):])
    if ref.startswith("kokoro:"):
        return kokoro_voice(ref)
    if ref.startswith("espeak:"):
        name = ref[len("espeak:"):]
        return Voice(id=ref, engine="espeak", language=name, settings={"voice": name}, source=ref)
    if ref.endswith((".yaml", ".yml")) and Path(ref).exists():
        return load_voice_file(ref)
    voices = list_voices(extra_dirs, scope=scope)
    for v in voices:
        if v.id == ref:
            return v
    known = ", ".join(v.id for v in voices)
    raise VoiceError(f"unknown voice {short_repr(ref)}; known voices: {known} (see `avatarkit voices`)")


def _scope(scope):
    return scope if scope is not None else current_scope()


def _piper_voice(model: str) -> Voice:
    path = Path(model)
    cfg = Path(str(path) + ".json")
    language = "und"
    if cfg.exists():
        import json

        try:
            meta = json.loads(cfg.read_text(encoding="utf-8"))
            language = (meta.get("language") or {}).get("code", "und").replace("_", "-")
        except (OSError, ValueError):
            pass
    return Voice(id=f"piper:{path.stem}", engine="piper", language=language,
                 name=path.stem, settings={"model": str(path)}, source=str(path))
