"""Layering values with helm's own semantics. What the layers deployer computes hold:
`deployer.plan.computed_layers`; which layers a release has, in which order: `deployer.plan.value_layers`.

pyhelm3 merges several values dicts by concatenating lists and ignoring nulls; helm itself
(`-f a.yaml -f b.yaml`) replaces lists and lets a null delete a chart default. Configurations
rely on helm's behaviour (a hub replacing a profile list), so deployer merges the layers itself,
exactly as helm does, and hands helm one dict.
"""

from __future__ import annotations

import copy
from typing import Any


def merge_values(*layers: dict[str, Any]) -> dict[str, Any]:
    """Later layers win; mappings merge key by key; lists and scalars are replaced; a null is
    kept (helm then deletes that key from the chart's defaults)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        _merge_into(merged, layer)
    return merged


def _merge_into(base: dict[str, Any], override: dict[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_into(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
