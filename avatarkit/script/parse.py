"""Read a script file (YAML, format v1) into a `Script`, with line numbers in errors.

The format is documented in docs/script-format.md. Every error names the
file, the line and the field, e.g. `welcome.yaml:14: scenes[1].segments[0].voice`.
Relative paths (avatar, slides, recordings, brand kit) are taken relative to
the script file, under the `FileScope` given (the command line's open rule by
default; the render service confines a job to its own files).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import AvatarkitError, ScriptError
from .markup import parse_duration_ms, parse_text
from .model import (
    ASPECTS,
    AUDIO_FILES,
    BACKGROUND_KINDS,
    LAYOUTS,
    RENDERERS,
    SIZES,
    SLIDE_IMAGES,
    SLIDE_PAGES,
    SLIDE_VIDEOS,
    TRANSITIONS,
    Background,
    GlossaryTerm,
    LanguageSpec,
    Lexicon,
    LexiconEntry,
    LowerThird,
    Phrase,
    Scene,
    Script,
    Segment,
    SlideRef,
    Transition,
    frame_size,
    is_language_tag,
)
from .scope import FileScope, ScopeRefusal, short_repr
from .yamlmap import Ctx as _Ctx
from .yamlmap import Map as _Map
from .yamlmap import load_yaml, read_text

FORMAT_VERSION = 1
_SPEAKER = re.compile(r"^[a-z][fm]_[a-z0-9_]+$")
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")

# A segment's text, and one sentence of it: past these a voice would speak minutes in one go (memory grows with
# it, and nothing shows progress), which a script does not need; longer text is split into segments.
MAX_SEGMENT_CHARS = 20_000
MAX_PHRASE_WORDS = 400


def load_script(path: str | Path, *, scope: FileScope | None = None) -> Script:
    """Read and validate a script file; raise `ScriptError` naming file, line and field."""
    path = Path(path)
    return parse_script(read_text(path, "script"), file=path, scope=scope)


def parse_script(text: str, *, file: str | Path | None = None, scope: FileScope | None = None) -> Script:
    """Parse script YAML `text`; `file` is used for error messages and relative paths, which resolve
    under `scope` (default: the current one, see `scope.using`)."""
    file = Path(file) if file is not None else None
    ctx = _Ctx(file, scope)
    data = load_yaml(text, ctx, "a script (title, defaults and scenes)")
    base = file.parent if file else Path.cwd()
    ctx.check_keys(data, {"avatarkit", "title", "language", "defaults", "lexicon", "scenes", "brand", "languages",
                          "glossary"}, "")
    version = ctx.get(data, "avatarkit", int, "", default=FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ctx.err(f"unsupported format version {version}; this avatarkit reads version {FORMAT_VERSION}",
                      data.lines["avatarkit"], "avatarkit")
    title = ctx.get(data, "title", str, "", required=True)
    language = ctx.get(data, "language", str, "", default="en")
    if not is_language_tag(language):
        raise ctx.err(f"{short_repr(language)} is not a language tag like en or de-DE (of a known language)",
                      data.lines["language"], "language")

    defaults = ctx.get(data, "defaults", dict, "", default=_Map())
    if not isinstance(defaults, _Map):
        defaults = _Map()
        defaults.lines, defaults.line = {}, 1
    ctx.check_keys(defaults, {"avatar", "voice", "background", "layout", "renderer", "resolution", "aspect", "fps",
                              "captions", "transition"}, "defaults")
    resolution = _resolution(ctx, defaults)
    fps = ctx.get(defaults, "fps", int, "defaults", default=25)
    if not 1 <= fps <= 60 or 48000 % fps:
        raise ctx.err(f"fps {fps}: expected 1 to 60 frames per second that divide 48000 evenly (e.g. 24, 25, 30, 50, 60)",
                      defaults.lines.get("fps"), "defaults.fps")
    d_avatar = _avatar(ctx, defaults, "defaults", base, None) or _house_presenter()
    d_voice = _voice(ctx, defaults, "defaults", None) or _language_voice(ctx, language, data)
    d_background = _background(ctx, defaults, "defaults", None)
    d_layout = _layout(ctx, defaults, "defaults", "full")
    d_renderer = _renderer(ctx, defaults, "defaults", None)
    d_transition = _transition(ctx, defaults, "defaults", None)
    captions = ctx.get(defaults, "captions", bool, "defaults", default=False)
    brand = ctx.path(data, "brand", "", base, (".yaml", ".yml"), "a brand kit")

    lexicon = _lexicon(ctx, data)

    scenes_raw = ctx.get(data, "scenes", list, "", required=True)
    if not scenes_raw:
        raise ctx.err("a script needs at least one scene", data.lines["scenes"], "scenes")
    scenes = []
    ids: set[str] = set()
    for i, sc in enumerate(scenes_raw):
        f = f"scenes[{i}]"
        if not isinstance(sc, _Map):
            raise ctx.err("a scene must be a mapping with segments", scenes_raw.lines[i], f)
        ctx.check_keys(sc, {"id", "avatar", "voice", "background", "layout", "renderer", "segments", "slide",
                            "title", "bullets", "lower_third", "transition"}, f)
        sid = str(ctx.get(sc, "id", (str, int), f, default=f"scene{i + 1}"))
        if sid in ids:
            raise ctx.err(f"scene id {short_repr(sid)} is used twice", sc.lines.get("id", sc.line), f"{f}.id")
        ids.add(sid)
        avatar = _avatar(ctx, sc, f, base, d_avatar)
        voice = _voice(ctx, sc, f, d_voice)
        segs_raw = ctx.get(sc, "segments", list, f, required=True)
        segments = [_segment(ctx, s, f"{f}.segments[{j}]", segs_raw.lines[j], voice, base)
                    for j, s in enumerate(segs_raw)]
        if not any(s.audio or p.words for s in segments for p in s.phrases) \
                and not any(k in sc for k in ("slide", "title", "bullets")):
            raise ctx.err("scene has nothing to say or show (give text, audio, a slide, a title or bullets)",
                          sc.line, f"{f}.segments")
        renderer = _renderer(ctx, sc, f, d_renderer)
        from ..face.avatar import is_footage_avatar

        if renderer in ("footage", "diffusion") and not is_footage_avatar(avatar):
            raise ctx.err(f"renderer {renderer!r} needs an avatar made from footage (`avatarkit avatar add "
                          f"--footage`), not the photo {avatar.name}", sc.lines.get("renderer", sc.line),
                          f"{f}.renderer")
        background = _background(ctx, sc, f, d_background)
        slide = _slide(ctx, sc, f, base)
        if background is not None and background.kind == "blur" and slide is None:
            raise ctx.err("background 'blur' blurs the scene's slide, and this scene has none",
                          sc.lines.get("background", sc.line), f"{f}.background")
        bullets = ctx.get(sc, "bullets", list, f, default=[])
        for j, b in enumerate(bullets):
            if not isinstance(b, str) or not b.strip():
                raise ctx.err(f"a bullet is a line of text, got {short_repr(b)}", bullets.lines[j], f"{f}.bullets[{j}]")
        scenes.append(Scene(sid, segments, avatar, background, _layout(ctx, sc, f, d_layout), renderer,
                            slide=slide, title=ctx.get(sc, "title", str, f, default=""),
                            bullets=tuple(b.strip() for b in bullets), lower_third=_lower_third(ctx, sc, f),
                            transition=_transition(ctx, sc, f, d_transition)))
    name = file.stem if file else "video"
    return Script(title=title, scenes=scenes, resolution=resolution, fps=fps, language=language,
                  lexicon=lexicon, name=name, source=file, captions=captions, brand=brand,
                  languages=_languages(ctx, data, language), glossary=_glossary(ctx, data))


def _resolution(ctx: _Ctx, d: _Map) -> tuple[int, int]:
    raw = ctx.get(d, "resolution", (str, list), "defaults", default="720p")
    aspect = ctx.get(d, "aspect", (str, int), "defaults")
    if isinstance(aspect, int):     # YAML 1.1 reads an unquoted 9:16 as the base-60 number 556
        aspect = f"{aspect // 60}:{aspect % 60}"
    if aspect is not None and aspect not in ASPECTS:
        raise ctx.err(f"aspect {short_repr(aspect)} must be one of {', '.join(ASPECTS)}", d.lines["aspect"], "defaults.aspect")
    if isinstance(raw, str) and raw.lower() in SIZES:
        return frame_size(aspect or "16:9", raw.lower())
    if aspect is not None:
        raise ctx.err(f"aspect goes with a size ({', '.join(SIZES)}), not with resolution {short_repr(raw)}",
                      d.lines["aspect"], "defaults.aspect")
    m = re.fullmatch(r"(\d+)\s*x\s*(\d+)", raw) if isinstance(raw, str) else None
    if isinstance(raw, list) and len(raw) == 2 and all(isinstance(v, int) for v in raw):
        w, h = raw
    elif m:
        w, h = int(m.group(1)), int(m.group(2))
    else:
        raise ctx.err(f"resolution {short_repr(raw)} must be WIDTHxHEIGHT like 1280x720, or one of {', '.join(SIZES)}",
                      d.lines.get("resolution"), "defaults.resolution")
    if w % 2 or h % 2 or not (160 <= w <= 3840 and 160 <= h <= 3840):
        raise ctx.err(f"resolution {w}x{h} must be even, each side between 160 and 3840",
                      d.lines.get("resolution"), "defaults.resolution")
    return w, h


def _slide(ctx: _Ctx, m: _Map, field: str, base: Path) -> SlideRef | None:
    raw = ctx.get(m, "slide", (str, dict), field)
    if raw is None:
        return None
    f = f"{field}.slide"
    exts = SLIDE_IMAGES + SLIDE_VIDEOS + SLIDE_PAGES
    if isinstance(raw, str):
        return SlideRef(ctx.path(m, "slide", field, base, exts, "a slide"))
    ctx.check_keys(raw, {"file", "page"}, f)
    path = ctx.path(raw, "file", f, base, exts, "a slide", required=True)
    page = ctx.get(raw, "page", int, f, default=1)
    ref = SlideRef(path, page)
    if page < 1 or page > 1 and ref.kind not in ("pdf", "pptx"):
        raise ctx.err(f"page {page}: pages start at 1, and only PDF and PPTX files have more than one",
                      raw.lines["page"], f"{f}.page")
    return ref


def _lower_third(ctx: _Ctx, m: _Map, field: str) -> LowerThird | None:
    raw = ctx.get(m, "lower_third", dict, field)
    if raw is None:
        return None
    f = f"{field}.lower_third"
    ctx.check_keys(raw, {"name", "role"}, f)
    return LowerThird(ctx.get(raw, "name", str, f, required=True), ctx.get(raw, "role", str, f, default=""))


def _transition(ctx: _Ctx, m: _Map, field: str, default: Transition | None) -> Transition | None:
    raw = ctx.get(m, "transition", (str, dict), field)
    if raw is None:
        return default
    f = f"{field}.transition"
    line = m.lines["transition"]
    if isinstance(raw, str):
        kind, ms = raw, Transition().ms
    else:
        ctx.check_keys(raw, {"kind", "duration"}, f)
        kind = ctx.get(raw, "kind", str, f, required=True)
        try:
            ms = parse_duration_ms(raw.get("duration", f"{Transition().ms}ms"), what="duration")
        except ValueError as e:
            raise ctx.err(str(e), raw.lines.get("duration", line), f"{f}.duration") from None
        if not 0 < ms <= 3000:
            raise ctx.err("a transition lasts between 1ms and 3s", raw.lines.get("duration", line), f"{f}.duration")
    if kind not in TRANSITIONS:
        raise ctx.err(f"unknown transition {short_repr(kind)}; expected one of {', '.join(TRANSITIONS)}", line, f)
    return Transition(kind, ms)


def _avatar(ctx: _Ctx, m: _Map, field: str, base: Path, default: Path | None) -> Path | None:
    """A photo file, an avatar folder, the name of an avatar made with `avatarkit avatar add`, or a house avatar."""
    raw = ctx.get(m, "avatar", str, field)
    if raw is None:
        return default
    f, line = f"{field}.avatar", m.lines["avatar"]
    from ..face.avatar import house_avatar

    try:
        p = ctx.scope.file(raw, base)
    except ScopeRefusal as e:
        raise ctx.err(str(e), line, f) from None
    if ctx.scope.exists(p) or ctx.scope.exists(p / "avatar.json"):
        return p
    named = ctx.scope.named_avatar(raw)
    if named is not None:
        return named
    if house_avatar(raw) is not None:
        return house_avatar(raw)
    if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp"):
        raise ctx.err(f"avatar file {short_repr(raw)} not found{ctx.scope.where(p)}", line, f)
    raise ctx.err(f"avatar {short_repr(raw)} not found: neither an image file{ctx.scope.where(p)} nor an avatar "
                  "made with `avatarkit avatar add`", line, f)


def _house_presenter() -> Path:
    """The presenter of a script that names no avatar: the photo avatarkit ships as `presenter`."""
    from ..face.avatar import DEFAULT_PRESENTER, house_avatar

    found = house_avatar(DEFAULT_PRESENTER)
    if found is None:  # pragma: no cover - an install without its package data
        raise ScriptError(f"no avatar named and the default presenter is missing from the install "
                          f"({DEFAULT_PRESENTER}.png); reinstall avatarkit or set defaults.avatar")
    return found


def _renderer(ctx: _Ctx, m: _Map, field: str, default: str | None) -> str | None:
    v = ctx.get(m, "renderer", str, field, default=default)
    if v is not None and v not in RENDERERS:
        raise ctx.err(f"unknown renderer {short_repr(v)}; expected one of {', '.join(RENDERERS)}",
                      m.lines.get("renderer"), f"{field}.renderer")
    return v


def _layout(ctx: _Ctx, m: _Map, field: str, default: str) -> str:
    v = ctx.get(m, "layout", str, field, default=default)
    if v not in LAYOUTS:
        raise ctx.err(f"unknown layout {short_repr(v)}; expected one of {', '.join(LAYOUTS)}",
                      m.lines.get("layout"), f"{field}.layout")
    return v


def _background(ctx: _Ctx, m: _Map, field: str, default: Background | None) -> Background | None:
    raw = ctx.get(m, "background", (str, dict), field)
    f = f"{field}.background"
    if raw is None:
        return default
    line = m.lines["background"]
    if isinstance(raw, str):
        if raw.startswith("#"):
            raw_map = {"kind": "solid", "colors": [raw]}
        else:
            raw_map = {"kind": raw}
    else:
        ctx.check_keys(raw, {"kind", "colors", "color", "drift"}, f)
        raw_map = dict(raw)
        if "color" in raw_map:
            raw_map["colors"] = [raw_map.pop("color")]
    kind = raw_map.get("kind")
    if kind not in BACKGROUND_KINDS:
        raise ctx.err(f"unknown background {short_repr(kind)}; expected one of {', '.join(BACKGROUND_KINDS)} "
                      "or a colour like '#203040'", line, f)
    colors = raw_map.get("colors") or []
    if not isinstance(colors, list) or not all(isinstance(c, str) and _HEX.match(c) for c in colors):
        raise ctx.err(f"colors must be a list of '#rrggbb' strings, got {short_repr(colors)}", line, f"{f}.colors")
    need = {"solid": (1, 1), "gradient": (0, 3), "studio": (0, 2), "office": (0, 2), "blur": (0, 0),
            "photo": (0, 0)}[kind]
    if colors and not need[0] <= len(colors) <= need[1] or len(colors) < need[0]:
        raise ctx.err(f"a {kind} background takes {need[0]}-{need[1]} colours, got {len(colors)}",
                      line, f"{f}.colors")
    drift = raw_map.get("drift", False)
    if not isinstance(drift, bool):
        raise ctx.err(f"drift is true or false, got {short_repr(drift)}", line, f"{f}.drift")
    return Background(kind, tuple(colors), drift)


def _language_voice(ctx: _Ctx, language: str, data: _Map) -> str:
    """The voice of a script that names none: its language's measured default (`voices/defaults.yaml`)."""
    from ..speech.voice import voice_for_language

    try:
        found = voice_for_language(language)
    except AvatarkitError as e:
        raise ctx.err(str(e), data.lines.get("language", 1), "language") from None
    if found is None:
        raise ctx.err(f"no voice in the catalogue speaks {language}; set defaults.voice (`avatarkit voices` lists "
                      "them)", data.lines.get("language", 1), "defaults.voice")
    return found


