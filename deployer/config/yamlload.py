"""Safe, fast YAML loading that keeps line numbers.

ruamel.yaml's parser (its C parser, from `ruamel.yaml.clib`, when installed) turns a file into
events; a small builder of our own turns the events into plain Python data. Building it
ourselves gives us, in one pass and without a second parse:

- the position (line, column; both 1-based) of every key and value, so later checks can point
  at the line that caused a problem;
- duplicate keys as errors (YAML says keys are unique; helm would silently keep one of them);
- bounded work on hostile input: files over a size limit, nesting deeper than a limit, and
  alias "bombs" whose expansion would exceed a node budget are refused, never expanded;
- YAML 1.2 core-schema scalars (what ruamel.yaml reads by default), and `<<` merge keys.

Nothing here touches the network or runs a process.
"""

from __future__ import annotations

from deployer.errors import ConfigError

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import events as ev
from ruamel.yaml.error import MarkedYAMLError, YAMLError

try:  # the C parser is 5-10x faster; fall back to the pure-Python one when it is absent
    from ruamel.yaml import CParser as _CParser  # type: ignore[attr-defined]

    _CParser("a: 1").dispose()
except Exception:  # pragma: no cover - depends on the install
    _CParser = None

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 128
MAX_NODES = 500_000  # nodes after alias expansion

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlProblem(ConfigError):
    """Why a file could not be read as data. `line`/`column` are 1-based (0 = unknown)."""

    message: str
    line: int = 0
    column: int = 0
    hint: str | None = None
    code: str = "yaml-syntax"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return f"{self.line}:{self.column}: {self.message}"


@dataclass
class Loaded:
    """A parsed document: its data and where each key and value stands in the file."""

    data: Any
    # path -> (line, column) of the key (for mapping entries) or the item (for sequence items)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    # path -> (line, column) where the value starts
    value_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path_) -> tuple[int, int]:
        """The best-known position for `path`: the key, else the value, else the nearest parent."""
        p = tuple(path)
        while True:
            if p in self.key_positions:
                return self.key_positions[p]
            if p in self.value_positions:
                return self.value_positions[p]
            if not p:
                return (1, 1)
            p = p[:-1]


# YAML 1.2 core schema, as ruamel.yaml resolves plain scalars
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT_DEC = re.compile(r"[-+]?[0-9]+\Z")
_INT_OCT = re.compile(r"0o[0-7]+\Z")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)\Z")

_STR_TAGS = {"tag:yaml.org,2002:str", "!"}
_KNOWN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "!",
}


def resolve_plain(value: str) -> Any:
    if value in _NULL:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    first = value[0]
    if first.isdigit() or first in "+-.":
        if _INT_DEC.match(value):
            return int(value)
        if _INT_OCT.match(value):
            return int(value[2:], 8)
        if _INT_HEX.match(value):
            return int(value[2:], 16)
        if _FLOAT.match(value):
            return float(value)
        if _INF.match(value):
            return -math.inf if value[0] == "-" else math.inf
        if _NAN.match(value):
            return math.nan
    return value


def _tagged(value: str, tag: str, line: int, col: int) -> Any:
    if tag in _STR_TAGS:
        return value
    kind = tag.rsplit(":", 1)[-1]
    resolved = resolve_plain(value)
    expected = {"int": int, "float": (int, float), "bool": bool, "null": type(None)}.get(kind)
    if expected is None or not isinstance(resolved, expected) or (kind == "int" and isinstance(resolved, bool)):
        # the value itself is never quoted: it may be a credential (a kubeconfig's token)
        raise YamlProblem(f"the value tagged !!{kind} is not a valid {kind}", line, col, code="yaml-tag",
                          hint=f"remove the !!{kind} tag, or give a {kind} value")
    return float(resolved) if kind == "float" else resolved


class _EventSource:
    """Events of one document, pulled one by one (the C parser when present)."""

    def __init__(self, text: str) -> None:
        if _CParser is not None:
            self._parser = _CParser(text)
            self.next = self._parser.get_event
        else:  # pragma: no cover - pure-Python fallback
            from ruamel.yaml import YAML

            self._parser = None
            self.next = iter(YAML(typ="safe", pure=True).parse(text)).__next__

    def close(self) -> None:
        if self._parser is not None:
            self._parser.dispose()


