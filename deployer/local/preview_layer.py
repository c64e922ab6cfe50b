"""What a preview of a fleet hub changes, besides what any hub on the local cluster gets
(`deployer.local.layers.last_layer`): the cloud-only parts, each to its local equivalent or off.

Pure: from the values the layers before it merge to (over the chart's defaults), the values to layer
last and one line per change for the run report. Nothing else of the hub's configuration is touched:
its extraConfig, templates, profile options, culler and spawner settings run as in production.

- node selectors (the hub's, the proxy's, user servers', each profile's and choice's) point at cloud node
  pools: removed; `matchNodePurpose: require` becomes `prefer` (no node here has the purpose label);
- what the scheduler reserves for a user server (its guarantee, else its limit, as Kubernetes does) is
  lowered to a small floor when it exceeds what this machine can spare (sized for a cloud node, it never
  fits); the limits stay;
- sidecar and init containers of user servers and of the hub whose image comes from a registry this
  node cannot reach are left out (their image is not the user image: nothing local can stand in for it);
- NFS homes: the share's PersistentVolume (a server in the cloud) gives way to a local claim `home-nfs`
  the preview makes (`HOME_CLAIM`), so homes are still `<claim>/<user>`; jupyterhub-home-nfs (an NFS
  server pod) is switched off;
- storage classes of the cloud named for the hub's database and users' homes (`managed-premium`,
  `gp3`, ...) give way to the local cluster's default StorageClass;
- ingress and its TLS (an address and certificates of the cloud) are switched off, and so is the proxy's
  own HTTPS (its traefik image is not here);
- the authenticator becomes JupyterHub's `dummy` one: the hub's admin_users and allowed_users (under
  `hub.config.Authenticator`) stay, so admin-only configuration still runs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deployer.local.layers import HUB_NESTING, Substitution, SwitchedOff, is_local_image
from deployer.plan.values_path import dig, put

HOME_CLAIM = "home-nfs"  # basehub's claim for NFS homes; the preview makes a local one
LOCAL_AUTHENTICATOR = "dummy"

_NODE_SELECTORS = (("hub", "nodeSelector"), ("proxy", "chp", "nodeSelector"), ("proxy", "traefik", "nodeSelector"),
                   ("singleuser", "nodeSelector"), ("scheduling", "userScheduler", "nodeSelector"))
_PURPOSE = (("scheduling", "userPods", "nodeAffinity", "matchNodePurpose"),
            ("scheduling", "corePods", "nodeAffinity", "matchNodePurpose"))
# what a user server may reserve here (above: lowered to the floor); (the values key, ceiling, floor)
_RESERVE = {"memory": (1024 ** 3, "256M"), "cpu": (0.5, 0.05)}
_SIDECARS = (("singleuser", "extraContainers"), ("singleuser", "initContainers"), ("hub", "extraContainers"),
             ("hub", "initContainers"))
_OVERRIDE_KEYS = ("node_selector",)
# storage classes a hub may name (none here but the local default)
_STORAGE_CLASSES = (("hub", "db", "pvc", "storageClassName"), ("singleuser", "storage", "dynamic", "storageClass"))
LOCAL_STORAGE_CLASS = "deployer-local"


def quantity(value: Any, kind: str) -> float | None:
    """A Kubernetes/kubespawner quantity as bytes (memory) or cores (cpu); None when unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    units = {"Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4, "K": 1e3, "M": 1e6, "G": 1e9,
             "T": 1e12, "k": 1e3, "m": 1e-3 if kind == "cpu" else 1e-3}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            try:
                return float(text[:-len(suffix)]) * units[suffix]
            except ValueError:
                return None
    try:
        return float(text)
    except ValueError:
        return None


def _too_big(guarantee: Any, limit: Any, kind: str) -> Any:
    """What a server would reserve (its guarantee, else its limit) when it exceeds the ceiling; else None."""
    reserved = guarantee if guarantee not in (None, "") else limit
    amount = quantity(reserved, kind)
    return reserved if amount is not None and amount > _RESERVE[kind][0] else None


@dataclass(frozen=True)
class PreviewLayer:
    values: dict
    substituted: list[Substitution] = field(default_factory=list)
    switched_off: list[SwitchedOff] = field(default_factory=list)
    home_claim: bool = False  # the preview must make the claim HOME_CLAIM before user servers start


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "{}"
    return str(value)


def _local_profiles(profiles: list, at: str) -> tuple[list, list[Substitution]]:
    """The profile list with node selectors and guarantees taken out of every profile's and choice's
    kubespawner_override (the rest of each kept as it is)."""
    profiles = copy.deepcopy(profiles)
    done: list[Substitution] = []

    def strip(override: Any, where: str) -> None:
        if not isinstance(override, dict):
            return
        for key in _OVERRIDE_KEYS:
            if key in override:
                done.append(Substitution(f"{where}.kubespawner_override.{key}", _text(override[key]), "(removed)"))
                del override[key]
        for kind, short in (("memory", "mem"), ("cpu", "cpu")):
            big = _too_big(override.get(f"{short}_guarantee"), override.get(f"{short}_limit"), kind)
            if big is not None:
                floor = _RESERVE[kind][1]
                done.append(Substitution(f"{where}.kubespawner_override.{short}_guarantee", str(big),
                                         f"{floor} (reserved here; the limit stays)"))
                override[f"{short}_guarantee"] = floor

    for i, profile in enumerate(profiles):
        if not isinstance(profile, dict):
            continue
        strip(profile.get("kubespawner_override"), f"{at}[{i}]")
        options = profile.get("profile_options")
        for name, option in (options.items() if isinstance(options, dict) else ()):
            choices = option.get("choices") if isinstance(option, dict) else None
            for key, choice in (choices.items() if isinstance(choices, dict) else ()):
                if isinstance(choice, dict):
                    strip(choice.get("kubespawner_override"), f"{at}[{i}].profile_options.{name}.choices.{key}")
    return profiles, done