def _voice(ctx: _Ctx, m: _Map, field: str, default: str | None) -> str | None:
    """A `voice:` field: a voice id, or an engine with settings written inline. Only Kokoro blends are
    written inline today: `{kokoro: af_heart}` or `{kokoro: {af_heart: 0.7, af_bella: 0.3}}` (a house
    voice; the weights are normalised). Returns the voice reference the catalogue resolves."""
    raw = ctx.get(m, "voice", (str, dict), field, default=default)
    if not isinstance(raw, dict):
        if raw is not None and raw is not default:
            try:
                ctx.scope.check_voice(raw)
            except ScopeRefusal as e:
                raise ctx.err(str(e), m.lines["voice"], f"{field}.voice") from None
        return raw
    f, line = f"{field}.voice", m.lines["voice"]
    if set(raw) != {"kokoro"}:
        raise ctx.err("an inline voice is {kokoro: NAME} or {kokoro: {NAME: WEIGHT, ...}}; "
                      "for other engines name a voice id", line, f)
    speaker = raw["kokoro"]
    if isinstance(speaker, str) and speaker:
        return f"kokoro:{speaker}"
    if not isinstance(speaker, dict) or not speaker:
        raise ctx.err("kokoro: takes a speaker name or a mapping of speaker names to weights", line, f)
    for name, weight in speaker.items():
        if not isinstance(name, str) or not _SPEAKER.match(name):
            raise ctx.err(f"{short_repr(name)} is not a Kokoro speaker name like af_heart", line, f"{f}.kokoro")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise ctx.err(f"the weight of {name} must be a positive number, got {short_repr(weight)}",
                          speaker.lines.get(name, line), f"{f}.kokoro.{name}")
    return "kokoro:" + ",".join(f"{name}={float(w):g}" for name, w in speaker.items())


