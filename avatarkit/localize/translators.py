"""Translators: plugins that turn source strings into target-language strings.

A translator is anything with `translate(texts, source, target) -> texts`
(BCP-47 tags; one output per input, `""` for "no translation"). Inputs may
carry inline markup (`[pause 500ms]`, `[nod]`, `*emphasis*`) and tokens
`⟨n⟩` standing for terms that must not change; a translator keeps both.
Kinds register with `@register_translator("kind")` and are built with
`make_translator(kind, **config)`:

* `pseudo`: pseudo-localisation for testing layouts (accented look-alike
  letters, about 35 % longer, wrapped in ⟦ ⟧; `rtl=True` for Hebrew
  letters between right-to-left marks). Deterministic, instant.
* `memory`: exact matches from translations files (this script's and
  any `stores=[paths]`): the same sentence translated before is reused.
* `marian`: a local MarianMT / OPUS-MT model folder (`model=/path`)
  through the optional `transformers` package; never downloads.

`translate_missing` fills the strings a translations file lacks (or has
only stale machine translations of) and marks them `machine: true`.
"""

from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from ..errors import AvatarkitError, ScriptError
from ..script.markup import parse_text
from ..script.model import Script
from .inline import Span, join_markup, mask, next_token, split_markup, unmask
from .store import Entry, Store, load_store, save_store, script_store
from .strings import dnt_terms, missing_terms, normalize, primary, units
from .xliff import target_languages


@runtime_checkable
class Translator(Protocol):
    """Translates a batch of strings from language `source` to `target` (BCP-47 tags)."""

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        ...


_REGISTRY: dict[str, Callable[..., Translator]] = {}


def register_translator(kind: str):
    """Class decorator: make a translator available as `make_translator(kind, **config)`."""
    def deco(cls):
        _REGISTRY[kind] = cls
        return cls
    return deco


def translator_kinds() -> list[str]:
    return sorted(_REGISTRY)


def make_translator(kind: str, **config) -> Translator:
    """Build a translator by kind; unknown kinds and settings are `AvatarkitError`s that list what is known."""
    cls = _REGISTRY.get(kind)
    if cls is None:
        raise AvatarkitError(f"unknown translator {kind!r}; known: {', '.join(translator_kinds())}")
    try:
        return cls(**config)
    except TypeError as e:
        raise AvatarkitError(f"translator {kind!r}: {e}") from None


# --------------------------------------------------------------------------------------------- pseudo

_ACCENTED = dict(zip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                     "áƀçđéƒĝĥíĵķĺɱñóþǫŕšţúṽŵẋýžÁƁÇĐÉƑĜĤÍĴĶĹṀÑÓÞǪŔŠŢÚṼŴẊÝŽ"))
# Latin letters onto Hebrew ones (final forms included), so right-to-left layout can be seen with any font
# that has Hebrew.
_HEBREW = dict(zip("abcdefghijklmnopqrstuvwxyz", "אבגדהוזחטיכלמנסעפצקרשתםןףץ"))
_FILLER = "ĺóŕéɱ íþšúɱ đóĺóŕ šíţ áɱéţ çóñšéçţéţúŕ áđíþíšçíñĝ éĺíţ šéđ đó éíúšɱóđ ţéɱþóŕ "
_HEBREW_FILLER = "לורם איפסום דולור סיט אמט קונסקטורר אדיפיסינג אלית "
RLM = "\u200f"


