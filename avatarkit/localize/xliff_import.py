"""XLIFF import: translations back from a translator's tool into the translations file.

Reads XLIFF 2.0/2.1 (`urn:oasis:names:tc:xliff:document:2.0`) and 1.2 (or
1.1, or 1.x without a namespace), whichever the file is. Units are matched
to the script by id (2.0 `name`, else `id`; 1.2 `resname`, else `id`);
segments a tool split a unit into are joined again. Placeholders become
the tags they stand for (from `<originalData>`, the source's code of the
same id, or `disp` / `equiv-text`), paired codes become `*emphasis*` and
markers their text. Each translated narration must parse as script text:
a bad one stops the import, naming the file, the line and the unit id,
and nothing is saved. Lost do-not-translate terms, changed tags and
glossary renderings not used are warnings.

`xliff_script` finds the script a file was exported from by the file's own
record of it (see `xliff.py`), so a command needs only the XLIFF file.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ..errors import AvatarkitError, ScriptError
from ..script.markup import parse_text
from ..script.model import Script
from .inline import Code, Span, codes, join_markup
from .store import Entry, Store, save_store, script_store
from .strings import Unit, check_language, dnt_terms, missing_terms, normalize, primary, same_language, terms_in, units
from .xliff import AVK, MACHINE, XLF1, XLF2

_XLF11 = "urn:oasis:names:tc:xliff:document:1.1"
_UNTRANSLATED = {"initial", "new", "needs-translation"}


@dataclass
class LanguageImport:
    """What one language of an XLIFF file brought, by unit id.

    `translated`: stored; `stale`: translated from a source text the script no
    longer has (stored as stale unless an up-to-date translation exists);
    `missing`: in the file without a translation; `unknown`: in the file but
    not in the script; `not_in_file`: in the script but not in the file.
    """

    language: str
    translated: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    not_in_file: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """The outcome of `import_xliff`: the file, its XLIFF version, a report per target language, and the
    translations file written (None for a store that has no file)."""

    path: Path
    version: str
    languages: dict[str, LanguageImport]
    store: Path | None = None

    @property
    def warnings(self) -> list[str]:
        return [w for rep in self.languages.values() for w in rep.warnings]


@dataclass
class _Row:
    uid: str
    source: list                  # inline items
    target: list | None
    machine: bool
    untranslated: bool            # the tool's state says nobody translated it yet
    line: int | None


def import_xliff(script: Script, path: str | Path, store: Store | None = None) -> ImportReport:
    """Read translations from the XLIFF file at `path` into `store` (default: the script's translations file,
    saved afterwards); see the module doc. Raises `ScriptError` naming the file for bad files and bad markup."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise AvatarkitError(f"{path}: cannot read the XLIFF file: {e.strerror or e}") from None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as e:
        raise ScriptError(f"not well-formed XML: {e.msg}", file=path, line=e.lineno) from None
    q = etree.QName(root)
    ver = root.get("version", "")
    if q.localname != "xliff":
        raise ScriptError(f"not an XLIFF file: the root element is <{q.localname}>", file=path, line=root.sourceline)
    if q.namespace == XLF2 or (not q.namespace and ver.startswith("2")):
        version, files = "2.0" if not ver else ver, _read2(root, path, script)
    elif q.namespace in (XLF1, _XLF11) or (not q.namespace and ver.startswith("1")):
        version, files = ver or "1.2", _read1(root, path, script)
    else:
        raise ScriptError(f"unsupported XLIFF namespace {q.namespace!r} (version {ver!r}); avatarkit reads 1.2 and 2.0",
                          file=path, line=root.sourceline)

    store = store if store is not None else script_store(script)
    by_id = {u.id: u for u in units(script)}
    keep = dnt_terms(script)
    by_lang: dict[str, list[_Row]] = {}
    for lang, rows in files:
        by_lang.setdefault(lang, []).extend(rows)
    reports: dict[str, LanguageImport] = {}
    pending: list[tuple[str, str, Entry]] = []
    for lang, rows in by_lang.items():
        rep = reports[lang] = LanguageImport(lang)
        if not any(same_language(s.code, lang) for s in script.languages):
            rep.warnings.append(f"{lang} is not listed under languages: in {script.name}; add it there with its voice")
        latest: dict[str, _Row] = {}
        for row in rows:
            if row.uid in latest:
                rep.warnings.append(f"{row.uid}: in the file twice; the last one counts")
            latest[row.uid] = row
        for row in latest.values():
            unit = by_id.get(row.uid)
            if unit is None:
                rep.unknown.append(row.uid)
                continue
            entry = _check(row, unit, lang, script, keep, path, rep)
            if entry is None:
                rep.missing.append(row.uid)
                continue
            old = store.get(lang, unit.id)
            # A machine translation someone edited in the tool is theirs now.
            entry.machine = entry.machine and (old is None or old.text == entry.text)
            if entry.source == unit.text:
                rep.translated.append(row.uid)
            else:
                rep.stale.append(row.uid)
                if store.current(lang, unit) is not None:
                    continue         # never replace an up-to-date translation with one of an older text
            pending.append((lang, unit.id, entry))
        rep.not_in_file = [uid for uid in by_id if uid not in latest]
    rows_in_file = sum(len(r.unknown) + len(r.translated) + len(r.stale) + len(r.missing) for r in reports.values())
    known = sum(len(r.translated) + len(r.stale) + len(r.missing) for r in reports.values())
    if rows_in_file and known * 2 < rows_in_file:
        # Most of the file's strings are not this script's: it was exported from another one.
        raise ScriptError(f"{rows_in_file - known} of its {rows_in_file} strings are not in {script.name} "
                          f"(ids such as {', '.join(next(r.unknown for r in reports.values() if r.unknown)[:3])}): "
                          "it was exported from another script; import it into that one", file=path)
    # Everything checked: only now touch the store, so a bad file changes nothing.
    for lang, uid, entry in pending:
        store.put(lang, uid, entry)
    if store.path is not None and pending:
        store.source_language = store.source_language or script.language
        save_store(store.path, store)
    return ImportReport(path, version, reports, store.path)


