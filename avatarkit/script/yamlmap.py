"""YAML with line numbers: mappings and lists that remember where each entry was written.

Scripts and brand kits are read with `load_yaml`, and validated through a
`Ctx`, whose errors name the file, the line and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import ScriptError


class Map(dict):
    """A YAML mapping that remembers the line of each key (1-based)."""

    line: int = 0
    lines: dict


class List(list):
    line: int = 0
    lines: list


class Loader(yaml.SafeLoader):
    pass


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
    def __init__(self, file: Path | None):
        self.file = file

    def err(self, msg: str, line: int | None, field: str) -> ScriptError:
        return ScriptError(msg, file=self.file, line=line, field=field)

    def check_keys(self, m: Map, allowed: set[str], field: str) -> None:
        for k in m:
            if k not in allowed:
                raise self.err(f"unknown field {k!r}; expected one of {', '.join(sorted(allowed))}",
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
            raise self.err(f"expected {names}, got {type(v).__name__} {v!r}", m.lines[key], f)
        return v


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