def _segment(ctx: _Ctx, raw: Any, field: str, line: int, voice: str, base: Path) -> Segment:
    if isinstance(raw, str):
        raw_map = _Map(text=raw)
        raw_map.line, raw_map.lines = line, {"text": line}
        raw = raw_map
    if not isinstance(raw, _Map):
        raise ctx.err("a segment is text, or a mapping with text (and voice), audio or pause", line, field)
    ctx.check_keys(raw, {"text", "voice", "pause", "audio"}, field)
    if "pause" in raw and ("text" in raw or "audio" in raw):
        raise ctx.err("a pause segment has no text or audio", raw.line, field)
    if not ("text" in raw or "pause" in raw or "audio" in raw):
        raise ctx.err("a segment needs text, audio or pause", raw.line, field)
    seg_voice = _voice(ctx, raw, field, voice)
    if "audio" in raw:
        audio = ctx.path(raw, "audio", field, base, AUDIO_FILES + SLIDE_VIDEOS, "an audio file",
                         required=True)
        text = ctx.get(raw, "text", str, field, default="") or ""
        phrases = parse_text(text, file=ctx.file, line=raw.lines.get("text", raw.line),
                             field=f"{field}.text") if text.strip() else []
        # A recording is one unit of speech; its text only becomes captions.
        words = tuple(w for ph in phrases for w in ph.words)
        return Segment([Phrase(words, (), 0)], seg_voice, text, raw.line, audio=audio)
    if "pause" in raw:
        try:
            ms = parse_duration_ms(raw["pause"])
        except ValueError as e:
            raise ctx.err(str(e), raw.lines["pause"], f"{field}.pause") from None
        return Segment([Phrase((), (), ms)], seg_voice, "", raw.line)
    text = ctx.get(raw, "text", str, field, required=True)
    first = raw.lines["text"]
    if len(text) > MAX_SEGMENT_CHARS:
        raise ctx.err(f"text is {len(text)} characters; a segment holds at most {MAX_SEGMENT_CHARS} (about "
                      f"{MAX_SEGMENT_CHARS // 900} minutes of speech): split it into several segments", first, f"{field}.text")
    phrases = parse_text(text, file=ctx.file, line=first, field=f"{field}.text")
    if not phrases:
        raise ctx.err("text is empty", first, f"{field}.text")
    for ph in phrases:
        if len(ph.words) > MAX_PHRASE_WORDS:
            raise ctx.err(f"a sentence of {len(ph.words)} words with no full stop, question mark or other break "
                          f"(at most {MAX_PHRASE_WORDS}): a voice speaks a sentence in one go", first, f"{field}.text")
    return Segment(phrases, seg_voice, text, raw.line)