def xliff_script(path: str | Path) -> tuple[Path, bool]:
    """The script the XLIFF file at `path` was exported from, and whether it is unchanged since.

    The file records the script's path relative to itself (`<file original>`)
    and its SHA-256 (`avk:sha256`); the path is tried beside the file, then
    from the current folder. A script with the recorded hash is the one. A
    file whose hash does not match (the script was edited since, or a tool
    dropped the attribute, or an older avatarkit wrote only the name) is
    taken only when at least half of the file's string ids are the script's,
    so a different script of the same name is never picked. Otherwise an
    `AvatarkitError` says what to pass (`--script`).
    """
    from ..script import load_script
    from ..utils.files import sha256_file

    path = Path(path)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.parse(str(path), parser).getroot()
    except (OSError, etree.XMLSyntaxError) as e:
        raise AvatarkitError(f"{path}: not a readable XLIFF file ({e})") from None
    el = next((x for x in root.iter() if isinstance(x.tag, str) and etree.QName(x).localname == "file"), None)
    original = el.get("original") if el is not None else None
    digest = el.get(f"{{{AVK}}}sha256") if el is not None else None
    give = f"name the script: avatarkit localize import {path} --script SCRIPT.yaml"
    if not original:
        raise AvatarkitError(f"{path}: the file does not say which script it was exported from; {give}")
    found: list[Path] = []
    for cand in (path.parent / original, Path(original)):
        if cand.is_file() and all(not cand.samefile(f) for f in found):
            plain = Path(os.path.normpath(cand))         # out/../samples/course.yaml -> samples/course.yaml
            found.append(plain if plain.is_file() and plain.samefile(cand) else cand)
    if not found:
        raise AvatarkitError(f"{path}: exported from {original}, which is neither at {path.parent / original} nor "
                             f"at {Path.cwd() / original}; {give}")
    if digest:
        for cand in found:
            if sha256_file(cand) == digest:
                return cand, True
    ids = {u.get("name") or u.get("resname") or u.get("id") for u in root.iter()
           if isinstance(u.tag, str) and etree.QName(u).localname in ("unit", "trans-unit")}
    ids.discard(None)
    for cand in found:
        known = {u.id for u in units(load_script(cand))}
        if ids and 2 * len(ids & known) >= len(ids):
            return cand, False
    raise AvatarkitError(f"{path}: exported from {original}, but {found[0]} is another script (its strings are not "
                         f"the file's); {give}")


