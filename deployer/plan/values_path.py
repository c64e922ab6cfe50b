"""A path in nested values (the mappings helm's values are made of): read it, or set it."""

from __future__ import annotations

from collections.abc import Mapping


def dig(values: object, path: tuple[str, ...]) -> object:
    """The value at `path` in nested mappings (None where any key is missing or a step is no mapping)."""
    for key in path:
        if not isinstance(values, Mapping):
            return None
        values = values.get(key)
    return values


def put(values: dict, path: tuple[str, ...], value: object) -> None:
    """Set the value at `path`, making the mappings on the way."""
    for key in path[:-1]:
        values = values.setdefault(key, {})
    values[path[-1]] = value
