"""Is a switched part of a chart on for a release? Its `condition` read as helm reads it (pure).

A chart dependency with a `condition` (`binderhub-service.enabled`, or several paths separated by
commas) is on when the first of its paths that holds a boolean, in the release's values over the
chart's defaults, is true. A part the chart repository lacks is left out of the prepared chart
(adapters/charts.py); a release that switches it on must be refused, never rendered without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

_UNSET = object()


def value_at(values: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at a dotted path of a values dict (`default` when any part is missing)."""
    node: Any = values
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return default
        node = node[key]
    return node


def condition_on(paths: list[tuple[str, Any]], values: Mapping[str, Any]) -> Optional[str]:
    """The path that switches the part on (None: off). `paths`: each path of the condition with its
    default in the chart's values."""
    for path, default in paths:
        value = value_at(values, path, _UNSET)
        if value is _UNSET:
            value = default
        if isinstance(value, bool):
            return path if value else None
    return None


def missing_switched_on(missing: Mapping[str, Any], values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(the path that switches it on, what is missing) for each left-out part the values switch on.
    `missing`: condition -> an object with `what` and `defaults` (adapters.charts.MissingDependency)."""
    out = []
    for _, gone in sorted(missing.items()):
        path = condition_on(list(gone.defaults), values)
        if path is not None:
            out.append((path, gone.what))
    return out
