"""What a deploy would change: rendered objects against the live release, as a unified diff (pure).

Objects are matched by kind, namespace and name, and each is written as canonical YAML (keys
sorted) before diffing, so formatting and key order never show up as changes. Secrets are
compared in memory but shown masked: every value of `data` and `stringData` is replaced by a
marker that says only whether that key is unchanged, changed, added or removed. Nothing of a
Secret's content ever reaches the output.
"""

from __future__ import annotations

import base64
import difflib
import io
from dataclasses import dataclass
from typing import Any, Optional

HIDDEN = "<hidden>"
HIDDEN_CHANGED = "<hidden, changed>"
SECRET_FIELDS = ("data", "stringData")


@dataclass(frozen=True)
class ObjectChange:
    key: str  # Kind namespace/name
    change: str  # added | removed | changed
    diff: str  # unified diff lines (masked for Secrets)
    secret: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"object": self.key, "change": self.change, "secret": self.secret, "diff": self.diff}


def object_key(doc: dict[str, Any], namespace: str) -> str:
    meta = doc.get("metadata") or {}
    kind = str(doc.get("kind", "?"))
    ns = meta.get("namespace") or (namespace if kind not in CLUSTER_SCOPED else "")
    name = meta.get("name", "?")
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ClusterIssuer",
                  "StorageClass", "PriorityClass", "PersistentVolume", "IngressClass", "PodSecurityPolicy",
                  "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService"}


def secret_values(doc: dict[str, Any]) -> dict[str, bytes]:
    """A Secret's values as bytes, `data` (base64) and `stringData` (plain) alike, as the API
    server merges them (stringData wins)."""
    out: dict[str, bytes] = {}
    for key, value in (doc.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value or ""), validate=False)
        except (ValueError, TypeError):
            out[str(key)] = str(value).encode()
    for key, value in (doc.get("stringData") or {}).items():
        out[str(key)] = str("" if value is None else value).encode()
    return out


def mask_secret(doc: dict[str, Any], compare_to: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The Secret without its content: `data`/`stringData` become one `data` map of markers.
    With `compare_to` (the other side), keys whose value differs are marked changed."""
    masked = {k: v for k, v in doc.items() if k not in SECRET_FIELDS}
    values = secret_values(doc)
    other = secret_values(compare_to) if compare_to is not None else None
    if values:
        masked["data"] = {k: (HIDDEN if other is None or other.get(k) == v or k not in other else HIDDEN_CHANGED)
                          for k, v in sorted(values.items())}
    return masked


def canonical(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): canonical(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, list):
        return [canonical(v) for v in obj]
    return obj


def to_yaml(obj: Any) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(canonical(obj), out)
    return out.getvalue()


def index(docs: list[dict[str, Any]], namespace: str) -> dict[str, dict[str, Any]]:
    return {object_key(d, namespace): d for d in docs if isinstance(d, dict) and d.get("kind")}


def diff_manifests(live: list[dict[str, Any]], desired: list[dict[str, Any]], namespace: str,
                   context: int = 3) -> list[ObjectChange]:
    """Per object, what changes from `live` to `desired` (both lists of Kubernetes objects)."""
    before, after = index(live, namespace), index(desired, namespace)
    changes: list[ObjectChange] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        secret = (old or new or {}).get("kind") == "Secret"
        if secret:
            old_shown = mask_secret(old) if old is not None else None
            new_shown = mask_secret(new, old) if new is not None else None
        else:
            old_shown, new_shown = old, new
        old_text = to_yaml(old_shown) if old_shown is not None else ""
        new_text = to_yaml(new_shown) if new_shown is not None else ""
        if old is not None and new is not None:
            same = canonical(old) == canonical(new) if not secret else (
                old_text == new_text and secret_values(old) == secret_values(new))
            if same:
                continue
            change = "changed"
        else:
            change = "added" if old is None else "removed"
        lines = difflib.unified_diff(old_text.splitlines(), new_text.splitlines(),
                                     fromfile=f"live: {key}" if old is not None else "/dev/null",
                                     tofile=f"rendered: {key}" if new is not None else "/dev/null",
                                     lineterm="", n=context)
        changes.append(ObjectChange(key, change, "\n".join(lines), secret))
    return changes


def summary(changes: list[ObjectChange]) -> str:
    counts = {c: sum(1 for x in changes if x.change == c) for c in ("added", "changed", "removed")}
    if not changes:
        return "no changes"
    return ", ".join(f"{n} {c}" for c, n in counts.items() if n)
