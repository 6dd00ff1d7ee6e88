"""The translations of a script: a YAML file beside it, `<stem>.translations.yaml`.

    avatarkit: 1
    script: course.yaml
    language: en                     # the source language the translations were made from
    translations:
      de:
        title:
          text: Willkommen bei avatarkit
          source: Welcome to avatarkit
        scenes.intro.segments.0.text:
          text: Hallo und willkommen. [pause 400ms] [nod] ...
          source: Hello, and welcome. [pause 400ms] [nod] ...
          machine: true              # machine-translated and not reviewed yet

Each entry keeps the source text it was translated from, so a translation
whose string has since changed in the script is known to be stale. People
may edit the file; avatarkit rewrites it (atomically) on import and on
machine translation, keeping every entry it did not touch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import AvatarkitError, ScriptError
from ..script.model import Script
from ..script.yamlmap import Ctx, Map, load_yaml, read_text
from ..utils.files import atomic_path
from .strings import Unit, check_language

STORE_VERSION = 1
SUFFIX = ".translations.yaml"
_HEADER = """\
# Translations of {script}, written by avatarkit (`avatarkit localize import` and `translate`).
# You may edit the texts. `source` is the text each translation was made from: when the script's
# text changes, the translation is stale until it is translated again. `machine: true` marks a
# machine translation nobody has reviewed yet; delete that line once a person has checked it.
"""


@dataclass
class Entry:
    """A translation (`text`), the `source` text it was made from, and whether a machine made it."""

    text: str
    source: str
    machine: bool = False
    line: int | None = field(default=None, compare=False)     # where it was read, for error messages


@dataclass
class Store:
    """Translations per language per unit id; `path` is where it was read from and is saved to."""

    languages: dict[str, dict[str, Entry]] = field(default_factory=dict)
    source_language: str | None = None
    script: str | None = None
    path: Path | None = None

    def key(self, language: str) -> str:
        """The store's spelling of `language` (tags match ignoring case), or `language` if it has none."""
        for k in self.languages:
            if k.casefold() == language.casefold():
                return k
        return language

    def table(self, language: str) -> dict[str, Entry]:
        """The entries of one language (a live dict; empty when it has none)."""
        return self.languages.setdefault(self.key(language), {})

    def get(self, language: str, uid: str) -> Entry | None:
        return self.languages.get(self.key(language), {}).get(uid)

    def put(self, language: str, uid: str, entry: Entry) -> None:
        self.table(language)[uid] = entry

    def current(self, language: str, unit: Unit) -> Entry | None:
        """The translation of `unit` if it exists, is not empty and was made from the unit's current text."""
        e = self.get(language, unit.id)
        return e if e is not None and e.text.strip() and e.source == unit.text else None

    def status(self, language: str, unit: Unit) -> str:
        """`translated`, `stale` (made from an older source text) or `missing`."""
        e = self.get(language, unit.id)
        if e is None or not e.text.strip():
            return "missing"
        return "translated" if e.source == unit.text else "stale"


def store_path(script: Script | str | Path) -> Path:
    """Where a script's translations live: `course.yaml` → `course.translations.yaml` beside it."""
    path = script.source if isinstance(script, Script) else Path(script)
    if path is None:
        raise AvatarkitError("the script was not read from a file, so its translations have no file; pass a store")
    return Path(path).with_name(Path(path).stem + SUFFIX)


def script_store(script: Script) -> Store:
    """The store beside `script`'s file (empty if there is none yet), or an empty in-memory one for a script
    built in code."""
    if script.source is None:
        return Store(source_language=script.language)
    store = load_store(store_path(script))
    if store.source_language is None:
        store.source_language = script.language
    store.script = store.script or Path(script.source).name
    return store


def load_store(path: str | Path) -> Store:
    """Read a translations file; a file that does not exist yet is an empty store. Errors name file, line, field."""
    path = Path(path)
    if not path.exists():
        return Store(path=path)
    ctx = Ctx(path)
    text = read_text(path, "translations file")
    if not text.strip():
        return Store(path=path)
    data = load_yaml(text, ctx, "a translations file (avatarkit, script, language, translations)")
    ctx.check_keys(data, {"avatarkit", "script", "language", "translations"}, "")
    version = ctx.get(data, "avatarkit", int, "", default=STORE_VERSION)
    if version != STORE_VERSION:
        raise ctx.err(f"unsupported translations version {version}; this avatarkit reads version {STORE_VERSION}",
                      data.lines["avatarkit"], "avatarkit")
    store = Store(source_language=ctx.get(data, "language", str, ""), script=ctx.get(data, "script", str, ""),
                  path=path)
    if store.source_language is not None:
        _check_tag(ctx, store.source_language, data.lines["language"], "language")
    langs = ctx.get(data, "translations", dict, "", default=Map())
    for lang, table in langs.items():
        f = f"translations.{lang}"
        _check_tag(ctx, lang, langs.lines.get(lang), f)
        if table is None:
            continue
        if not isinstance(table, Map):
            raise ctx.err("expected a mapping of string id: {text, source}", langs.lines[lang], f)
        out = store.table(str(lang))
        for uid, raw in table.items():
            uf = f"{f}.{uid}"
            line = table.lines.get(uid)
            if isinstance(raw, str):      # a bare translation, typed by hand: no source yet, so it counts as stale
                out[str(uid)] = Entry(raw, "", line=line)
                continue
            if not isinstance(raw, Map):
                raise ctx.err("expected {text, source} or the translated text", line, uf)
            ctx.check_keys(raw, {"text", "source", "machine"}, uf)
            out[str(uid)] = Entry(ctx.get(raw, "text", str, uf, default=""), ctx.get(raw, "source", str, uf, default=""),
                                  ctx.get(raw, "machine", bool, uf, default=False),
                                  line=raw.lines.get("text", line))
    return store


def _check_tag(ctx: Ctx, tag, line: int | None, field: str) -> None:
    try:
        check_language(tag if isinstance(tag, str) else repr(tag))
    except ScriptError as e:
        raise ctx.err(e.message, line, field) from None


def save_store(path: str | Path, store: Store) -> Path:
    """Write `store` to `path` atomically, with a header saying avatarkit wrote it; languages and ids keep
    their order. Returns the path."""
    path = Path(path)
    data: dict = {"avatarkit": STORE_VERSION}
    if store.script:
        data["script"] = store.script
    if store.source_language:
        data["language"] = store.source_language
    data["translations"] = {
        lang: {uid: _entry_dict(e) for uid, e in table.items()}
        for lang, table in store.languages.items() if table
    }
    body = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100, default_flow_style=False)
    header = _HEADER.format(script=store.script or path.name.removesuffix(SUFFIX) + ".yaml")
    with atomic_path(path) as tmp:
        tmp.write_text(header + body, encoding="utf-8")
    store.path = path
    return path


def _entry_dict(e: Entry) -> dict:
    d: dict = {"text": e.text, "source": e.source}
    if e.machine:
        d["machine"] = True
    return d


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, s: str):
    # Several lines read best as a literal block; everything else as yaml chooses.
    style = "|" if "\n" in s.strip("\n") and not s.endswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style=style)


_Dumper.add_representer(str, _str)
