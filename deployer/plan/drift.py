"""Drift: live objects that no longer match their helm release's manifest (someone ran
`kubectl edit`). Pure: it is handed the manifest and the live objects.

A live object holds much more than its manifest (defaults, status, fields controllers set), so
the comparison asks only whether every field the manifest sets still has that value: mappings by
their keys, lists element by element (a different length is drift), quantities by value (`0.5`
and `500m` are one CPU amount), and a field the manifest leaves empty, 0 or false may be absent. Secrets are
compared by their decoded values in memory and reported by key name only: no value, digest or
length of a Secret is ever part of the result.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from deployer.errors import DeployerError
from deployer.plan.diff import object_key, secret_values

MAX_FIELDS = 5  # per object, the first drifted fields are named


class ReleasePayloadError(DeployerError, ValueError):
    """helm's release record could not be decoded."""


def decode_release(encoded: str) -> dict[str, Any]:
    """A helm release as stored in its Secret's `data.release` (as the API returns it: base64 of
    helm's base64 of gzip of JSON)."""
    try:
        raw = base64.b64decode(base64.b64decode(encoded))
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        data = json.loads(raw)
    except (ValueError, OSError, EOFError) as e:
        # keep-from-None: the cause holds the whole decoded release record (UnicodeDecodeError.args[1],
        # JSONDecodeError.doc): every value of the release, older secrets and the chart's generated ones, which
        # the redactor was never given; its class name is in the message
        raise ReleasePayloadError(f"not a helm release record ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise ReleasePayloadError("not a helm release record")
    return data


def manifest_objects(manifest: str) -> list[dict[str, Any]]:
    """The objects of a rendered manifest (libyaml's parser when present: 50 hubs' manifests took
    9.7 s with the pure-Python one, about 20x less with libyaml)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(manifest or "", Loader=loader) if isinstance(d, dict) and d.get("kind")]


@dataclass(frozen=True)
class ObjectDrift:
    key: str  # Kind namespace/name
    fields: tuple[str, ...]  # field paths that differ ("deleted" when the object is gone)

    def describe(self) -> str:
        shown = ", ".join(self.fields[:MAX_FIELDS]) + (f" and {len(self.fields) - MAX_FIELDS} more"
                                                        if len(self.fields) > MAX_FIELDS else "")
        return f"{self.key} ({shown})"


_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_FACTOR = {None: 1, "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": 10**3, "M": 10**6,
           "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
           "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(value: Any) -> Optional[Decimal]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    m = _QUANTITY.match(value.strip())
    if not m:
        return None
    try:
        return Decimal(m.group(1)) * Decimal(_FACTOR[m.group(2)])
    except InvalidOperation:
        return None


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == ""


def _zero(value: Any) -> bool:
    """0 or false: the API server's Go types drop such a value from what they return (`omitempty`), so a
    manifest's `initialDelaySeconds: 0` (the jupyterhub 4.3.3 chart's hub and proxy probes) is absent live."""
    return value is False or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)


def _same_scalar(want: Any, have: Any) -> bool:
    if want == have:
        return True
    if isinstance(want, str) or isinstance(have, str):
        a, b = quantity(want), quantity(have)
        if a is not None and b is not None and (isinstance(want, str) or isinstance(have, str)):
            return a == b
    return str(want) == str(have) and not isinstance(want, bool) and not isinstance(have, bool)


def differences(want: Any, have: Any, path: str = "") -> list[str]:
    """Field paths where `have` does not hold what `want` sets."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [] if _empty(want) and _empty(have) else [path or "."]
        out = []
        for key, value in want.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in have:
                if not _empty(value) and not _zero(value):
                    out.append(sub)
                continue
            out += differences(value, have[key], sub)
        return out
    if isinstance(want, list):
        if not isinstance(have, list):
            return [] if _empty(want) and _empty(have) else [path]
        if len(want) != len(have):
            return [path]
        out = []
        for i, (w, h) in enumerate(zip(want, have)):
            out += differences(w, h, f"{path}[{i}]")
        return out
    if want is None:
        return []
    if have is None and _empty(want):
        return []
    return [] if _same_scalar(want, have) else [path]


def object_drift(desired: dict[str, Any], live: Optional[dict[str, Any]], namespace: str) -> Optional[ObjectDrift]:
    """How one live object strays from its manifest; None when it does not."""
    key = object_key(desired, namespace)
    if live is None:
        return ObjectDrift(key, ("deleted",))
    fields: list[str] = []
    meta, live_meta = desired.get("metadata") or {}, live.get("metadata") or {}
    for part in ("labels", "annotations"):
        fields += differences(meta.get(part) or {}, live_meta.get(part) or {}, f"metadata.{part}")
    skip = {"apiVersion", "kind", "metadata", "status"}
    if desired.get("kind") == "Secret":
        skip |= {"data", "stringData"}
        want, have = secret_values(desired), secret_values(live)
        fields += [f"data.{k}" for k in sorted(want) if have.get(k) != want[k]]  # key names only, never values
    for field, value in desired.items():
        if field not in skip:
            fields += differences(value, live.get(field), field)
    return ObjectDrift(key, tuple(fields)) if fields else None


def release_drift(manifest: list[dict[str, Any]], live: dict[str, dict[str, Any]], namespace: str,
                  cluster_scoped: frozenset[str] = frozenset()) -> list[ObjectDrift]:
    """Every object of a release that strays from its manifest. `live` maps object_key -> live
    object; kinds in `cluster_scoped` (what the API server says, beyond the well-known ones) have
    no namespace."""
    out = []
    for doc in manifest:
        ns = "" if doc.get("kind") in cluster_scoped else namespace
        key = object_key(doc, ns)
        drift = object_drift(doc, live.get(key), ns)
        if drift is not None:
            out.append(drift)
    return out


