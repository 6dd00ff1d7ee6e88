"""A course: one script in all its languages, rendered and packaged for an LMS in one call.

`render_course` renders the script once per language (the source and every
translation the script lists), each with its own voice, so every
language's timing follows its own audio. A finished language is kept
with a small record of what it was made from (the script, its
translations, the brand kit, the frame size); a rerun renders only the
languages whose inputs changed or whose render did not finish, so a crash
in a twenty-language batch loses at most the language in progress.
Finished renditions are also kept in a render cache by the digest of
everything they are made from (`cache`), so `export_course` after
`render_course`, or the same course rendered into another folder, copies
(hard-links) them instead of rendering again. `export_course` then packages
the renditions (SCORM 1.2, SCORM 2004, cmi5 or HTML5) with the captions of
every language.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import AvatarkitError, ScriptError, VoiceError
from ..localize.apply import load_language
from ..script.model import Script
from ..script.parse import load_script
from ..utils.files import write_text_atomic
from .cache import ROLES, Hasher, RenderCache, default_cache_dir, file_facts, matches, place_file, rendition_key
from .core import ProgressEvent, RenderResult, render

RECORD_VERSION = 2
CACHE_ENV = "AVATARKIT_RENDER_CACHE"


@dataclass(frozen=True)
class CourseProgress:
    """Sent as a course renders: which language (`index` of `total`), and that language's own progress."""

    language: str
    index: int
    total: int
    event: ProgressEvent | None = None
    reused: bool = False
    reused_from: str = ""       # "out" (its own record), "folder" (another folder's record) or "cache"


def course_languages(script: Script, languages: str | list[str] | None = "all") -> list[str]:
    """The languages to render: "all" (the source, then every listed translation), a list, or "de,fr"."""
    from ..localize import script_languages

    known = script_languages(script)
    if languages in (None, "all"):
        return known
    wanted = [x.strip() for x in languages.split(",")] if isinstance(languages, str) else list(languages)
    for lang in wanted:
        if lang not in known:
            raise AvatarkitError(f"language {lang!r} is not one of this script's languages ({', '.join(known)}); "
                                 "add it under `languages:` in the script")
    return wanted


def render_cache(cache: bool | str | Path | None = True) -> RenderCache | None:
    """The render cache to use: `True` is `$AVATARKIT_RENDER_CACHE` if set (`off` or `0`: none), else
    `$AVATARKIT_HOME/cache/renders`; a folder is that folder; `False` or None is no cache."""
    if cache is None or cache is False:
        return None
    if cache is True:
        env = os.environ.get(CACHE_ENV)
        if env is not None:
            return None if env.strip().lower() in ("", "0", "off", "no", "false") else RenderCache(Path(env))
        return RenderCache(default_cache_dir())
    return RenderCache(Path(cache))


def check_course(script_path: str | Path, *, brand: str | Path | None = None,
                 languages: str | list[str] | None = None, faces: bool = True) -> dict[str, Script]:
    """Check everything a render of `script_path` needs, without rendering; return the script by language.

    The script's format, each language's translation (`languages`: None for
    the source alone, "all", or a list), every voice (its engine made, the
    text readable by it), every avatar (`faces`: a photo's face is found),
    recordings, slides and the brand kit (`brand`, else the script's). Raises
    the `AvatarkitError` a render would, naming the file, line and field.
    Files resolve under the current scope (`script.scope.using`).
    """
    from ..audio.io import audio_info
    from ..compose.staging import check_staging, resolve_brand
    from ..face.avatar import open_avatar
    from ..localize import load_localized
    from ..speech.engines.base import make_engine
    from ..speech.phrases import check_readable
    from ..speech.voice import get_voice

    script_path = Path(script_path)
    base = load_script(script_path)
    langs = [base.language] if languages is None else course_languages(base, languages)
    scripts = {lang: base if lang == base.language else load_localized(script_path, lang) for lang in langs}
    for s in scripts.values():
        voices: dict = {}
        for i, sc in enumerate(s.scenes):
            for j, seg in enumerate(sc.segments):
                if seg.voice in voices:
                    continue
                try:
                    voices[seg.voice] = v = get_voice(seg.voice)
                    make_engine(v)
                except VoiceError as e:     # said where the voice is named, as a script error is
                    raise ScriptError(str(e), file=s.source, line=seg.line,
                                      field=f"scenes[{i}].segments[{j}].voice") from None
        check_readable(s, voices)
    for i, sc in enumerate(base.scenes):
        if sc.avatar.is_dir():
            if sc.renderer == "diffusion":
                from ..render.diffusion import check_trained

                check_trained(sc.avatar)
            else:
                open_avatar(sc.avatar)
        elif faces:
            from ..face.rig import load_avatar
            from .core import scene_rig

            scene_rig(base, i, load_avatar)
        for seg in sc.segments:
            if seg.audio:
                audio_info(seg.audio)
    check_staging(base)
    resolve_brand(base, brand)
    return scripts


