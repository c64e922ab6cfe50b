"""The schema check: cluster.yaml data against the pydantic models, every error at once.

pydantic's errors are translated into problems that point at the line of the offending key or
value, name the expected type, and suggest the closest known key for a typo.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Optional

from pydantic import BaseModel, ValidationError

from deployer.checks.problems import Problem
from deployer.config.models import Cluster
from deployer.config.yamlload import Loaded

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes an annotation can hold (through Optional, Union, list, dict)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    if origin in (list, tuple):
        return _unwrap(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def model_at(root: type[BaseModel], path: tuple[Any, ...], data: Any) -> Optional[type[BaseModel]]:
    """The model class that describes the mapping at `path` (ints index lists)."""
    current: Optional[type[BaseModel]] = root
    for item in path:
        if isinstance(item, int) or current is None:
            continue
        field = current.model_fields.get(item)
        if field is None:
            return None
        candidates = _unwrap(field.annotation)
        current = candidates[0] if len(candidates) == 1 else (candidates[0] if candidates else None)
    return current


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _split_loc(data: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], list[Any]]:
    """Split pydantic's loc into the path that exists in the data and what is left over."""
    path: list[Any] = []
    current = data
    rest: list[Any] = []
    for i, item in enumerate(loc):
        if isinstance(current, dict) and item in current:
            path.append(item)
            current = current[item]
        elif isinstance(current, list) and isinstance(item, int) and 0 <= item < len(current):
            path.append(item)
            current = current[item]
        else:
            rest = list(loc[i:])
            break
    return tuple(path), rest


def _path_text(path: tuple[Any, ...]) -> str:
    out = ""
    for item in path:
        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out or "(top level)"


def check_cluster_schema(loaded: Loaded, rel: str) -> tuple[Optional[Cluster], list[Problem]]:
    data = loaded.data
    if not isinstance(data, dict):
        what = "empty" if data is None else describe(data)
        return None, [
            Problem(
                file=rel,
                line=1,
                column=1,
                code="not-a-mapping",
                message=f"cluster.yaml must be a mapping of keys, but it is {what}",
                hint="start from the example in README.md (name, provider, hubs)",
            )
        ]
    try:
        return Cluster.model_validate(data), []
    except ValidationError as e:
        return None, errors_to_problems(e, loaded, rel, Cluster)


def errors_to_problems(err: ValidationError, loaded: Loaded, rel: str, root_model: type[BaseModel]) -> list[Problem]:
    data = loaded.data
    grouped: dict[tuple[Any, ...], list[tuple[dict[str, Any], list[Any]]]] = {}
    for e in err.errors(include_url=False, include_input=True):
        path, rest = _split_loc(data, tuple(e["loc"]))
        if e["type"] == "missing" and rest:
            path = path  # reported at the mapping that lacks the key
        grouped.setdefault(path, []).append((e, rest))
    problems: list[Problem] = []
    for path, errs in grouped.items():
        # A union (e.g. a chart name or a remote chart) fails once per branch: keep the
        # branch that got furthest, or merge plain type mismatches into one message.
        deeper = [(e, r) for e, r in errs if e["type"] not in _TYPE_WORDS or len(r) > 1]
        if deeper and len(deeper) < len(errs):
            errs = deeper
        type_errs = [(e, r) for e, r in errs if e["type"] in _TYPE_WORDS and len(r) <= 1]
        if len(type_errs) > 1:
            words = sorted({_TYPE_WORDS[e["type"]] for e, _ in type_errs})
            first = type_errs[0][0]
            line, col = _value_pos(loaded, path)
            problems.append(
                Problem(
                    file=rel,
                    line=line,
                    column=col,
                    code="wrong-type",
                    message=f"{_path_text(path)}: expected {' or '.join(words)}, got {describe(first.get('input'))}",
                    hint=_hint_for(root_model, path, data),
                )
            )
            errs = [(e, r) for e, r in errs if (e, r) not in type_errs]
        for e, rest in errs:
            problems.append(_one(e, rest, path, loaded, rel, root_model))
    return problems


def _value_pos(loaded: Loaded, path: tuple[Any, ...]) -> tuple[int, int]:
    if path in loaded.value_positions:
        return loaded.value_positions[path]
    return loaded.position(path)


def _hint_for(root_model: type[BaseModel], path: tuple[Any, ...], data: Any) -> Optional[str]:
    parent = model_at(root_model, path[:-1], data) if path else None
    if parent and path and isinstance(path[-1], str):
        field = parent.model_fields.get(path[-1])
        if field and field.description:
            return f"`{path[-1]}`: {field.description}"
    return None


def _one(e: dict[str, Any], rest: list[Any], path: tuple[Any, ...], loaded: Loaded, rel: str, root_model: type[BaseModel]) -> Problem:
    kind = e["type"]
    data = loaded.data
    if kind == "extra_forbidden":
        key = path[-1] if path else (rest[-1] if rest else "?")
        parent = model_at(root_model, path[:-1], data)
        known = _field_names(parent) if parent else []
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else None
        if known:
            listing = f"valid keys here: {', '.join(known)}"
            hint = f"{hint} ({listing})" if hint else listing
        line, col = loaded.position(path)
        where = _path_text(path[:-1])
        return Problem(
            file=rel, line=line, column=col, code="unknown-key", message=f"unknown key `{key}` in {where}", hint=hint
        )
    if kind == "missing":
        key = rest[-1] if rest else (path[-1] if path else "?")
        line, col = loaded.position(path)
        parent = model_at(root_model, path, data)
        field = parent.model_fields.get(key) if parent and isinstance(key, str) else None
        hint = f"`{key}`: {field.description}" if field and field.description else f"add `{key}:`"
        where = _path_text(path)
        return Problem(
            file=rel, line=line, column=col, code="missing-key", message=f"{where}: missing required key `{key}`", hint=hint
        )
    line, col = _value_pos(loaded, path)
    if kind in _TYPE_WORDS:
        message = f"{_path_text(path)}: expected {_TYPE_WORDS[kind]}, got {describe(e.get('input'))}"
        return Problem(file=rel, line=line, column=col, code="wrong-type", message=message, hint=_hint_for(root_model, path, data))
    if kind in ("enum", "literal_error"):
        expected = (e.get("ctx") or {}).get("expected", "")
        close = None
        if isinstance(e.get("input"), str):
            options = [o.strip(" '\"") for o in expected.replace(" or ", ",").split(",") if o.strip()]
            matches = difflib.get_close_matches(e["input"], options, n=1, cutoff=0.5)
            close = f"did you mean `{matches[0]}`?" if matches else None
        return Problem(
            file=rel,
            line=line,
            column=col,
            code="bad-value",
            message=f"{_path_text(path)}: expected {expected}, got {describe(e.get('input'))}",
            hint=close,
        )
    return Problem(
        file=rel,
        line=line,
        column=col,
        code="invalid",
        message=f"{_path_text(path)}: {e.get('msg', 'invalid value')}",
        hint=_hint_for(root_model, path, data),
    )
