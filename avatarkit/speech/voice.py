"""Voices: one small YAML file per voice, found in a catalogue of folders.

A voice file names an `id`, the `engine` that speaks it, its `language` (a
BCP-47 tag such as `en-US`) and engine `settings`. The catalogue is the
project's `voices/` folder plus any folders in `AVATARKIT_VOICES` (separated
by the OS path separator) or passed explicitly. A voice can also be named
ad hoc as `piper:/path/to/voice.onnx` or `espeak:<espeak voice name>`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ..errors import VoiceError

PROJECT_VOICES = Path(__file__).resolve().parents[2] / "voices"


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

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        return d


def voice_dirs(extra: list[str | Path] | None = None) -> list[Path]:
    """The folders searched for voice files, in priority order."""
    dirs: list[Path] = [Path(p) for p in (extra or [])]
    env = os.environ.get("AVATARKIT_VOICES")
    if env:
        dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs.append(PROJECT_VOICES)
    return dirs


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
    unknown = set(data) - {"id", "engine", "language", "name", "description", "settings"}
    if unknown:
        raise VoiceError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}")
    return Voice(
        id=data["id"], engine=data["engine"], language=data["language"],
        name=str(data.get("name", "")), description=str(data.get("description", "")),
        settings=dict(settings), source=str(path),
    )


def list_voices(extra_dirs: list[str | Path] | None = None) -> list[Voice]:
    """All catalogue voices; the first folder that defines an id wins."""
    seen: dict[str, Voice] = {}
    for d in voice_dirs(extra_dirs):
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")):
            v = load_voice_file(f)
            seen.setdefault(v.id, v)
        # A folder of Piper models is a catalogue too: each .onnx with its
        # .onnx.json beside it becomes a voice named after the file.
        for f in sorted(d.glob("*.onnx")):
            if Path(str(f) + ".json").exists():
                v = _piper_voice(str(f))
                seen.setdefault(v.id, v)
    return list(seen.values())


def get_voice(ref: str, extra_dirs: list[str | Path] | None = None) -> Voice:
    """Resolve a voice reference: a catalogue id, a YAML path, or `engine:spec`."""
    if ref.startswith("piper:"):
        return _piper_voice(ref[len("piper:"):])
    if ref.startswith("espeak:"):
        name = ref[len("espeak:"):]
        return Voice(id=ref, engine="espeak", language=name, settings={"voice": name}, source=ref)
    if ref.endswith((".yaml", ".yml")) and Path(ref).exists():
        return load_voice_file(ref)
    for v in list_voices(extra_dirs):
        if v.id == ref:
            return v
    known = ", ".join(v.id for v in list_voices(extra_dirs))
    raise VoiceError(f"unknown voice {ref!r}; known voices: {known} (see `avatarkit voices`)")


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