def voice_language_warnings(script) -> list[str]:
    """One line per voice whose language is not the script's (`voice: en-us-joe` speaking a `language: de`
    script reads German with English sounds), naming the first segment that uses it. A warning, not an
    error: a quotation in another language is spoken by a voice of that language on purpose."""
    from ..speech.voice import get_voice

    want = script.language.split("-")[0].lower()
    out, seen = [], set()
    for i, sc in enumerate(script.scenes):
        for j, seg in enumerate(sc.segments):
            if seg.audio or seg.voice in seen:
                continue
            seen.add(seg.voice)
            spoken = get_voice(seg.voice).language
            if spoken.split("-")[0].lower() != want:
                out.append(f"scenes[{i}].segments[{j}]: voice {seg.voice} speaks {spoken}, the script is in "
                           f"{script.language}")
    return out


def render_course(script_path: str | Path, out_dir: str | Path, *, languages: str | list[str] | None = "all",
                  brand: str | Path | None = None, resolution: tuple[int, int] | None = None,
                  captions: bool | None = None, renderer: str | None = None, force: bool = False,
                  executor: str = "local", ray_address: str | None = None,
                  progress: Callable[[CourseProgress], None] | None = None,
                  cache: bool | str | Path | None = True, reuse_from: list[str | Path] | tuple = ()
                  ) -> dict[str, RenderResult]:
    """Render `script_path` in each language into `out_dir` as `<name>.<lang>.mp4` (+ .vtt, .srt, .jpg).

    Returns the results by language. A language is reused, unless `force`,
    when a finished rendition of exactly its inputs (`cache.rendition_key`)
    is found: its record in `out_dir` (`<name>.<lang>.json`), a record in one
    of the `reuse_from` folders, or the render cache (`cache`: True for
    `render_cache()`'s default, a folder, or False for none); files found
    elsewhere are hard-linked or copied into `out_dir`, each checked against
    the size and SHA-256 its record holds. Every new rendition is put in the
    cache. `resolution` (pixels) and `captions` override the script's.
    `executor` is `local` (one language after another in this process) or
    `ray` (every scene of every language a task on the Ray cluster at
    `ray_address`, or on a local Ray instance when None; the videos are the
    same).
    """
    script_path, out_dir = Path(script_path), Path(out_dir)
    if executor not in ("local", "ray"):
        raise AvatarkitError(f"unknown executor {executor!r}; expected local or ray")
    base = load_script(script_path)
    langs = course_languages(base, languages)
    brand_path = Path(brand) if brand else base.brand
    extra = {"resolution": list(resolution) if resolution else None, "captions": captions, "renderer": renderer}
    # Load every language first: a missing translation stops the batch before anything renders.
    scripts = {lang: load_language(script_path, lang, extra) for lang in langs}
    store = render_cache(cache)
    hasher = Hasher()
    results: dict[str, RenderResult] = {}
    todo: list[str] = []
    keys: dict[str, str] = {}
    for k, lang in enumerate(langs):
        keys[lang] = key = rendition_key(scripts[lang], brand_path, renderer, hasher)
        found = None if force else _reuse(scripts[lang], lang, key, out_dir, reuse_from, store)
        if found is not None:
            record, where = found
            results[lang] = _result_from_record(record)
            if progress:
                progress(CourseProgress(lang, k, len(langs), reused=True, reused_from=where))
        else:
            todo.append(lang)

    def keep(lang: str, r: RenderResult) -> None:
        record = _record(r, keys[lang], scripts[lang])
        write_text_atomic(out_dir / f"{scripts[lang].name}.{lang}.json", json.dumps(record, indent=2))
        if store is not None:
            store.put(keys[lang], {role: getattr(r, role) for role in ROLES}, record)
        results[lang] = r

    if executor == "ray" and todo:
        from .scale import render_on_ray

        options = dict(extra, brand=_relative_brand(brand_path, script_path))

        def moved(lang: str, done: int, total: int, video_s: float) -> None:
            if progress:
                progress(CourseProgress(lang, langs.index(lang), len(langs), ProgressEvent(done, total, video_s)))

        render_on_ray(script_path, todo, out_dir, options, ray_address, on_done=keep, on_part=moved)
        return {lang: results[lang] for lang in langs}
    for lang in todo:
        k = langs.index(lang)

        def each(ev: ProgressEvent, lang=lang, k=k) -> None:
            if progress:
                progress(CourseProgress(lang, k, len(langs), ev))

        keep(lang, render(scripts[lang], out_dir, renderer=renderer, progress=each, brand=brand_path))
    return {lang: results[lang] for lang in langs}


