"""Rendered objects against the Kubernetes API schemas of one Kubernetes version.

The schemas are those bundled by PyPI `kubernetes-validate` (strict: unknown fields are errors).
Validators are built once per (kind, apiVersion) and reused: loading the shared definitions for
every object, as the library's own `validate()` does, would cost far more than the check.
Objects of API groups that Kubernetes itself does not serve (custom resources: traefik.io,
cert-manager.io, ...) have no bundled schema and are counted as not checked.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Optional

DEFAULT_KUBERNETES_VERSION = "1.34"  # the local cluster's
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
# a resource quantity as the API server parses it (apimachinery's resource.ParseQuantity): a signed
# decimal, then a binary (Ki..Ei) or decimal (n u m k M G T P E) suffix, or an exponent
QUANTITY_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
# the bundled schemas accept any string there; ours gives the pattern
_QUANTITY_SCHEMA = {"oneOf": [{"type": ["string", "null"], "pattern": QUANTITY_PATTERN}, {"type": ["number", "null"]}]}


@dataclass(frozen=True)
class SchemaFinding:
    message: str  # "<path>: <what is wrong>"
    unknown_api: bool = False  # a built-in API group/version Kubernetes does not serve


def builtin_group(api_version: str) -> bool:
    """Served by Kubernetes itself (core `v1`, `apps/v1`, `networking.k8s.io/v1`, ...)."""
    if "/" not in api_version:
        return True
    group = api_version.split("/", 1)[0]
    return "." not in group or group.endswith(".k8s.io")


class KubeSchemas:
    def __init__(self, version: str) -> None:
        import kubernetes_validate.utils as kv

        wanted = _major_minor(version)
        available = [v for v in kv.all_versions() if _key(_major_minor(v)) <= _key(wanted)]
        if not available:
            raise ValueError(f"no Kubernetes API schemas for {wanted}")
        self.schema_version = available[-1]
        self.version = wanted
        self._dir = f"kubernetes-json-schema/v{self.schema_version}-local-strict"
        self._kv = kv
        self._lock = threading.Lock()
        self._validators: dict[tuple[str, str], Any] = {}
        self._registry: Any = None

    def _validator(self, kind: str, api_version: str) -> Optional[Any]:
        key = (kind, api_version)
        with self._lock:
            if key in self._validators:
                return self._validators[key]
            import jsonschema
            from referencing import Registry, Resource

            if self._registry is None:
                defs = self._kv.schema_contents(f"{self._dir}/_definitions.json", self.schema_version)
                if QUANTITY in defs.get("$defs", {}):
                    defs = {**defs, "$defs": {**defs["$defs"], QUANTITY: _QUANTITY_SCHEMA}}
                self._registry = Resource.from_contents(defs) @ Registry()
            name = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
            try:
                schema = self._kv.schema_contents(f"{self._dir}/{kind.lower()}-{name}.json", self.schema_version)
            except FileNotFoundError:
                validator = None
            else:
                registry = Resource.from_contents(schema) @ self._registry
                validator = jsonschema.validators.Draft202012Validator(schema, registry=registry)
            self._validators[key] = validator
            return validator

    def check(self, obj: dict[str, Any]) -> tuple[bool, list[SchemaFinding]]:
        """(checked, findings): checked is False for custom resources (no schema to check against)."""
        kind, api_version = str(obj.get("kind", "")), str(obj.get("apiVersion", ""))
        validator = self._validator(kind, api_version)
        if validator is None:
            if builtin_group(api_version):
                return True, [SchemaFinding(f"{api_version} {kind} is not served by Kubernetes {self.version}",
                                            unknown_api=True)]
            return False, []
        findings = []
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))[:5]:
            where = ".".join(str(p) for p in error.absolute_path) or "(object)"
            if error.schema is _QUANTITY_SCHEMA or error.schema == _QUANTITY_SCHEMA:
                message = f"{error.instance!r} is not a Kubernetes quantity (e.g. 512Mi, 2Gi, 500m, 1.5)"
            else:
                message = error.message
            findings.append(SchemaFinding(f"{where}: {_short(message, error.instance)}"))
        return True, findings


def check_objects(objects: list[dict[str, Any]], schemas: KubeSchemas) -> tuple[int, int, list[str]]:
    """(checked, not checked, problems) of rendered objects against one Kubernetes version's API,
    each problem naming its object: what `render` checks, for `deploy --dry-run`."""
    checked = skipped = 0
    problems: list[str] = []
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        done, findings = schemas.check(obj)
        checked, skipped = checked + done, skipped + (not done)
        name = (obj.get("metadata") or {}).get("name", "?") if isinstance(obj.get("metadata"), dict) else "?"
        problems += [f"{obj.get('kind', '?')} {name}: {f.message}" for f in findings]
    return checked, skipped, problems


def _short(message: str, instance: Any = None) -> str:
    """At most 200 characters. A value too long to show is left out whole, never cut: the piece of a
    secret that a cut would leave is a form of it no redactor knows."""
    if len(message) <= 200:
        return message
    shown = repr(instance)
    if instance is not None and shown in message:
        message = message.replace(shown, f"(a {type(instance).__name__} of {len(shown)} characters, not shown)")
    return message if len(message) <= 200 else message[:197] + "..."


def _major_minor(version: str) -> str:
    m = re.match(r"^v?(\d+)\.(\d+)", version.strip())
    if not m:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return f"{m.group(1)}.{m.group(2)}"


def _key(mm: str) -> tuple[int, int]:
    a, b = mm.split(".")
    return int(a), int(b)
