"""The keys hubs put under basehub/daskhub: each either works with the meaning it has in 2i2c's
basehub, or is refused here with a named error and a migration hint. Nothing is dropped silently.

Checked offline on the hub's values files in layering order (the keys of sops-encrypted files are
readable in clear; their values are not, so an `enabled` switch is judged only where it is plain).
What happens to every key is listed in docs/charts-keys.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from deployer.checks.problems import Problem
from deployer.config.file_reader import DataFile

# Top-level keys of basehub's values (under `basehub:` for daskhub), and what happens to each.
WORKS = {
    "global": "deployer's names for the hub (set by deployer)",
    "jupyterhub": "the upstream jupyterhub 4.3.3 chart's values",
    "nfs": "home directories on an NFS server",
    "dask-gateway": "basehub's Dask Gateway (`enabled` switches it on)",
}


@dataclass(frozen=True)
class Unavailable:
    code: str
    what: str
    hint: str
    # settings without an `enabled` key mean "on" (the corpus configures 2i2c's in-cluster NFS server
    # on a disk, and points nfs.pv.serverIP at its service, without ever saying enabled)
    on_when_configured: bool = False


# Keys accepted only while switched off (`enabled` false or absent): what they switch on is not
# part of this basehub. Paths are relative to the basehub level.
SWITCHED_OFF_ONLY: dict[tuple[str, ...], Unavailable] = {
    ("jupyterhub-home-nfs",): Unavailable(
        "home-nfs-server-unavailable", "an in-cluster NFS server (2i2c's jupyterhub-home-nfs chart)",
        "run the NFS server outside this chart (a cloud file store, or jupyterhub-home-nfs installed on its own), "
        "then point `nfs.pv.serverIP` at its address; remove `jupyterhub-home-nfs` or set `enabled: false`",
        on_when_configured=True),
    ("binderhub-service",): Unavailable(
        "binderhub-unavailable", "a BinderHub beside the hub (2i2c's binderhub-service chart)",
        "deploy binderhub-service as its own release (a hub entry with a remote chart in cluster.yaml); "
        "remove `binderhub-service` here or set `enabled: false`"),
    ("jupyterhub-groups-exporter",): Unavailable(
        "groups-exporter-unavailable", "the JupyterHub groups exporter",
        "install jupyterhub-groups-exporter as its own release; remove the key or set `enabled: false`"),
    ("jupyterhub-cost-monitoring",): Unavailable(
        "cost-monitoring-unavailable", "per-hub cost monitoring",
        "install jupyterhub-cost-monitoring as its own release; remove the key or set `enabled: false`"),
    ("staticWebsite",): Unavailable(
        "static-website-unavailable", "a static website served beside the hub",
        "serve the site with a separate release; remove `staticWebsite` or set `enabled: false`"),
    ("nfs", "shareCreator"): Unavailable(
        "nfs-share-creator-unavailable", "the job that creates each hub's folder on the NFS share",
        "create <baseShareName><hub> on the NFS server once (owned by uid 1000), then set "
        "`nfs.shareCreator.enabled: false` or remove it"),
    ("nfs", "dirsizeReporter"): Unavailable(
        "nfs-dirsize-reporter-unavailable", "the home-directory size reporter for Grafana",
        "remove `nfs.dirsizeReporter` or set `enabled: false`; home sizes are not reported"),
}

# Keys of 2i2c's forks that the real upstream charts refuse (their schemas forbid unknown keys).
REFUSED_PATHS: dict[tuple[str, ...], tuple[str, str]] = {
    ("dask-gateway", "gateway", "auth", "jupyterhub", "jupyterhubServiceName"): (
        "gateway-service-name-unknown",
        "remove it: the real dask-gateway 2024.1.0 chart has no such key, and basehub registers the gateway's "
        "JupyterHub service as `dask-gateway` (its token: Secret `hub`, key hub.services.dask-gateway.apiToken)"),
}


@dataclass
class _Seen:
    value: Any
    file: DataFile
    path: tuple[Any, ...]


def check_hub_values(hub: str, chart: str, files: list[DataFile]) -> list[Problem]:
    """Problems with the basehub-level keys of one hub's values files (in layering order)."""
    problems: list[Problem] = []
    enabled: dict[tuple[str, ...], _Seen] = {}
    configured: dict[tuple[str, ...], _Seen] = {}
    for f in files:
        data = f.data
        if not isinstance(data, dict):
            continue
        if chart == "daskhub":
            for key in data:
                if key == "dask-gateway":
                    problems.append(_problem(f, (key,), "daskhub-gateway-moved",
                                             f"hub {hub}: daskhub takes its gateway settings under "
                                             "`basehub.dask-gateway`, not at the top level",
                                             "move the `dask-gateway:` block under `basehub:` (daskhub switches "
                                             "basehub's gateway on; the settings are the same)"))
                elif key not in ("basehub", "global", "sops"):
                    problems.append(_problem(f, (key,), "unknown-values-key",
                                             f"hub {hub}: unknown top-level key `{key}` for the daskhub chart",
                                             "daskhub takes `basehub:` (every basehub key) and `global:`"))
            level: tuple[str, ...] = ("basehub",)
            base = data.get("basehub")
        else:
            level = ()
            base = data
        if not isinstance(base, dict):
            continue
        for key in base:
            if level == () and key == "sops":
                continue
            if key not in WORKS and (key,) not in SWITCHED_OFF_ONLY:
                known = ", ".join([*WORKS, *(p[0] for p in SWITCHED_OFF_ONLY if len(p) == 1)])
                problems.append(_problem(f, (*level, key), "unknown-values-key",
                                         f"hub {hub}: unknown key `{key}` for the basehub chart: it would be refused "
                                         "by the chart's schema", f"basehub's keys: {known} (see docs/charts-keys.md)"))
        for path, (code, hint) in REFUSED_PATHS.items():
            if _has(base, path):
                problems.append(_problem(f, (*level, *path), code,
                                         f"hub {hub}: `{'.'.join(path)}` is not a key of the real chart", hint))
        for path in SWITCHED_OFF_ONLY:
            node = _get(base, path)
            if isinstance(node, dict) and "enabled" in node:
                enabled[path] = _Seen(node["enabled"], f, (*level, *path, "enabled"))
            if isinstance(node, dict) and set(node) - {"enabled"} and path not in configured:
                configured[path] = _Seen(True, f, (*level, *path))
    for path, what in SWITCHED_OFF_ONLY.items():
        seen = enabled.get(path)
        if seen is not None and seen.value is True:
            problems.append(_problem(seen.file, seen.path, what.code,
                                     f"hub {hub}: `{'.'.join(path)}.enabled: true` asks for {what.what}, which this "
                                     "basehub does not provide", what.hint))
        elif seen is None and what.on_when_configured and path in configured:
            where = configured[path]
            problems.append(_problem(where.file, where.path, what.code,
                                     f"hub {hub}: `{'.'.join(path)}` configures {what.what} (on unless "
                                     "`enabled: false`), which this basehub does not provide", what.hint))
    return problems


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _has(data: Any, path: tuple[str, ...]) -> bool:
    parent = _get(data, path[:-1])
    return isinstance(parent, dict) and path[-1] in parent


def _problem(f: DataFile, path: tuple[Any, ...], code: str, message: str, hint: Optional[str]) -> Problem:
    line, column = f.loaded.position(path) if f.loaded is not None else (0, 0)
    return Problem(file=f.rel, line=line, column=column, code=code, message=message, hint=hint)