def _reuse(s: Script, lang: str, key: str, out_dir: Path, folders, store: RenderCache | None
           ) -> tuple[dict, str] | None:
    """A finished rendition of `key` in `out_dir` (its record, "out"), else one placed there from another
    folder's record ("folder") or from the cache ("cache"); None when none is found whose files still match."""
    name = f"{s.name}.{lang}"                        # the record's name; the files are named as `render` names them
    outs = _outputs(out_dir, f"{s.name}.{s.language}")
    own = _read_record(out_dir / f"{name}.json", out_dir)
    if own and own.get("inputs") == key and _files_match(own):
        return own, "out"
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir() or folder.resolve() == out_dir.resolve():
            continue
        other = _read_record(folder / f"{name}.json", folder)
        if other and other.get("inputs") == key and isinstance(other.get("files"), dict) and _place(other, outs):
            return _placed(other, outs, s, key, out_dir / f"{name}.json"), "folder"
    if store is not None:
        record = store.take(key, outs)
        if record is not None:
            return _placed(record, outs, s, key, out_dir / f"{name}.json"), "cache"
    return None


def _outputs(out_dir: Path, name: str) -> dict[str, Path]:
    """Where each output of the rendition `name` (`<script>.<lang>`) goes in `out_dir`, by role."""
    return {role: out_dir / f"{name}.{ROLES[role].rsplit('.', 1)[1]}" for role in ROLES}


def _files_match(record: dict) -> bool:
    """Whether every file a record names is still there, with the size and SHA-256 it records."""
    files = record.get("files")
    return isinstance(files, dict) and "video" in files and \
        all(role in ROLES and matches(Path(record[role]), facts) for role, facts in files.items())


def _place(record: dict, outs: dict[str, Path]) -> bool:
    """Link or copy the files another folder's record names to `outs`, each verified; False on any mismatch."""
    if "video" not in record["files"]:
        return False
    outs["video"].parent.mkdir(parents=True, exist_ok=True)
    return all(role in ROLES and place_file(Path(record[role]), outs[role], facts)
               for role, facts in record["files"].items())


