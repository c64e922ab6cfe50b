"""Subchart schemas that refer to the internet, made whole offline.

Some charts' values.schema.json point `$ref` at Kubernetes' API definitions on the web (F5's
nginx-ingress 2.4.4 refers to `https://raw.githubusercontent.com/nginxinc/kubernetes-json-schema/
master/v1.35.1/_definitions.json#/definitions/...` 61 times). helm fetches those while it checks the
values, so without internet every `helm template/install` of a chart that bundles it fails before
rendering anything.

deployer keeps the checks and drops the download: when it prepares a chart, every such reference is
replaced by the same definition taken from the Kubernetes API schemas that PyPI `kubernetes-validate`
ships (the ones `deployer render` already checks objects with), copied into the schema's own
`definitions` so the reference becomes local (`#/definitions/...`). Only the prepared copy changes,
never the chart archive. A reference to anything else on the internet is an error naming it: deployer
never lets helm go online to check values, and never drops a schema silently.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deployer.errors import ConfigError

# bump when the rewriting changes: prepared charts are cached by a key that includes it
VERSION = "1"

_K8S_DEFS = re.compile(
    r"^https?://[^#]*/v(?P<major>\d+)\.(?P<minor>\d+)\.\d+(?P<flavour>-[a-z-]+)?/_definitions\.json#(?P<pointer>/.*)$")


def _remote_ref_nodes(node: Any) -> list[dict[str, Any]]:
    """Every schema node whose `$ref` names a document on the web, in document order."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and re.match(r"^https?://", ref):
            found.append(node)
        for value in node.values():
            found += _remote_ref_nodes(value)
    elif isinstance(node, list):
        for value in node:
            found += _remote_ref_nodes(value)
    return found


def remote_refs(schema: Any) -> list[str]:
    """Every `$ref` in the schema that names a document on the web, in document order."""
    return [node["$ref"] for node in _remote_ref_nodes(schema)]


def kubernetes_definitions(major_minor: str, strict: bool) -> dict[str, Any]:
    """The API definitions of the newest Kubernetes version kubernetes-validate ships that is not
    newer than `major_minor` (e.g. "1.35"), by definition name."""
    import kubernetes_validate.utils as kv

    def key(v: str) -> tuple[int, int]:
        a, b = v.split(".")[:2]
        return int(a), int(b)

    available = sorted((v for v in kv.all_versions() if key(v) <= key(major_minor)), key=key)
    if not available:
        raise LookupError(major_minor)
    version = available[-1]
    flavour = "-local-strict" if strict else "-local"
    data = kv.schema_contents(f"kubernetes-json-schema/v{version}{flavour}/_definitions.json", version)
    return dict(data.get("$defs") or data.get("definitions") or {})


def resolve(schema: dict[str, Any], chart: str,
            definitions: Callable[[str, bool], dict[str, Any]] = kubernetes_definitions) -> dict[str, Any]:
    """`schema` with every remote Kubernetes-definitions `$ref` made local (a new dict)."""
    schema = json.loads(json.dumps(schema))
    local: dict[str, Any] = {}
    loaded: dict[tuple[str, bool], dict[str, Any]] = {}

    def source(ref: str) -> tuple[dict[str, Any], list[str]]:
        m = _K8S_DEFS.match(ref)
        parts = m.group("pointer").strip("/").split("/") if m else []
        if not m or len(parts) < 2 or parts[0] not in ("definitions", "$defs"):
            raise ConfigError(
                f"chart {chart}: its values.schema.json refers to {ref}, which deployer cannot resolve offline",
                hint="only references to Kubernetes API definitions (…/vX.Y.Z/_definitions.json#/definitions/…) are "
                     "resolved locally; report the chart, or vendor a copy whose schema has no remote $ref")
        wanted = (f"{m.group('major')}.{m.group('minor')}", "strict" in (m.group("flavour") or ""))
        if wanted not in loaded:
            try:
                loaded[wanted] = definitions(*wanted)
            except LookupError as e:
                raise ConfigError(f"chart {chart}: its values.schema.json refers to the Kubernetes {wanted[0]} API "
                                  "definitions, and kubernetes-validate ships none that old",
                                  hint="upgrade the kubernetes-validate package") from e
        return loaded[wanted], [p.replace("~1", "/").replace("~0", "~") for p in parts[1:]]

    def bring(defs: dict[str, Any], name: str, ref: str) -> None:
        if name in local:
            return
        if name not in defs:
            raise ConfigError(f"chart {chart}: its values.schema.json refers to {ref}, a definition the local "
                              f"Kubernetes API schemas do not have ({name})",
                              hint="upgrade the kubernetes-validate package")
        text = json.dumps(defs[name]).replace('"#/$defs/', '"#/definitions/')
        local[name] = json.loads(text)
        for inner in re.findall(r'"#/definitions/([^"/]+)"', text):
            bring(defs, inner, ref)

    for node in _remote_ref_nodes(schema):
        ref = node["$ref"]
        defs, path = source(ref)
        bring(defs, path[0], ref)
        node["$ref"] = "#/definitions/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)
    if local:
        own = schema.setdefault("definitions", {})
        clash = sorted(set(own) & set(local))
        if clash:
            raise ConfigError(f"chart {chart}: its values.schema.json defines {', '.join(clash)} itself and also "
                              "refers to the Kubernetes definition of that name",
                              hint="report the chart; deployer cannot merge the two")
        own.update(local)
    return schema


def make_schemas_offline(chart_dir: Path) -> list[str]:
    """Rewrite, in a prepared chart's folder, every subchart schema with remote references.

    A subchart archive (charts/*.tgz) holding such a schema is unpacked in place of the archive
    (helm reads a subchart folder as it reads an archive). Returns the subcharts rewritten."""
    charts = chart_dir / "charts"
    if not charts.is_dir():
        return []
    done: list[str] = []
    for archive in sorted(charts.glob("*.tgz")):
        if not _archive_has_remote_refs(archive):
            continue
        with tarfile.open(archive) as tar:
            tar.extractall(charts, filter="data")
        archive.unlink()
    for schema_file in sorted(charts.glob("**/values.schema.json")):
        schema = _load(schema_file)
        if not remote_refs(schema):
            continue
        chart = schema_file.parent.name
        schema_file.write_text(json.dumps(resolve(schema, chart), indent=1) + "\n", encoding="utf-8")
        done.append(chart)
    return done


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: not a readable JSON schema ({e})",
                          hint="check the chart archive this schema came from") from e


def _archive_has_remote_refs(archive: Path) -> bool:
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.endswith("values.schema.json"):
                    f = tar.extractfile(member)
                    if f is not None and re.search(rb'"\$ref"\s*:\s*"https?://', f.read()):
                        return True
    except (OSError, tarfile.TarError) as e:
        raise ConfigError(f"{archive}: not a readable chart archive ({e})",
                          hint="check the chart repository's archive (`tar tzf`)") from e
    return False