class _Container:
    __slots__ = ("value", "path", "is_map", "pending_key", "size", "anchor", "merges", "explicit", "mark")

    def __init__(self, value: Any, path: Path_, anchor: str | None, mark: Any) -> None:
        self.mark = mark
        self.value = value
        self.path = path
        self.is_map = isinstance(value, dict)
        self.pending_key: str | None = None
        self.size = 1
        self.anchor = anchor
        self.merges: list[dict[str, Any]] = []
        self.explicit: set[str] = set()


def decode(raw: bytes) -> str:
    """Bytes to text, strictly UTF-8 (with or without BOM); a clear problem otherwise."""
    if len(raw) > MAX_FILE_BYTES:
        raise YamlProblem(
            f"file is {len(raw):,} bytes, over the {MAX_FILE_BYTES:,}-byte limit",
            code="file-too-large",
            hint="configuration files this large are refused; split it, or check that it is the right file",
        )
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise YamlProblem("file contains a NUL byte: it is binary, not YAML", line, 1, code="not-text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise YamlProblem(
            f"byte 0x{raw[e.start]:02x} is not valid UTF-8", line, col, code="not-utf8", hint="save the file as UTF-8"
        ) from e


def load_yaml(text: str, *, positions: bool = True, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Loaded:
    """Parse one YAML document into plain data (dict, list, str, int, float, bool, None).

    An empty document loads as None. Raises YamlProblem for anything that is not one
    well-formed document within the limits. Without `positions` the load is faster; a
    duplicate key then costs a second parse, to name the line of the first occurrence.
    """
    try:
        return _load(text, positions, max_depth, max_nodes)
    except YamlProblem as e:
        if e.code == "duplicate-key" and not positions:
            return _load(text, True, max_depth, max_nodes)
        raise


def _load(text: str, positions: bool, max_depth: int, max_nodes: int) -> Loaded:
    key_pos: dict[Path_, tuple[int, int]] = {}
    val_pos: dict[Path_, tuple[int, int]] = {}
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Container] = []
    result: Any = None
    documents = 0
    total = 0

    def place(value: Any, size: int, mark: Any) -> None:
        """Attach a finished node to its parent (or make it the document)."""
        nonlocal result
        line, col = mark.line + 1, mark.column + 1
        if not stack:
            result = value
            if positions:
                val_pos[()] = (line, col)
            return
        parent = stack[-1]
        parent.size += size
        if parent.is_map:
            key = parent.pending_key
            if key is None:  # this node is a key
                if isinstance(value, (dict, list)):
                    raise YamlProblem("a mapping key must be a plain value, not a mapping or list", line, col)
                key = "" if value is None else _key_text(value)
                if key in parent.explicit:
                    first = key_pos.get(parent.path + (key,))
                    where = f" (first at line {first[0]})" if first else ""
                    raise YamlProblem(
                        f"duplicate key {key!r}{where}",
                        line,
                        col,
                        code="duplicate-key",
                        hint="YAML keys must be unique in a mapping; helm would silently keep only one. Remove or merge one of them",
                    )
                parent.pending_key = key
                parent.explicit.add(key)
                if positions:
                    key_pos[parent.path + (key,)] = (line, col)
            else:
                parent.pending_key = None
                if key == "<<" and parent.value.get("<<", _MISSING) is _MISSING:
                    parent.explicit.discard("<<")
                    sources = value if isinstance(value, list) else [value]
                    if not all(isinstance(s, dict) for s in sources):
                        raise YamlProblem("a `<<` merge key needs a mapping or a list of mappings", line, col)
                    parent.merges.extend(sources)
                    return
                parent.value[key] = value
                if positions:
                    val_pos[parent.path + (key,)] = (line, col)
        else:
            index = len(parent.value)
            parent.value.append(value)
            if positions:
                key_pos[parent.path + (index,)] = (line, col)
                val_pos[parent.path + (index,)] = (line, col)

    def child_path() -> Path_:
        if not stack:
            return ()
        parent = stack[-1]
        if parent.is_map:
            return parent.path + ((parent.pending_key,) if parent.pending_key is not None else ("<key>",))
        return parent.path + (len(parent.value),)

    source = _EventSource(text)
    next_event = source.next
    try:
        while True:
            event = next_event()
            kind = type(event)
            if kind is ev.StreamEndEvent:
                break
            if kind is ev.ScalarEvent:
                mark = event.start_mark
                tag = event.tag
                if tag is None and event.implicit[0]:
                    value: Any = resolve_plain(event.value)
                elif tag is None or tag in _STR_TAGS:
                    value = event.value
                elif tag in _KNOWN_TAGS:
                    value = _tagged(event.value, tag, mark.line + 1, mark.column + 1)
                else:
                    raise YamlProblem(
                        f"unsupported YAML tag {tag!r}", mark.line + 1, mark.column + 1, code="yaml-tag",
                        hint="remove the tag; configuration values are plain strings, numbers, booleans, lists and mappings",
                    )
                total += 1
                if event.anchor:
                    anchors[event.anchor] = (value, 1)
                place(value, 1, mark)
            elif kind is ev.MappingStartEvent or kind is ev.SequenceStartEvent:
                mark = event.start_mark
                if len(stack) >= max_depth:
                    raise YamlProblem(
                        f"nesting deeper than {max_depth} levels", mark.line + 1, mark.column + 1, code="too-deep",
                        hint="configuration is never this deep; check the file is the one you meant",
                    )
                if event.tag and event.tag not in _KNOWN_TAGS:
                    raise YamlProblem(f"unsupported YAML tag {event.tag!r}", mark.line + 1, mark.column + 1, code="yaml-tag")
                container = _Container({} if kind is ev.MappingStartEvent else [], child_path(), event.anchor, mark)
                stack.append(container)
                total += 1
            elif kind is ev.MappingEndEvent or kind is ev.SequenceEndEvent:
                container = stack.pop()
                if container.merges:
                    for merged in container.merges:
                        for k, v in merged.items():
                            container.value.setdefault(k, v)
                if container.anchor:
                    anchors[container.anchor] = (container.value, container.size)
                place(container.value, container.size, container.mark)
            elif kind is ev.AliasEvent:
                mark = event.start_mark
                if event.anchor not in anchors:
                    raise YamlProblem(f"alias *{event.anchor} names no anchor", mark.line + 1, mark.column + 1)
                value, size = anchors[event.anchor]
                total += size
                if total > max_nodes:
                    raise YamlProblem(
                        f"aliases expand to more than {max_nodes:,} values",
                        mark.line + 1,
                        mark.column + 1,
                        code="alias-bomb",
                        hint="this looks like a YAML alias bomb; it is refused, not expanded",
                    )
                place(value, size, mark)
            elif kind is ev.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    mark = event.start_mark
                    raise YamlProblem(
                        "more than one YAML document in this file", mark.line + 1, mark.column + 1, code="multi-document",
                        hint="configuration files hold exactly one document; remove the extra `---`",
                    )
            if total > max_nodes:
                raise YamlProblem(f"more than {max_nodes:,} values in one file", code="too-large")
    except YamlProblem:
        raise
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        # the problem text names the token kind, never the file's content
        raise YamlProblem(f"YAML syntax: {e.problem or e.context or 'invalid'}", line, col) from e
    except YAMLError as e:
        raise YamlProblem(f"YAML syntax: {type(e).__name__}") from e
    finally:
        source.close()
    return Loaded(result, key_pos, val_pos)


class _Missing:
    pass


_MISSING = _Missing()


def _key_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


def load_json(text: str) -> Loaded:
    """JSON files (sops-encrypted credentials) load with the json module; no positions."""
    try:
        return Loaded(json.loads(text, object_pairs_hook=_no_duplicates))
    except json.JSONDecodeError as e:
        raise YamlProblem(f"JSON syntax: {e.msg}", e.lineno, e.colno, code="json-syntax") from e
    except _DuplicateJsonKey as e:
        raise YamlProblem(f"duplicate key {e.key!r}", code="duplicate-key") from e
    except RecursionError as exc:
        raise YamlProblem("nesting too deep", code="too-deep") from exc


class _DuplicateJsonKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateJsonKey(k)
        out[k] = v
    return out