def _placed(record: dict, outs: dict[str, Path], s: Script, key: str, path: Path) -> dict:
    """The record of a rendition just placed at `outs` (naming its files there), written to `path`."""
    own = dict(record, inputs=key, title=s.title, language=s.language, **{role: str(outs[role]) for role in ROLES})
    write_text_atomic(path, json.dumps(own, indent=2))
    return own


def _relative_brand(brand: Path | None, script_path: Path) -> str | None:
    """The brand kit as a path inside the script's folder, which is what travels to the cluster."""
    if brand is None:
        return None
    try:
        return Path(brand).resolve().relative_to(script_path.parent.resolve()).as_posix()
    except ValueError:
        raise AvatarkitError(f"brand kit {brand}: for the ray executor it must be inside the script's folder "
                             f"({script_path.parent})") from None


def _record(r: RenderResult, key: str, s: Script) -> dict:
    """What a finished language was made from (`inputs`), its files with their size and SHA-256, and its figures."""
    return {"inputs": key, "title": s.title, "language": s.language, "video": str(r.video), "vtt": str(r.vtt),
            "srt": str(r.srt), "thumbnail": str(r.thumbnail), "frames": r.frames, "fps": r.fps,
            "scenes": r.scenes, "wall_s": r.wall_s, "timings": r.timings,
            "files": {role: file_facts(Path(getattr(r, role))) for role in ROLES}}


def _read_record(path: Path, out_dir: Path) -> dict | None:
    """A language's record, or None when it is unreadable or names a file outside `out_dir` (not one we wrote)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "inputs" not in data:
        return None
    root = out_dir.resolve()
    for k in ("video", "vtt", "srt", "thumbnail"):
        if not isinstance(data.get(k), str) or not Path(data[k]).resolve().is_relative_to(root):
            return None
    return data


def _result_from_record(d: dict) -> RenderResult:
    return RenderResult(video=Path(d["video"]), vtt=Path(d["vtt"]), srt=Path(d["srt"]), thumbnail=Path(d["thumbnail"]),
                        frames=d["frames"], fps=d["fps"], timings=d.get("timings", {}), wall_s=d.get("wall_s", 0.0),
                        scenes=[tuple(x) for x in d.get("scenes", [])])


def export_course(script_path: str | Path, out: str | Path, *, format: str, languages: str | list[str] | None = "all",
                  renders: str | Path | None = None, brand: str | Path | None = None,
                  resolution: tuple[int, int] | None = None, captions: bool | None = None,
                  completion: float = 0.9, force: bool = False, executor: str = "local",
                  ray_address: str | None = None, progress: Callable[[CourseProgress], None] | None = None,
                  cache: bool | str | Path | None = True) -> Path:
    """Render (or reuse) every language of a course and package it as `format` at `out`.

    `renders` is the folder of renditions (default `<out stem>.renders/`
    beside `out`; then what `render_course` made in `out`'s own folder is
    reused too, as is anything in the render `cache`); `completion` is the
    share of the video a learner must have watched for the LMS to record it
    as completed.
    """
    from ..export import Rendition, export_package
    from ..export.package import check_target
    from ..localize import load_localized

    out = Path(out)
    check_target(out, format, completion)      # before any rendering: minutes of it for a bad option
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AvatarkitError(f"out: cannot make the folder {out.parent} ({e.strerror})") from None
    folder = Path(renders) if renders else out.with_name(f"{out.stem}.renders")
    results = render_course(script_path, folder, languages=languages, brand=brand, resolution=resolution,
                            captions=captions, force=force, executor=executor, ray_address=ray_address,
                            progress=progress, cache=cache, reuse_from=() if renders else (out.parent,))
    renditions = []
    for lang, r in results.items():
        s = load_localized(script_path, lang)
        renditions.append(Rendition(language=lang, video=r.video, captions=r.vtt, title=s.title,
                                    duration=r.frames / r.fps, thumbnail=r.thumbnail, srt=r.srt))
    base = load_script(script_path)
    return export_package(renditions, out, format=format, course_id=f"urn:avatarkit:course:{base.name}",
                          title=base.title, completion=completion)
