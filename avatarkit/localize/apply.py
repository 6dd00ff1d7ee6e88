"""Localized scripts: the same video in another language, from the translations file.

`localized_script(script, "de")` is a copy of the script with every
translatable string replaced by its German translation: narration is
parsed again, so phrases, pauses and gestures follow the translation;
every segment is spoken by the language's voice; `language` becomes the
target, so the pipeline names the output `<name>.de.mp4`. The lexicon,
`name`, glossary, slides, avatars and layout stay as they are; so does
`languages`, the list of the source script's translations. A recording
(`audio:`) stays the recording; only its captions are translated.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import ScriptError
from ..script.markup import parse_text
from ..script.model import LowerThird, Phrase, Script, Segment
from ..script.parse import load_script
from ..speech.voice import voice_for_language
from .store import Store, script_store
from .strings import Unit, check_language, same_language, units

MAX_LISTED = 10


@dataclass
class Coverage:
    """How much of a script one language has, by unit id: up to date, `missing`, `stale` (translated from an
    older source text), and which of the translated ones a machine made."""

    language: str
    total: int
    translated: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    machine: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.stale


@dataclass
class Localized:
    """A localized script, its language's coverage, and the ids that fell back to the source text."""

    script: Script
    coverage: Coverage
    fallback: list[str] = field(default_factory=list)


def script_languages(script: Script) -> list[str]:
    """The script's own language, then the languages it is translated into."""
    out = [script.language]
    for spec in script.languages:
        if not any(same_language(spec.code, c) for c in out):
            out.append(spec.code)
    return out


def coverage(script: Script, language: str, store: Store | None = None) -> Coverage:
    """Which strings of `script` have an up-to-date translation into `language` in `store` (default: the
    script's translations file)."""
    store = store if store is not None else script_store(script)
    strings = units(script)
    cov = Coverage(language, len(strings))
    for unit in strings:
        status = store.status(language, unit)
        getattr(cov, status).append(unit.id)
        if status == "translated" and store.get(language, unit.id).machine:
            cov.machine.append(unit.id)
    return cov


def language_voice(script: Script, language: str) -> str:
    """The voice for `language`: the one named under `languages:`, else the catalogue's measured default for
    it (`voices/defaults.yaml`), else the first catalogue voice of that language (the full tag first, then the
    primary language); a `ScriptError` when no voice speaks it."""
    spec = next((s for s in script.languages if same_language(s.code, language)), None)
    if spec is not None and spec.voice:
        return spec.voice
    found = voice_for_language(language)
    if found is not None:
        return found
    raise ScriptError(f"no voice speaks {language}: name one under languages: ({language}: {{voice: <id>}}); "
                      "`avatarkit voices` lists them", file=script.source, field=f"languages.{language}")


def localize(script: Script, language: str, store: Store | None = None, *, allow_missing: bool = False) -> Localized:
    """`script` in `language` (see the module doc) with its coverage. Missing or stale translations are a
    `ScriptError` listing their ids, unless `allow_missing`: then those strings keep the source text and
    `fallback` lists them."""
    check_language(language)
    if same_language(language, script.language):
        strings = units(script)
        return Localized(script, Coverage(script.language, len(strings), [u.id for u in strings]))
    code = next((s.code for s in script.languages if same_language(s.code, language)), language)
    store = store if store is not None else script_store(script)
    cov = coverage(script, code, store)
    gaps = cov.missing + cov.stale
    if gaps and not allow_missing:
        listed = ", ".join(f"{uid} (stale)" if uid in cov.stale else uid for uid in gaps[:MAX_LISTED])
        more = f" and {len(gaps) - MAX_LISTED} more" if len(gaps) > MAX_LISTED else ""
        raise ScriptError(f"{len(gaps)} of {cov.total} strings have no up-to-date {code} translation: {listed}{more}. "
                          "Import a translated XLIFF file or run `avatarkit localize translate` (from Python, "
                          "`localize(..., allow_missing=True)` keeps the source text where a translation is missing)",
                          file=store.path or script.source,
                          field=f"translations.{code}")
    voice = language_voice(script, code)
    where = store.path or script.source
    text: dict[str, str] = {}
    strings = {u.id: u for u in units(script)}
    for uid, unit in strings.items():
        e = store.current(code, unit)
        text[uid] = e.text if e is not None else unit.text

    def tr(uid: str, default: str) -> str:
        return text.get(uid, default)

    scenes = []
    for scene in script.scenes:
        base = f"scenes.{scene.id}"
        segments = [_segment(seg, f"{base}.segments.{j}.text", strings, text, voice, code, store, where)
                    for j, seg in enumerate(scene.segments)]
        lower = scene.lower_third
        if lower is not None:
            lower = LowerThird(lower.name, tr(f"{base}.lower_third.role", lower.role))
        scenes.append(replace(scene, segments=segments, title=tr(f"{base}.title", scene.title),
                              bullets=tuple(tr(f"{base}.bullets.{k}", b) for k, b in enumerate(scene.bullets)),
                              lower_third=lower))
    out = replace(script, title=tr("title", script.title), scenes=scenes, language=code,
                  lexicon=copy.deepcopy(script.lexicon))
    return Localized(out, cov, gaps if allow_missing else [])


def _segment(seg: Segment, uid: str, strings: dict[str, Unit], text: dict[str, str], voice: str, lang: str,
             store: Store, where: Path | None) -> Segment:
    unit = strings.get(uid)
    if unit is None:          # a pause, or a recording without captions
        return replace(seg, voice=voice, phrases=list(seg.phrases))
    translated = text[uid]
    entry = store.get(lang, uid)
    line = entry.line if entry is not None and translated == entry.text else None
    phrases = parse_text(translated, file=where, line=line, field=f"translations.{lang}.{uid}")
    if seg.audio is not None:
        # A recording is one unit of speech; its text only becomes captions (as the parser builds it).
        phrases = [Phrase(tuple(w for p in phrases for w in p.words), (), 0)]
    elif not any(p.words for p in phrases):
        raise ScriptError("the translation has no words, only tags", file=where, line=line,
                          field=f"translations.{lang}.{uid}")
    return Segment(phrases, voice, translated, seg.line, seg.audio)


def localized_script(script: Script, language: str, store: Store | None = None, *,
                     allow_missing: bool = False) -> Script:
    """`script` with its strings in `language` and that language's voice (see `localize`)."""
    return localize(script, language, store, allow_missing=allow_missing).script


def load_localized(path: str | Path, language: str, *, allow_missing: bool = False) -> Script:
    """Read the script at `path` in `language`, from the translations file beside it; the script's own
    language gives the script as written."""
    script = load_script(path)
    if same_language(language, script.language):
        return script
    return localized_script(script, language, allow_missing=allow_missing)


def load_language(script_path: Path, language: str, options: dict) -> Script:
    """The script at `script_path` in `language` with a course's overrides (`resolution` pixels, `captions`) applied."""
    s = load_localized(script_path, language)
    if options.get("resolution"):
        s = replace(s, resolution=tuple(options["resolution"]))
    if options.get("captions") is not None:
        s = replace(s, captions=options["captions"])
    return s