def _containers(items: Any) -> list:
    if isinstance(items, list):
        return items
    if isinstance(items, dict):  # z2jh also takes a mapping of name -> container
        return [dict(v, name=v.get("name", k)) if isinstance(v, dict) else v for k, v in items.items()]
    return []


def preview_layer(effective: Mapping, chart: str) -> PreviewLayer:
    """The preview's own substitutions for a hub of `chart` (see the module's docstring)."""
    if chart not in HUB_NESTING:
        return PreviewLayer({})
    nest = HUB_NESTING[chart]
    at = ".".join(nest) + "." if nest else ""
    z2jh = dig(effective, nest) or {}
    out: dict = {}
    subs: list[Substitution] = []
    off: list[SwitchedOff] = []
    for path in _NODE_SELECTORS:
        value = dig(z2jh, path)
        if value:
            put(out, path, None)  # null: helm drops the key (the chart's default: no selector)
            subs.append(Substitution(at + ".".join(path), _text(value), "(none: one local node)"))
    for path in _PURPOSE:
        if dig(z2jh, path) == "require":
            put(out, path, "prefer")
            subs.append(Substitution(at + ".".join(path), "require", "prefer"))
    for path in _STORAGE_CLASSES:
        value = dig(z2jh, path)
        if value and value != LOCAL_STORAGE_CLASS:
            put(out, path, None)  # null: the claim names no class, and gets the default one
            subs.append(Substitution(at + ".".join(path), str(value),
                                     f"(none: the local default StorageClass {LOCAL_STORAGE_CLASS})"))
    for kind, (_, floor) in _RESERVE.items():
        big = _too_big(dig(z2jh, ("singleuser", kind, "guarantee")), dig(z2jh, ("singleuser", kind, "limit")), kind)
        if big is not None:
            put(out, ("singleuser", kind, "guarantee"), floor)
            subs.append(Substitution(f"{at}singleuser.{kind}.guarantee", str(big),
                                     f"{floor} (reserved here; sized for a cloud node; the limit stays)"))
    profiles = dig(z2jh, ("singleuser", "profileList"))
    if isinstance(profiles, list) and profiles:
        local, done = _local_profiles(profiles, f"{at}singleuser.profileList")
        if done:
            put(out, ("singleuser", "profileList"), local)
            subs += done
    for path in _SIDECARS:
        items = _containers(dig(z2jh, path))
        kept = [c for c in items if not isinstance(c, dict) or is_local_image(str(c.get("image") or "deployer.local/"))]
        if len(kept) != len(items):
            for c in items:
                if c not in kept:
                    off.append(SwitchedOff(f"{at}{'.'.join(path)}[{c.get('name')}]",
                                           f"its image {c.get('image')} is in a registry this node cannot reach"))
            put(out, path, kept)
    if dig(z2jh, ("ingress", "enabled")):
        put(out, ("ingress", "enabled"), False)
        off.append(SwitchedOff(f"{at}ingress.enabled", "no ingress controller, address or certificates here; "
                                                       "the preview is reached through its proxy"))
    if dig(z2jh, ("proxy", "https", "enabled")):
        put(out, ("proxy", "https", "enabled"), False)
        off.append(SwitchedOff(f"{at}proxy.https.enabled", "no certificates here (and no traefik image)"))
    authenticator = dig(z2jh, ("hub", "config", "JupyterHub", "authenticator_class"))
    if authenticator not in (None, LOCAL_AUTHENTICATOR):
        put(out, ("hub", "config", "JupyterHub", "authenticator_class"), LOCAL_AUTHENTICATOR)
        subs.append(Substitution(f"{at}hub.config.JupyterHub.authenticator_class", str(authenticator),
                                 f"{LOCAL_AUTHENTICATOR} (admin_users and allowed_users kept)"))
    values = _nest_under(out, nest)
    home_claim = False
    base = ("basehub",) if chart == "daskhub" else ()
    if chart != "jupyterhub":
        where = ".".join(base) + "." if base else ""
        home_claim = bool(dig(effective, (*base, "nfs", "enabled")))  # basehub mounts the claim home-nfs
        if home_claim and dig(effective, (*base, "nfs", "pv", "enabled")):
            put(values, (*base, "nfs", "pv", "enabled"), False)
            subs.append(Substitution(f"{where}nfs.pv.enabled",
                                     f"the NFS share on {dig(effective, (*base, 'nfs', 'pv', 'serverIP')) or '?'}",
                                     f"a local claim {HOME_CLAIM} (homes stay <claim>/<user>)"))
        if dig(effective, (*base, "jupyterhub-home-nfs", "enabled")):
            put(values, (*base, "jupyterhub-home-nfs", "enabled"), False)
            off.append(SwitchedOff(f"{where}jupyterhub-home-nfs.enabled", "an NFS server of the cloud; homes are a "
                                                                          "local claim here"))
    return PreviewLayer(values, subs, off, home_claim)


def _nest_under(values: dict, path: tuple[str, ...]) -> dict:
    if not values:
        return {}
    for key in reversed(path):
        values = {key: values}
    return values