def _lexicon(ctx: _Ctx, data: _Map) -> Lexicon:
    raw = ctx.get(data, "lexicon", dict, "", default=None)
    lex = Lexicon()
    if raw is None:
        return lex
    for lang, table in raw.items():
        f = f"lexicon.{lang}"
        if not is_language_tag(lang):
            raise ctx.err(f"{short_repr(lang)} is not a language tag like en or de-DE (of a known language)", raw.lines.get(lang), f)
        if not isinstance(table, _Map):
            raise ctx.err("expected a mapping of word: respelling or word: {say, ipa}", raw.lines[lang], f)
        out = {}
        for word, entry in table.items():
            wf = f"{f}.{word}"
            wl = table.lines[word]
            if isinstance(entry, str):
                e = LexiconEntry(say=entry)
            elif isinstance(entry, _Map):
                ctx.check_keys(entry, {"say", "ipa"}, wf)
                say = ctx.get(entry, "say", str, wf)
                ipa = ctx.get(entry, "ipa", str, wf)
                if not say and not ipa:
                    raise ctx.err("give say (a respelling) or ipa (phonemes)", wl, wf)
                e = LexiconEntry(say=say, ipa=ipa)
            else:
                raise ctx.err("expected a respelling string or {say, ipa}", wl, wf)
            out[str(word).casefold()] = e
        lex.entries[lang.casefold()] = out
    return lex


