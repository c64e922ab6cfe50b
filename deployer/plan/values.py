"""Helm values: the layer deployer generates for a hub, and layering with helm's own semantics.

pyhelm3 merges several values dicts by concatenating lists and ignoring nulls; helm itself
(`-f a.yaml -f b.yaml`) replaces lists and lets a null delete a chart default. Configurations
rely on helm's behaviour (a hub replacing a profile list), so deployer merges the layers itself,
exactly as helm does, and hands helm one dict.
"""

from __future__ import annotations

import copy
from typing import Any

TLS_SECRET = "https-auto-tls"


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


def generated_values(*, cluster: str, hub: str, domain: str, dependencies: list[str], chart_name: str) -> dict[str, Any]:
    """What deployer knows about a hub, as values, layered before the hub's own files (so that
    they can still override it): its domain on the ingress with TLS, and its names."""
    ingress = {"hosts": [domain], "tls": [{"hosts": [domain], "secretName": TLS_SECRET}]}
    values: dict[str, Any] = {"global": {"hubName": hub, "clusterName": cluster, "domain": domain}}
    if "basehub" in dependencies:
        values["basehub"] = {"jupyterhub": {"ingress": ingress}}
    elif "jupyterhub" in dependencies:
        values["jupyterhub"] = {"ingress": ingress}
    elif chart_name == "jupyterhub":
        values["ingress"] = ingress
    return values