def _check(row: _Row, unit: Unit, lang: str, script: Script, keep: tuple[str, ...], path: Path,
           rep: LanguageImport) -> Entry | None:
    """The store entry for one translated row, or None when it has no translation; bad markup raises."""
    source = normalize(join_markup(row.source), unit.kind)
    if row.target is None:
        return None
    # Tags and emphasis a tool glued to words are set apart again, in text that has markup.
    text = normalize(join_markup(row.target, spaced=unit.markup), unit.kind)
    if not text:
        return None
    if row.untranslated and text == source:
        return None                      # a tool copied the source over and nobody translated it
    if unit.markup:
        phrases = parse_text(text, file=path, line=row.line, field=f"unit {unit.id}")
        if not any(p.words for p in phrases):
            raise ScriptError("the translation has no words, only tags", file=path, line=row.line,
                              field=f"unit {unit.id}")
        src_codes, tgt_codes = codes(row.source), codes(row.target)
        if Counter(src_codes) != Counter(tgt_codes):
            rep.warnings.append(f"{unit.id}: the translation's pauses and gestures ({' '.join(tgt_codes) or 'none'})"
                                f" differ from the source's ({' '.join(src_codes) or 'none'})")
    if unit.max_chars and len(text) > unit.max_chars:
        rep.warnings.append(f"{unit.id}: the translation is {len(text)} characters, over the {unit.max_chars} that fit "
                            "on screen; it will be shortened with '…' when rendered")
    for term in missing_terms(source, text, keep):
        rep.warnings.append(f"{unit.id}: the term '{term}' must stay as written but is not in the translation")
    for term in terms_in(source, script.glossary):
        want = term.target(lang) if term.translate else None
        if want and want.casefold() not in text.casefold():
            rep.warnings.append(f"{unit.id}: the glossary renders '{term.term}' as '{want}', not found in the translation")
    return Entry(text, source, row.machine)


def _lang(el, attr: str, path: Path, what: str) -> str:
    code = el.get(attr)
    if not code:
        raise ScriptError(f"no {what} language ({attr})", file=path, line=el.sourceline, field=attr)
    try:
        return check_language(code)
    except ScriptError as e:
        raise ScriptError(e.message, file=path, line=el.sourceline, field=attr) from None


def _check_pair(src: str, trg: str, el, script: Script, path: Path, src_attr: str) -> str:
    if primary(src) != primary(script.language):
        raise ScriptError(f"the file translates from {src}, but the script {script.name} is in {script.language}",
                          file=path, line=el.sourceline, field=src_attr)
    if same_language(trg, script.language):
        raise ScriptError(f"the target language {trg} is the script's own language", file=path, line=el.sourceline)
    return next((s.code for s in script.languages if same_language(s.code, trg)), trg)


def _read2(root, path: Path, script: Script) -> list[tuple[str, list[_Row]]]:
    src = _lang(root, "srcLang", path, "source")
    trg = _lang(root, "trgLang", path, "target")
    lang = _check_pair(src, trg, root, script, path, "srcLang")
    rows = []
    for unit in root.iter(f"{{{XLF2}}}unit"):
        uid = unit.get("name") or unit.get("id") or ""
        data = {d.get("id"): "".join(d.itertext()) for d in unit.iter(f"{{{XLF2}}}data")}
        sources, targets, states, subs, line = [], [], [], [], None
        complete = True
        for part in unit:
            kind = etree.QName(part).localname
            if kind not in ("segment", "ignorable"):
                continue
            s = part.find(f"{{{XLF2}}}source")
            t = part.find(f"{{{XLF2}}}target")
            sources.append(s)
            if t is None and kind == "segment":
                complete = False
            targets.append(t if t is not None else s)      # an ignorable's target defaults to its source
            if kind == "segment":
                states.append(part.get("state", "initial"))
                subs.append(part.get("subState"))
                if t is not None and line is None:
                    line = t.sourceline
        src_codes = {}
        for s in sources:
            for ph in s.iter(f"{{{XLF2}}}ph") if s is not None else ():
                src_codes[ph.get("id")] = data.get(ph.get("dataRef")) or ph.get("disp")
        src_items = [it for s in sources if s is not None for it in _inline2(s, data, src_codes, path, uid)]
        tgt_items = [it for t in targets if t is not None for it in _inline2(t, data, src_codes, path, uid)] \
            if complete and sources else None
        rows.append(_Row(uid, src_items, tgt_items,
                         bool(subs) and all(s == MACHINE for s in subs), all(s == "initial" for s in states),
                         line or unit.sourceline))
    return [(lang, rows)]