def _languages(ctx: _Ctx, data: _Map, source: str) -> tuple[LanguageSpec, ...]:
    raw = ctx.get(data, "languages", dict, "")
    if raw is None:
        return ()
    out = []
    for code, spec in raw.items():
        f = f"languages.{code}"
        line = raw.lines.get(code)
        if not is_language_tag(code):
            raise ctx.err(f"{short_repr(code)} is not a language tag like de or pt-BR (of a known language)", line, f)
        if code.casefold() == source.casefold():
            raise ctx.err(f"{code} is the script's own language; list only the languages it is translated into", line, f)
        if spec is None or isinstance(spec, str):
            if spec is not None:
                try:
                    ctx.scope.check_voice(spec)
                except ScopeRefusal as e:
                    raise ctx.err(str(e), line, f) from None
            out.append(LanguageSpec(code, spec))
            continue
        if not isinstance(spec, _Map):
            raise ctx.err("expected a voice id, or a mapping with voice", line, f)
        ctx.check_keys(spec, {"voice"}, f)
        out.append(LanguageSpec(code, _voice(ctx, spec, f, None)))
    return tuple(out)


def _glossary(ctx: _Ctx, data: _Map) -> tuple[GlossaryTerm, ...]:
    raw = ctx.get(data, "glossary", dict, "")
    if raw is None:
        return ()
    out = []
    for term, spec in raw.items():
        f = f"glossary.{term}"
        line = raw.lines.get(term)
        if spec is None:
            spec = _Map()
            spec.line, spec.lines = line, {}
        if not isinstance(spec, _Map):
            raise ctx.err("expected a mapping: translate: false, language: rendering, note", line, f)
        translate = ctx.get(spec, "translate", bool, f, default=True)
        note = ctx.get(spec, "note", str, f, default="")
        targets = []
        for k, v in spec.items():
            if k in ("translate", "note"):
                continue
            if not is_language_tag(k) or not isinstance(v, str):
                raise ctx.err(f"unknown field {short_repr(k)}: expected translate, note, or a language tag with its rendering",
                              spec.lines.get(k, line), f"{f}.{k}")
            targets.append((k, v))
        if not translate and targets:
            raise ctx.err("a term kept as is (translate: false) has no renderings", line, f)
        out.append(GlossaryTerm(str(term), translate, tuple(targets), note))
    return tuple(out)
