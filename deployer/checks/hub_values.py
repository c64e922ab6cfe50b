"""The keys hubs put under basehub/daskhub: each either works with the meaning it has in 2i2c's
basehub, or is refused here with a named error and a hint. Nothing is dropped silently.

Checked offline on the hub's values files in layering order (the keys of sops-encrypted files are
readable in clear; their values are not, so a value stored encrypted is taken as unknown and judged
nowhere). What happens to every key is listed in docs/charts-keys.md.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Optional

from deployer.checks.problems import Problem, Severity
from deployer.config.file_reader import DataFile

# Top-level keys of basehub's values (under `basehub:` for daskhub), and what each does.
WORKS = {
    "global": "deployer's names for the hub and the cloud identity (set by deployer)",
    "jupyterhub": "the upstream jupyterhub 4.3.3 chart's values",
    "nfs": "home directories on an NFS server, the share creator and the home size reporters",
    "inClusterNFS": "home directories on a claim from the StorageClass `nfs`",
    "jupyterhub-home-nfs": "the in-cluster NFS server with per-user quotas",
    "binderhub-service": "a BinderHub beside the hub",
    "jupyterhub-groups-exporter": "the groups exporter",
    "dask-gateway": "a Dask Gateway beside the hub (dask-gateway 2026.3.0)",
    "userServiceAccount": "the users' service account with the hub's cloud identity",
    "nodePlaceholder": "placeholder pods keeping spare user nodes up",
}


@dataclass(frozen=True)
class Unavailable:
    code: str
    what: str
    hint: str


# Keys accepted only while switched off: what they switch on is not part of this basehub.
SWITCHED_OFF_ONLY: dict[str, Unavailable] = {
    "jupyterhub-cost-monitoring": Unavailable(
        "cost-monitoring-unavailable", "per-hub cost monitoring",
        "install jupyterhub-cost-monitoring as its own release; remove the key or set `enabled: false`"),
    "staticWebsite": Unavailable(
        "static-website-unavailable", "a static website served beside the hub",
        "serve the site with a separate release; remove `staticWebsite` or set `enabled: false`"),
}

HOME_NFS = "jupyterhub-home-nfs"
BINDER = "binderhub-service"


@dataclass
class _Seen:
    value: Any
    file: DataFile
    path: tuple[Any, ...]  # in the file, from its top (with `basehub` for daskhub)


class _Layers:
    """The hub's values files merged as helm merges them, remembering where each value was set last."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, ...], _Seen] = {}

    def add(self, f: DataFile, base: dict[str, Any], level: tuple[str, ...]) -> None:
        def walk(node: Any, path: tuple[str, ...]) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    walk(value, (*path, str(key)))
                if path and not node:
                    self.seen.setdefault(path, _Seen({}, f, (*level, *path)))
                return
            # a later scalar replaces everything below it
            for stale in [p for p in self.seen if p[:len(path)] == path and len(p) > len(path)]:
                del self.seen[stale]
            self.seen[path] = _Seen(node, f, (*level, *path))

        walk(base, ())

    def get(self, *path: str) -> Optional[_Seen]:
        return self.seen.get(path)

    def value(self, *path: str, default: Any = None) -> Any:
        seen = self.seen.get(path)
        return default if seen is None else seen.value

    def settings(self, top: str) -> list[_Seen]:
        """Where anything other than `enabled` is set under `top`."""
        return [s for p, s in self.seen.items() if len(p) > 1 and p[0] == top and p[1] != "enabled"]


def _known(value: Any) -> bool:
    """A plain value (not one stored encrypted, whose value validate cannot read)."""
    return not (isinstance(value, str) and value.startswith("ENC["))


def check_hub_values(hub: str, chart: str, files: list[DataFile]) -> list[Problem]:
    """Problems with the basehub-level keys of one hub's values files (in layering order)."""
    problems: list[Problem] = []
    layers = _Layers()
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
            if key not in WORKS and key not in SWITCHED_OFF_ONLY:
                known = ", ".join([*WORKS, *SWITCHED_OFF_ONLY])
                problems.append(_problem(f, (*level, key), "unknown-values-key",
                                         f"hub {hub}: unknown key `{key}` for the basehub chart: it would be refused "
                                         "by the chart's schema", f"basehub's keys: {known} (see docs/charts-keys.md)"))
        layers.add(f, {k: v for k, v in base.items() if not (level == () and k == "sops")}, level)
    problems += _switched_off_only(hub, layers)
    problems += _nfs(hub, layers)
    problems += _binderhub(hub, layers)
    return problems


def _switched_off_only(hub: str, layers: _Layers) -> list[Problem]:
    out = []
    for key, what in SWITCHED_OFF_ONLY.items():
        enabled = layers.get(key, "enabled")
        if enabled is not None and enabled.value is True:
            out.append(_at(enabled, what.code, f"hub {hub}: `{key}.enabled: true` asks for {what.what}, which this "
                                               "basehub does not provide", what.hint))
        elif layers.settings(key):
            first = layers.settings(key)[0]
            out.append(_at(first, what.code, f"hub {hub}: `{'.'.join(first.path[-2:])}` configures {what.what}, "
                                             "which this basehub does not provide: the settings have no effect",
                           what.hint, Severity.warning))
    return out


