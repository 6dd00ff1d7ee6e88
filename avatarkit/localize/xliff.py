"""XLIFF export: a script's strings for translators' tools (CAT tools), in XLIFF 2.0 or 1.2.

One file holds one target language (XLIFF 2.0 allows only one `trgLang`
per document; 1.2 files follow the same rule so both behave alike):

* one language: the file is written exactly where asked (`course.xlf`);
* several: `course.de.xlf`, `course.fr.xlf`... beside the path asked for
  (`<stem>.<lang><suffix>`);
* an existing folder: `<folder>/<script name>.<lang>.xlf` for each language.

`output_paths` gives those paths without writing anything.

Each string is a unit whose id is its stable id (see `strings.py`; in 2.0
the `id` is made a valid NMTOKEN and `name` holds the id as is). Inline
markup is protected: a pause or gesture tag is a placeholder (2.0 `<ph>`
with the tag in `<originalData>` and `disp`; 1.2 `<x equiv-text>`),
`*emphasis*` a paired code (2.0 `<pc>`, 1.2 `<g>`) and a glossary term
kept as is a marker (2.0 `<mrk translate="no">`, 1.2 `<mrk
mtype="protected">`). Glossary terms found in a string are listed in the
2.0 glossary module (`gls:`) or in 1.2 notes. On-screen strings carry a
size limit in characters: 2.0 `slr:sizeRestriction` with the
`xliff:codepoints` profile, 1.2 `maxwidth` with `size-unit="char"`, and in
both a note a person can read. Targets are filled from the translations
file where a translation is up to date (`state="translated"`; machine
translations are marked `subState="avk:machine"`, 1.2
`state-qualifier="mt-suggestion"`).

Each file records the script it came from, so `avatarkit localize import`
needs nothing else: `<file original>` is the script's path relative to the
XLIFF file's folder (`../samples/course.yaml`), and `avk:sha256` (namespace
`urn:avatarkit:xliff`) the SHA-256 of the script file when it was exported
(see `xliff_import.xliff_script`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lxml import etree

from ..errors import AvatarkitError
from ..script.model import GlossaryTerm, Script
from ..utils.files import atomic_path, sha256_file
from .inline import Code, Keep, Span, split_markup
from .store import Entry, Store, script_store
from .strings import Unit, check_language, dnt_terms, same_language, terms_in, units

XLF2 = "urn:oasis:names:tc:xliff:document:2.0"
XLF1 = "urn:oasis:names:tc:xliff:document:1.2"
GLS = "urn:oasis:names:tc:xliff:glossary:2.0"
SLR = "urn:oasis:names:tc:xliff:sizerestriction:2.0"
AVK = "urn:avatarkit:xliff"        # our extension attribute on <file>: avk:sha256, the script file's hash
VERSIONS = ("2.0", "1.2")
MACHINE = "avk:machine"            # 2.0 subState of a machine translation nobody has reviewed
_PAUSE = re.compile(r"^\[\s*pause\b", re.IGNORECASE)
# Elements whose content is text (mixed with inline codes): never re-indented.
_CONTENT = {"source", "target", "note", "data", "term", "translation", "definition"}


def target_languages(script: Script, languages: list[str] | tuple[str, ...] | None) -> list[str]:
    """The languages asked for (default: the script's `languages:`), checked, without duplicates,
    spelled as the script spells them."""
    asked = list(languages) if languages else [spec.code for spec in script.languages]
    if not asked:
        raise AvatarkitError("no target languages: list them under languages: in the script, or name them "
                             "(e.g. --to de,fr)")
    out: list[str] = []
    for code in asked:
        check_language(code)
        if same_language(code, script.language):
            raise AvatarkitError(f"{code} is the script's own language; name the languages to translate into")
        code = next((s.code for s in script.languages if same_language(s.code, code)), code)
        if not any(same_language(code, c) for c in out):
            out.append(code)
    return out


def output_paths(script: Script, languages: list[str], path: str | Path) -> dict[str, Path]:
    """Where `export_xliff` writes each language's file (see the module doc for the rule)."""
    path = Path(path)
    if path.is_dir():
        return {lang: path / f"{script.name}.{lang}.xlf" for lang in languages}
    if len(languages) == 1:
        return {languages[0]: path}
    suffix = path.suffix or ".xlf"
    stem = path.stem if path.suffix else path.name
    return {lang: path.with_name(f"{stem}.{lang}{suffix}") for lang in languages}


def export_xliff(script: Script, languages: list[str] | tuple[str, ...] | None, path: str | Path,
                 version: str = "2.0", store: Store | None = None) -> list[Path]:
    """Write the script's strings as XLIFF `version` ("2.0" or "1.2") for each target language; return the
    files written. Targets are prefilled from `store` (default: the script's translations file)."""
    if version not in VERSIONS:
        raise AvatarkitError(f"XLIFF version {version!r} is not supported; use 2.0 or 1.2")
    langs = target_languages(script, languages)
    store = store if store is not None else script_store(script)
    strings = units(script)
    written = []
    for lang, out in output_paths(script, langs, path).items():
        root = (_document2 if version == "2.0" else _document1)(script, lang, strings, store, script_record(script, out))
        _indent(root, 0)
        data = etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(out) as tmp:
                tmp.write_bytes(data)
        except OSError as e:
            raise AvatarkitError(f"{out}: cannot write the XLIFF file: {e.strerror or e}") from None
        written.append(out)
    return written


def xml_id(uid: str) -> str:
    """`uid` as an XML NMTOKEN (XLIFF 2.0 ids): characters outside it become `_xHHHH_`."""
    return "".join(c if re.match(r"[\w.\-:]", c) else f"_x{ord(c):04X}_" for c in uid)


def script_record(script: Script, xliff: str | Path) -> tuple[str, str | None]:
    """What the XLIFF file at `xliff` records of its script: the script file's path relative to the XLIFF file's
    folder, POSIX style (absolute where there is no relative path, as across Windows drives), and the SHA-256
    of its bytes; the script's name and None for a script that has no file."""
    if script.source is None:
        return script.name, None
    src = Path(script.source).resolve()
    try:
        where = os.path.relpath(src, Path(xliff).resolve().parent)
    except ValueError:
        where = str(src)
    try:
        digest = sha256_file(src)
    except OSError:
        digest = None
    return Path(where).as_posix(), digest


def file_id(script: Script) -> str:
    return xml_id(script.name) or "f1"


def _file_note(script: Script, lang: str) -> str:
    name = script.source.name if script.source else script.name
    return (f"Strings of the avatarkit video script {name}, {script.language} to {lang}. Narration is spoken by a "
            "synthetic voice: write it to be heard. Pauses and gestures are placeholders: keep each where it belongs "
            "in the sentence. Terms marked translate=no stay as written. On-screen strings have a size limit in "
            "characters.")


def _term_note(term: GlossaryTerm, lang: str) -> str:
    if not term.translate:
        text = f"'{term.term}': keep as written, do not translate"
    elif term.target(lang):
        text = f"'{term.term}': translate as '{term.target(lang)}'"
    else:
        text = f"'{term.term}': translate the same way everywhere"
    return f"Glossary: {text}" + (f" ({term.note})" if term.note else "")


# ----------------------------------------------------------------------------------------------- XLIFF 2.0


def _document2(script: Script, lang: str, strings: list[Unit], store: Store,
               record: tuple[str, str | None]) -> etree._Element:
    root = etree.Element(f"{{{XLF2}}}xliff", nsmap={None: XLF2, "gls": GLS, "slr": SLR, "avk": AVK},
                         attrib={"version": "2.0", "srcLang": script.language, "trgLang": lang})
    f = etree.SubElement(root, f"{{{XLF2}}}file", id=file_id(script))
    if script.source:
        f.set("original", record[0])
    if record[1]:
        f.set(f"{{{AVK}}}sha256", record[1])
    etree.SubElement(f, f"{{{SLR}}}profiles", generalProfile="xliff:codepoints")
    notes = etree.SubElement(f, f"{{{XLF2}}}notes")
    etree.SubElement(notes, f"{{{XLF2}}}note", category="avatarkit").text = _file_note(script, lang)
    keep = dnt_terms(script)
    for unit in strings:
        _unit2(f, unit, lang, store.current(lang, unit), script, keep)
    return root


def _unit2(parent, unit: Unit, lang: str, entry: Entry | None, script: Script, keep: tuple[str, ...]) -> None:
    u = etree.SubElement(parent, f"{{{XLF2}}}unit", id=xml_id(unit.id), name=unit.id, type=f"avk:{unit.kind}")
    if unit.max_chars:
        u.set(f"{{{SLR}}}sizeRestriction", str(unit.max_chars))
    terms = terms_in(unit.text, script.glossary)
    if terms:
        gl = etree.SubElement(u, f"{{{GLS}}}glossary")
        for t in terms:
            ge = etree.SubElement(gl, f"{{{GLS}}}glossEntry")
            etree.SubElement(ge, f"{{{GLS}}}term", source="script glossary").text = t.term
            rendering = t.term if not t.translate else t.target(lang)
            if rendering:
                etree.SubElement(ge, f"{{{GLS}}}translation").text = rendering
            # An entry needs a translation or a definition: the glossary's note, else how to treat the term.
            definition = t.note or ("Keep as written." if not t.translate else "Translate the same way everywhere.")
            etree.SubElement(ge, f"{{{GLS}}}definition").text = definition
    notes = etree.SubElement(u, f"{{{XLF2}}}notes")
    etree.SubElement(notes, f"{{{XLF2}}}note", category="context").text = unit.context
    if unit.max_chars:
        etree.SubElement(notes, f"{{{XLF2}}}note", category="size").text = \
            f"At most {unit.max_chars} characters: shown on screen."
    for t in terms:
        etree.SubElement(notes, f"{{{XLF2}}}note", category="glossary").text = _term_note(t, lang)
    ids = _Ids()
    data = etree.SubElement(u, f"{{{XLF2}}}originalData")
    seg = etree.SubElement(u, f"{{{XLF2}}}segment", state="initial")
    _inline2(etree.SubElement(seg, f"{{{XLF2}}}source"), split_markup(unit.text, markup=unit.markup, keep=keep),
             ids, data, target=False)
    if entry is not None:
        seg.set("state", "translated")
        if entry.machine:
            seg.set("subState", MACHINE)
        _inline2(etree.SubElement(seg, f"{{{XLF2}}}target"), split_markup(entry.text, markup=unit.markup, keep=keep),
                 ids, data, target=True)
    if not len(data):
        u.remove(data)


class _Ids:
    """Inline ids of one unit: the target reuses the id of the source code it corresponds to (same tag,
    same term, emphasis in order), as XLIFF pairs them by id."""

    def __init__(self):
        self.n = 0
        self.m = 0
        self.pending: dict[tuple, list[str]] = {}
        self.data: dict[str, str] = {}

    def get(self, key: tuple, target: bool, marker: bool = False) -> str:
        queue = self.pending.setdefault(key, [])
        if target and queue:
            return queue.pop(0)
        if marker:
            self.m += 1
            new = f"m{self.m}"
        else:
            self.n += 1
            new = str(self.n)
        if not target:
            queue.append(new)
        return new

    def data_id(self, raw: str, data_el) -> str:
        if raw not in self.data:
            self.data[raw] = f"d{len(self.data) + 1}"
            etree.SubElement(data_el, f"{{{XLF2}}}data", id=self.data[raw]).text = raw
        return self.data[raw]


def _append_text(parent, last, s: str) -> None:
    if last is None:
        parent.text = (parent.text or "") + s
    else:
        last.tail = (last.tail or "") + s


def _inline2(parent, items, ids: _Ids, data, *, target: bool) -> None:
    last = None
    for it in items:
        if isinstance(it, str):
            _append_text(parent, last, it)
            continue
        if isinstance(it, Code):
            last = etree.SubElement(parent, f"{{{XLF2}}}ph", id=ids.get(("code", it.raw), target),
                                    dataRef=ids.data_id(it.raw, data), disp=it.raw, equiv="")
        elif isinstance(it, Span):
            d = ids.data_id("*", data)
            last = etree.SubElement(parent, f"{{{XLF2}}}pc", id=ids.get(("span",), target), dataRefStart=d,
                                    dataRefEnd=d, dispStart="*", dispEnd="*", equivStart="", equivEnd="")
            _inline2(last, it.children, ids, data, target=target)
        elif isinstance(it, Keep):
            last = etree.SubElement(parent, f"{{{XLF2}}}mrk", id=ids.get(("keep", it.text.casefold()), target, True),
                                    translate="no")
            last.text = it.text


# ----------------------------------------------------------------------------------------------- XLIFF 1.2


def _document1(script: Script, lang: str, strings: list[Unit], store: Store,
               record: tuple[str, str | None]) -> etree._Element:
    root = etree.Element(f"{{{XLF1}}}xliff", nsmap={None: XLF1, "avk": AVK}, attrib={"version": "1.2"})
    f = etree.SubElement(root, f"{{{XLF1}}}file", attrib={
        "original": record[0], "source-language": script.language,
        "target-language": lang, "datatype": "plaintext", "tool-id": "avatarkit"})
    if record[1]:
        f.set(f"{{{AVK}}}sha256", record[1])
    header = etree.SubElement(f, f"{{{XLF1}}}header")
    etree.SubElement(header, f"{{{XLF1}}}tool", attrib={"tool-id": "avatarkit", "tool-name": "avatarkit"})
    etree.SubElement(header, f"{{{XLF1}}}note").text = _file_note(script, lang)
    body = etree.SubElement(f, f"{{{XLF1}}}body")
    keep = dnt_terms(script)
    for unit in strings:
        _unit1(body, unit, lang, store.current(lang, unit), script, keep)
    return root


def _unit1(parent, unit: Unit, lang: str, entry: Entry | None, script: Script, keep: tuple[str, ...]) -> None:
    tu = etree.SubElement(parent, f"{{{XLF1}}}trans-unit", id=unit.id, resname=unit.id,
                          restype=f"x-avatarkit-{unit.kind}")
    if unit.max_chars:
        tu.set("maxwidth", str(unit.max_chars))
        tu.set("size-unit", "char")
    ids = _Ids()
    _inline1(etree.SubElement(tu, f"{{{XLF1}}}source"), split_markup(unit.text, markup=unit.markup, keep=keep),
             ids, target=False)
    if entry is not None:
        t = etree.SubElement(tu, f"{{{XLF1}}}target", state="translated")
        if entry.machine:
            t.set("state-qualifier", "mt-suggestion")
        _inline1(t, split_markup(entry.text, markup=unit.markup, keep=keep), ids, target=True)
    etree.SubElement(tu, f"{{{XLF1}}}note", attrib={"from": "avatarkit"}).text = unit.context
    if unit.max_chars:
        etree.SubElement(tu, f"{{{XLF1}}}note", attrib={"from": "avatarkit"}).text = \
            f"At most {unit.max_chars} characters: shown on screen."
    for t in terms_in(unit.text, script.glossary):
        etree.SubElement(tu, f"{{{XLF1}}}note", attrib={"from": "avatarkit"}).text = _term_note(t, lang)


def _inline1(parent, items, ids: _Ids, *, target: bool) -> None:
    last = None
    for it in items:
        if isinstance(it, str):
            _append_text(parent, last, it)
            continue
        if isinstance(it, Code):
            kind = "x-avatarkit-pause" if _PAUSE.match(it.raw) else "x-avatarkit-gesture"
            last = etree.SubElement(parent, f"{{{XLF1}}}x", attrib={
                "id": ids.get(("code", it.raw), target), "ctype": kind, "equiv-text": it.raw})
        elif isinstance(it, Span):
            last = etree.SubElement(parent, f"{{{XLF1}}}g", id=ids.get(("span",), target), ctype="x-avatarkit-emphasis")
            _inline1(last, it.children, ids, target=target)
        elif isinstance(it, Keep):
            last = etree.SubElement(parent, f"{{{XLF1}}}mrk", mtype="protected")
            last.text = it.text


def _indent(el, level: int) -> None:
    """Indent the structure two spaces a level, leaving text content (source, target, notes) as it is."""
    if etree.QName(el).localname in _CONTENT or not len(el):
        return
    pad = "\n" + "  " * (level + 1)
    el.text = pad
    for child in el:
        _indent(child, level + 1)
        child.tail = pad
    el[-1].tail = "\n" + "  " * level