@register_translator("pseudo")
@dataclass
class PseudoTranslator:
    """Pseudo-localisation: every letter an accented look-alike, the text about `expand` longer (filler
    words before the closing bracket), wrapped in ⟦ ⟧ so cut-off text shows. Tags, emphasis marks,
    `⟨n⟩` tokens and the `keep` terms are left exactly as they are. `rtl=True` writes Hebrew letters
    between right-to-left marks instead, to test right-to-left layout."""

    rtl: bool = False
    expand: float = 0.35
    keep: tuple[str, ...] = ()
    protect_terms = True

    def __post_init__(self):
        self.keep = (self.keep,) if isinstance(self.keep, str) else tuple(self.keep)

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        return [self.one(t) for t in texts]

    def one(self, text: str) -> str:
        items = split_markup(text, keep=self.keep)
        table = _HEBREW if self.rtl else _ACCENTED
        out = _map_items(items, lambda s: "".join(table.get(c.lower() if self.rtl else c, c) for c in _untoken(s)))
        body = join_markup(out)
        visible = " ".join(re.sub(r"\[[^\[\]]*\]|\*", " ", text).split())
        pad = max(1, math.ceil(self.expand * len(visible)))
        filler = _HEBREW_FILLER if self.rtl else _FILLER
        padding = " " + (filler * (pad // len(filler) + 1))[:pad].strip()
        letters = _letters(body)
        if not letters:
            wrapped = f"⟦{body}{padding}⟧"
        else:
            # Brackets go inside the first and last words, so tags and emphasis marks stay where `parse_text`
            # expects them; the filler joins the last word, before its punctuation.
            first, last = letters[0], letters[-1]
            wrapped = body[:first] + "⟦" + body[first:last + 1] + padding + "⟧" + body[last + 1:]
        return f"{RLM}{wrapped}{RLM}" if self.rtl else wrapped


def _untoken(s: str):
    # ⟨n⟩ tokens (masked terms) pass through unchanged: yield them whole so they are never mapped.
    pos = 0
    for m in re.finditer(r"⟨\s*\d+\s*⟩", s):
        yield from s[pos:m.start()]
        yield m.group(0)
        pos = m.end()
    yield from s[pos:]


def _map_items(items, fn) -> list:
    out = []
    for it in items:
        if isinstance(it, str):
            out.append(fn(it))
        elif isinstance(it, Span):
            out.append(Span(tuple(_map_items(it.children, fn))))
        else:
            out.append(it)         # Code, Keep: untouched
    return out


def _letters(body: str) -> list[int]:
    # Positions of letters and digits, and of kept-term tokens, outside tags: where the words are.
    tags = [(m.start(), m.end()) for m in re.finditer(r"\[[^\[\]]*\]", body)]
    tokens = [(m.start(), m.end()) for m in re.finditer(r"⟨\s*\d+\s*⟩", body)]
    out = [i for i, c in enumerate(body) if c.isalnum() and not any(a <= i < b for a, b in tags + tokens)]
    return sorted(out + [i for a, b in tokens for i in range(a, b)])


# --------------------------------------------------------------------------------------------- memory


@register_translator("memory")
class MemoryTranslator:
    """Exact-match translation memory: a string translated before, in this script's translations file or in
    the files `stores` (paths), is reused. No match gives `""`. Human translations win over machine ones."""

    protect_terms = False      # matches whole strings as written

    def __init__(self, stores: list[str | Path] | tuple[str | Path, ...] = ()):
        self._memory: dict[tuple[str, str], tuple[bool, str]] = {}
        self._sources: dict[tuple[str, str], str | None] = {}
        for p in stores:
            path = Path(p)
            if not path.is_file():
                raise AvatarkitError(f"translation memory {path} not found")
            self.add(load_store(path))

    def add(self, store: Store) -> None:
        """Remember every entry of `store` (stale ones too: each is the translation of its own `source`)."""
        for lang, table in store.languages.items():
            for e in table.values():
                if not e.text.strip() or not e.source.strip():
                    continue
                key = (lang.casefold(), e.source)
                have = self._memory.get(key)
                if have is None or (have[0] and not e.machine):
                    self._memory[key] = (e.machine, e.text)
                    self._sources[key] = store.source_language

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        out = []
        for t in texts:
            key = (target.casefold(), " ".join(t.split()))
            hit = self._memory.get(key) or self._memory.get((target.casefold(), t.strip()))
            src = self._sources.get(key)
            ok = hit is not None and (src is None or primary(src) == primary(source))
            out.append(hit[1] if ok else "")
        return out


# --------------------------------------------------------------------------------------------- marian

MARIAN_MISSING = ("translator 'marian' needs the transformers package (pip install transformers sentencepiece) and a "
                  "local model folder, e.g. an OPUS-MT model saved with save_pretrained; none is downloaded")


@register_translator("marian")
class MarianTranslator:
    """Machine translation with a local MarianMT (OPUS-MT) model folder, through `transformers` when it is
    installed. Only files in `model` are read (`local_files_only`). Tags and `⟨n⟩` tokens are masked as
    tokens during translation and restored after; text is translated sentence by sentence."""

    protect_terms = True

    def __init__(self, model: str | Path | None = None, device: str = "cpu", batch_size: int = 8,
                 num_beams: int = 4, max_length: int = 512):
        if importlib.util.find_spec("transformers") is None or model is None:
            raise AvatarkitError(MARIAN_MISSING)
        self.model_dir = Path(model).expanduser()
        if not (self.model_dir / "config.json").is_file():
            raise AvatarkitError(f"translator 'marian': {self.model_dir} is not a model folder (no config.json); "
                                 "save one with save_pretrained, nothing is downloaded")
        self.device, self.batch_size, self.num_beams, self.max_length = device, batch_size, num_beams, max_length
        self._loaded = None

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        jobs: list[tuple[list[str], dict]] = []
        flat: list[str] = []
        for t in texts:
            masked, table = mask(split_markup(t), codes=True, terms=False, start=next_token(t))
            sentences = [s for s in re.split(r"(?<=[.!?…。！？])\s+", masked) if s.strip()]
            jobs.append((sentences, table))
            flat += sentences
        done = iter(self._generate(flat, target) if flat else [])
        out = []
        for sentences, table in jobs:
            text = unmask(" ".join(next(done) for _ in sentences), table)
            try:
                parse_text(text)
            except ScriptError:
                text = text.replace("*", "")      # emphasis the model garbled: better none than a broken script
            out.append(text)
        return out

    def _generate(self, sentences: list[str], target: str) -> list[str]:
        tok, model = self._load()
        prefix = ""
        codes = list(getattr(tok, "supported_language_codes", None) or [])
        if codes:       # a multi-target model: choose the language with a >>xx<< token
            want = f">>{primary(target)}<<"
            if want not in codes:
                raise AvatarkitError(f"translator 'marian': the model in {self.model_dir} cannot translate into "
                                     f"{target}; it knows {', '.join(c.strip('<>') for c in codes[:20])}")
            prefix = want + " "
        import torch

        out: list[str] = []
        for i in range(0, len(sentences), self.batch_size):
            batch = [prefix + s for s in sentences[i:i + self.batch_size]]
            enc = tok(batch, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length)
            with torch.inference_mode():
                ids = model.generate(**{k: v.to(self.device) for k, v in enc.items()}, num_beams=self.num_beams,
                                     max_new_tokens=self.max_length)
            out += tok.batch_decode(ids, skip_special_tokens=True)
        return out

    def _load(self):
        if self._loaded is None:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            try:
                tok = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
                model = AutoModelForSeq2SeqLM.from_pretrained(str(self.model_dir), local_files_only=True)
            except (OSError, ValueError) as e:
                raise AvatarkitError(f"translator 'marian': cannot load the model in {self.model_dir}: {e}") from None
            self._loaded = tok, model.to(self.device).eval()
        return self._loaded


# --------------------------------------------------------------------------------------------- filling in


@dataclass
class LanguageFill:
    """What `translate_missing` did for one language, by unit id: `filled` (stored, machine: true), `kept`
    (stale human translations left for a person), `failed` (id, why: no output or broken markup), warnings."""

    language: str
    filled: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class FillReport:
    languages: dict[str, LanguageFill]
    store: Path | None = None


def translate_missing(script: Script, languages: list[str] | None, translator: Translator,
                      store: Store | None = None) -> FillReport:
    """Machine-translate every string that has no translation, or only a stale machine one, into each of
    `languages` (default: the script's), store them marked `machine: true` and save the store. Human
    translations are never overwritten, even stale ones. Do-not-translate terms are masked as `⟨n⟩` tokens
    for translators with `protect_terms` (all but `memory`)."""
    langs = target_languages(script, languages)
    store = store if store is not None else script_store(script)
    if isinstance(translator, MemoryTranslator):
        translator.add(store)
    keep = dnt_terms(script)
    protect = getattr(translator, "protect_terms", True)
    report = FillReport({})
    changed = False
    for lang in langs:
        rep = report.languages[lang] = LanguageFill(lang)
        todo = []
        for unit in units(script):
            if store.current(lang, unit) is not None:
                continue
            old = store.get(lang, unit.id)
            if old is not None and old.text.strip() and not old.machine:
                rep.kept.append(unit.id)
                continue
            todo.append(unit)
        if not todo:
            continue
        inputs, tables = [], []
        for unit in todo:
            if protect and keep:
                items = split_markup(unit.text, markup=unit.markup, keep=keep)
                masked, table = mask(items, codes=False, terms=True, start=next_token(unit.text))
            else:
                masked, table = unit.text, {}
            inputs.append(masked)
            tables.append(table)
        outputs = translator.translate(inputs, script.language, lang)
        if len(outputs) != len(inputs):
            raise AvatarkitError(f"translator returned {len(outputs)} strings for {len(inputs)}")
        for unit, out, table in zip(todo, outputs, tables):
            text = unmask(out, table) if table else out
            text = normalize(text or "", unit.kind)
            if not text:
                rep.failed.append((unit.id, "no translation"))
                continue
            if unit.markup:
                try:
                    if not any(p.words for p in parse_text(text)):
                        raise ScriptError("no words, only tags")
                except ScriptError as e:
                    rep.failed.append((unit.id, f"broken markup: {e.message}"))
                    continue
            for term in missing_terms(unit.text, text, keep):
                rep.warnings.append(f"{unit.id}: the term '{term}' was lost in translation")
            store.put(lang, unit.id, Entry(text, unit.text, machine=True))
            rep.filled.append(unit.id)
            changed = True
    if changed and store.path is not None:
        store.source_language = store.source_language or script.language
        save_store(store.path, store)
    report.store = store.path
    return report