def nfs_server_on(layers: _Layers) -> Optional[bool]:
    """The chart's condition for the in-cluster NFS server: `jupyterhub-home-nfs.enabled` when it is a
    boolean, else `nfs.enabled` (None: stored encrypted, unknown)."""
    enabled = layers.value(HOME_NFS, "enabled")
    if isinstance(enabled, bool):
        return enabled
    nfs = layers.value("nfs", "enabled", default=False)
    return bool(nfs) if _known(nfs) else None


def _nfs(hub: str, layers: _Layers) -> list[Problem]:
    out: list[Problem] = []
    server = nfs_server_on(layers)
    address = layers.get("nfs", "pv", "serverIP")
    explicit = address is not None and address.value not in (None, "") and _known(address.value)
    if server and explicit:
        assert address is not None
        host = str(address.value)
        if _is_ip(host):
            out.append(_at(address, "nfs-server-address-pinned",
                           f"hub {hub}: the in-cluster NFS server is on and `nfs.pv.serverIP` is the address {host}: "
                           "it is taken as that server's ClusterIP (nodes that cannot resolve cluster DNS names, as on "
                           "EKS, need one)",
                           "if it is the in-cluster server's ClusterIP, nothing to do; if it is another server, set "
                           "`jupyterhub-home-nfs.enabled: false`", Severity.warning))
        elif host != _server_service(layers) and not host.startswith(_server_service(layers) + "."):
            where = layers.get(HOME_NFS, "enabled") or layers.get("nfs", "enabled") or address
            out.append(_at(address, "nfs-server-conflict",
                           f"hub {hub}: the in-cluster NFS server is on (`{'.'.join(where.path[-2:])}`) and "
                           f"`nfs.pv.serverIP` points at another server ({host}): homes would not be on the server "
                           "this hub runs",
                           "remove `nfs.pv.serverIP` (it defaults to the in-cluster server's Service), or keep it and "
                           "set `jupyterhub-home-nfs.enabled: false`"))
    if server is False and layers.value(HOME_NFS, "enabled") is None and layers.settings(HOME_NFS):
        first = layers.settings(HOME_NFS)[0]
        out.append(_at(first, "home-nfs-server-off",
                       f"hub {hub}: `jupyterhub-home-nfs` configures the in-cluster NFS server, which is off: it runs "
                       "when `nfs.enabled` is true or with `jupyterhub-home-nfs.enabled: true`",
                       "set `nfs.enabled: true` (homes on NFS, served by it) or `jupyterhub-home-nfs.enabled: true`; "
                       "or remove the `jupyterhub-home-nfs` settings"))
    nfs_on = layers.value("nfs", "enabled") is True
    pv_on = layers.value("nfs", "pv", "enabled") is True
    if nfs_on and pv_on and server is False and not explicit and (address is None or _known(address.value)):
        where = layers.get("nfs", "pv", "enabled")
        assert where is not None
        out.append(_at(where, "nfs-server-missing",
                       f"hub {hub}: homes are on NFS (`nfs.enabled`, `nfs.pv.enabled`) but no server is named: "
                       "`nfs.pv.serverIP` is empty and the in-cluster NFS server is off",
                       "set `nfs.pv.serverIP` to the NFS server's address, or turn the in-cluster server on "
                       "(remove `jupyterhub-home-nfs.enabled: false`)"))
    in_cluster = layers.get("inClusterNFS", "enabled")
    if in_cluster is not None and in_cluster.value is True and nfs_on and pv_on:
        out.append(_at(in_cluster, "nfs-claim-twice",
                       f"hub {hub}: `inClusterNFS.enabled` and `nfs.pv.enabled` both make the claim `home-nfs`",
                       "switch one of them off"))
    return out


def _server_service(layers: _Layers) -> str:
    """The in-cluster NFS server's Service name (basehub names it `storage-quota-home-nfs`)."""
    base = layers.value(HOME_NFS, "fullnameOverride", default="storage-quota")
    return f"{base}-home-nfs" if base else "home-nfs"


def _binderhub(hub: str, layers: _Layers) -> list[Problem]:
    enabled = layers.get(BINDER, "enabled")
    if enabled is None or enabled.value is not True:
        return []
    use_registry = layers.value(BINDER, "config", "BinderHub", "use_registry", default=True)
    prefix = layers.value(BINDER, "config", "BinderHub", "image_prefix", default="")
    if use_registry is False or prefix not in (None, ""):
        return []
    return [_at(enabled, "binderhub-registry-missing",
                f"hub {hub}: `binderhub-service.enabled: true` but BinderHub has no image registry to push the "
                "images it builds to (`binderhub-service.config.BinderHub.image_prefix` is not set)",
                "set `binderhub-service.config.BinderHub.image_prefix` (e.g. quay.io/<org>/<hub>-) and the "
                "registry's credentials in `binderhub-service.buildPodsRegistryCredentials` (server, username, "
                "password)")]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _at(seen: _Seen, code: str, message: str, hint: Optional[str],
        severity: Severity = Severity.error) -> Problem:
    return _problem(seen.file, seen.path, code, message, hint, severity)


def _problem(f: DataFile, path: tuple[Any, ...], code: str, message: str, hint: Optional[str],
             severity: Severity = Severity.error) -> Problem:
    line, column = f.loaded.position(path) if f.loaded is not None and path else (0, 0)
    return Problem(file=f.rel, line=line, column=column, severity=severity, code=code, message=message, hint=hint)
