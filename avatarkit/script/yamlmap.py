"""YAML with line numbers: mappings and lists that remember where each entry was written.

Scripts and brand kits are read with `load_yaml`, and validated through a
`Ctx`, whose errors name the file, the line and the field, and which resolves
the file names they write under a `FileScope` (see `scope`). Anchors and
aliases are allowed, but a document that expands to more than
`MAX_EXPANDED_NODES` values, or whose aliases repeat more than
`MAX_ALIASED_CHARS` characters, is refused before anything is built from it, and
errors echo at most a few dozen characters of a value: a few hundred bytes of
nested aliases must not become gigabytes of error message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import ScriptError
from .scope import FileScope, ScopeRefusal, current_scope, short_repr

MAX_EXPANDED_NODES = 100_000
# Characters of values that aliases may add beyond what the document itself holds: a long string written once
# and aliased a thousand times costs nothing to send and minutes to read (a server reads untrusted scripts).
MAX_ALIASED_CHARS = 200_000


class Map(dict):
    """A YAML mapping that remembers the line of each key (1-based)."""

    line: int = 0
    lines: dict


class List(list):
    line: int = 0
    lines: list


class Loader(yaml.SafeLoader):
    def compose_document(self):
        node = super().compose_document()
        _check_expansion(node, len(getattr(self, "buffer", "")))
        return node


def _check_expansion(root, written: int) -> None:
    """Refuse a document whose aliases expand past `MAX_EXPANDED_NODES` values (a "billion laughs") or add
    more than `MAX_ALIASED_CHARS` characters of values to the `written` characters of the document."""
    sizes: dict[int, tuple[int, int]] = {}
    cap_chars = written + MAX_ALIASED_CHARS

    def size(node) -> tuple[int, int]:
        """(values, characters of scalar values) under `node`, each capped just past its limit."""
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = (1, 0)     # a recursive alias counts once; it is refused when built
        if isinstance(node, yaml.MappingNode):
            parts = [size(x) for kv in node.value for x in kv]
        elif isinstance(node, yaml.SequenceNode):
            parts = [size(v) for v in node.value]
        else:
            parts = [(0, len(node.value) if isinstance(node.value, str) else 0)]
        n = min(1 + sum(p[0] for p in parts), MAX_EXPANDED_NODES + 1)
        c = min(sum(p[1] for p in parts), cap_chars + 1)
        sizes[id(node)] = (n, c)
        return n, c

    if root is None:
        return
    n, c = size(root)
    if n > MAX_EXPANDED_NODES:
        raise yaml.constructor.ConstructorError(
            None, None, f"the document expands (through anchors and aliases) to more than {MAX_EXPANDED_NODES} values",
            root.start_mark)
    if c > cap_chars:
        raise yaml.constructor.ConstructorError(
            None, None, f"the document's anchors and aliases repeat more than {MAX_ALIASED_CHARS} characters of "
            "values; write long text out where it is used", root.start_mark)


def construct_map(loader, node):
    loader.flatten_mapping(node)
    out = Map()
    out.line = node.start_mark.line + 1
    out.lines = {}
    for k, v in node.value:
        key = loader.construct_object(k, deep=True)
        if isinstance(key, (dict, list)):
            raise ScriptError("a key must be a plain value, not a mapping or a list", line=k.start_mark.line + 1)
        if key in out:
            raise ScriptError(f"duplicate key {key!r}", line=k.start_mark.line + 1)
        out[key] = loader.construct_object(v, deep=True)
        # Block scalars (`text: |`) start on the line after their indicator.
        out.lines[key] = v.start_mark.line + 1 + (getattr(v, "style", None) in ("|", ">"))
    return out


def construct_seq(loader, node):
    out = List(loader.construct_object(v, deep=True) for v in node.value)
    out.line = node.start_mark.line + 1
    out.lines = [v.start_mark.line + 1 for v in node.value]
    return out


Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_map)
Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_seq)


class Ctx:
    def __init__(self, file: Path | None, scope: FileScope | None = None):
        self.file = file
        self.scope = scope if scope is not None else current_scope()

    def err(self, msg: str, line: int | None, field: str) -> ScriptError:
        return ScriptError(msg, file=self.file, line=line, field=field)

    def check_keys(self, m: Map, allowed: set[str], field: str) -> None:
        for k in m:
            if k not in allowed:
                raise self.err(f"unknown field {short_repr(k)}; expected one of {', '.join(sorted(allowed))}",
                               m.lines.get(k, m.line), f"{field}.{k}" if field else str(k))

    def get(self, m: Map, key: str, kind: type | tuple, field: str, default: Any = None,
            required: bool = False) -> Any:
        f = f"{field}.{key}" if field else key
        if key not in m or m[key] is None:
            if required:
                raise self.err(f"field {key!r} is required", m.line, f)
            return default
        v = m[key]
        if not isinstance(v, kind) or isinstance(v, bool) and kind is not bool:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.err(f"expected {names}, got {type(v).__name__} {short_repr(v)}", m.lines[key], f)
        return v

    def path(self, m: Map, key: str, field: str, base: Path, exts: tuple[str, ...], what: str,
             required: bool = False) -> Path | None:
        """The existing file that `m[key]` names (relative to `base`), with one of the extensions `exts`.

        The name is resolved under this context's scope; a name it refuses, a
        wrong extension and a missing file are each an error on `field.key`.
        """
        raw = self.get(m, key, str, field, required=required)
        if raw is None:
            return None
        f = f"{field}.{key}" if field else key
        try:
            p = self.scope.file(raw, base)
        except ScopeRefusal as e:
            raise self.err(str(e), m.lines[key], f) from None
        if p.suffix.lower() not in exts:
            raise self.err(f"{short_repr(raw)} is not {what} ({', '.join(exts)})", m.lines[key], f)
        if not self.scope.exists(p):
            raise self.err(f"{what} {short_repr(raw)} not found{self.scope.where(p)}", m.lines[key], f)
        return p


def read_text(path: Path, what: str) -> str:
    """A UTF-8 text file's contents; `ScriptError` naming the file (and `what` it is) when unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScriptError(f"cannot read {what}: {e.strerror or e}", file=path) from None
    except UnicodeDecodeError:
        raise ScriptError(f"{what} is not UTF-8 text", file=path) from None


def load_yaml(text: str, ctx: Ctx, what: str) -> Map:
    """Parse YAML `text` into `Map`/`List` values; a non-mapping document is an error naming `what`."""
    try:
        data = yaml.load(text, Loader=Loader)  # noqa: S506 - SafeLoader subclass
    except ScriptError as e:
        e.file = str(ctx.file) if ctx.file else None
        raise
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ctx.err(f"not valid YAML: {e.problem or e.context}",
                      mark.line + 1 if mark else None, "") from None
    except yaml.YAMLError as e:     # a character the reader refuses: it knows its offset, not its line
        pos = getattr(e, "position", None)
        line = text.count("\n", 0, pos) + 1 if isinstance(pos, int) else None
        what_char = f" {e.character!r}" if getattr(e, "character", None) is not None else ""
        raise ctx.err(f"not valid YAML: unacceptable character{what_char}", line, "") from None
    if not isinstance(data, Map):
        raise ctx.err(f"{what} must be a YAML mapping", 1, "")
    return data