def _inline2(el, data: dict, src_codes: dict, path: Path, uid: str) -> list:
    out: list = [el.text] if el.text else []
    for child in el:
        if not isinstance(child.tag, str):        # a comment or processing instruction
            pass
        else:
            tag = etree.QName(child).localname
            if tag == "ph":
                raw = data.get(child.get("dataRef")) or src_codes.get(child.get("id")) or child.get("disp")
                if not raw:
                    raise ScriptError(f"placeholder <ph id=\"{child.get('id')}\"> is not in the source and says "
                                      "nothing about what it stands for", file=path, line=child.sourceline,
                                      field=f"unit {uid}")
                out.append(Code(raw))
            elif tag == "pc":
                out.append(Span(tuple(_inline2(child, data, src_codes, path, uid))))
            elif tag in ("sc", "ec"):
                out.append("*")            # emphasis split across segments: its opening or closing mark
            elif tag == "cp":
                out.append(chr(int(child.get("hex", "20"), 16)))
            elif tag == "mrk":
                out += _inline2(child, data, src_codes, path, uid)
            elif tag not in ("sm", "em"):
                raise ScriptError(f"unexpected <{tag}> in the text", file=path, line=child.sourceline,
                                  field=f"unit {uid}")
        if child.tail:
            out.append(child.tail)
    return out


def _read1(root, path: Path, script: Script) -> list[tuple[str, list[_Row]]]:
    ns = etree.QName(root).namespace
    tag = (lambda name: f"{{{ns}}}{name}") if ns else (lambda name: name)
    out: dict[str, list[_Row]] = {}
    for f in root.iter(tag("file")):
        src = _lang(f, "source-language", path, "source")
        trg = _lang(f, "target-language", path, "target")
        lang = _check_pair(src, trg, f, script, path, "source-language")
        rows = out.setdefault(lang, [])
        for tu in f.iter(tag("trans-unit")):
            uid = tu.get("resname") or tu.get("id") or ""
            s = tu.find(tag("source"))
            t = tu.find(tag("target"))
            src_codes = {x.get("id"): x.get("equiv-text") for x in s.iter(tag("x"))} if s is not None else {}
            src_items = _inline1(s, src_codes, path, uid) if s is not None else []
            tgt_items = _inline1(t, src_codes, path, uid) if t is not None else None
            state = t.get("state", "") if t is not None else ""
            rows.append(_Row(uid, src_items, tgt_items,
                             t is not None and t.get("state-qualifier") == "mt-suggestion", state in _UNTRANSLATED,
                             t.sourceline if t is not None else tu.sourceline))
    return list(out.items())


def _inline1(el, src_codes: dict, path: Path, uid: str) -> list:
    out: list = [el.text] if el.text else []
    for child in el:
        if isinstance(child.tag, str):
            tag = etree.QName(child).localname
            if tag == "x":
                raw = src_codes.get(child.get("id")) or child.get("equiv-text")
                if not raw:
                    raise ScriptError(f"placeholder <x id=\"{child.get('id')}\"> is not in the source and says nothing "
                                      "about what it stands for", file=path, line=child.sourceline, field=f"unit {uid}")
                out.append(Code(raw))
            elif tag == "g":
                out.append(Span(tuple(_inline1(child, src_codes, path, uid))))
            elif tag in ("bx", "ex"):
                out.append("*")
            elif tag in ("mrk", "ph", "bpt", "ept", "it", "sub"):
                # Markers hold translatable text; 1.2's native-code elements hold the code itself.
                out += _inline1(child, src_codes, path, uid) if tag == "mrk" else ["".join(child.itertext())]
            else:
                raise ScriptError(f"unexpected <{tag}> in the text", file=path, line=child.sourceline,
                                  field=f"unit {uid}")
        if child.tail:
            out.append(child.tail)
    return out
