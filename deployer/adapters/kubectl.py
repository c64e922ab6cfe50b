"""kubectl's server-side dry run: the API server validates objects (field formats such as label
values and names, immutable fields, admission) without storing them.

helm's `--dry-run=server` does not do this: it renders the chart with `lookup` reaching the
cluster, and checks the objects against the OpenAPI schema on the client (types, required
fields); it never sends them to the API server. A label value with a space passes it, and the
real install then fails. `server_dry_run` sends every rendered object with `dryRun=All`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from deployer.adapters.process import ProcessRunner

DRY_RUN_TIMEOUT = 60.0
NOT_CHECKED = ("whether images can be pulled, pods become ready, hooks and jobs succeed, or volumes bind "
               "(only a real deploy shows that)")


@dataclass
class DryRunResult:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    unchecked_kinds: list[str] = field(default_factory=list)  # custom resources whose CRD is not installed yet
    namespace_note: str = ""


def server_dry_run(runner: ProcessRunner, kubectl: Path, kubeconfig: Optional[Path], context: Optional[str],
                   docs: list[dict[str, Any]], namespace: str, env: Optional[dict[str, str]] = None) -> DryRunResult:
    """Send `docs` (a release's rendered objects) to the API server as a server-side dry run."""
    base = [str(kubectl)]
    if kubeconfig:
        base += ["--kubeconfig", str(kubeconfig)]
    if context:
        base += ["--context", context]
    result = DryRunResult()
    target = namespace
    exists = runner.run([*base, "get", "namespace", namespace, "-o", "name"], timeout=DRY_RUN_TIMEOUT, env=env)
    if not exists.ok and "notfound" in exists.stderr.replace(" ", "").lower():
        # a first install: the namespace does not exist yet, and objects in a namespace that does not
        # exist are refused before validation; the objects are validated in `default` instead
        target = "default"
        result.namespace_note = f"namespace {namespace} does not exist yet: its objects were validated in `default`"
    objects = []
    for doc in docs:
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        doc = dict(doc)
        meta = dict(doc.get("metadata") or {})
        if meta.get("namespace") == namespace:
            meta["namespace"] = target
        doc["metadata"] = meta
        objects.append(doc)
    if not objects:
        return result
    # JSON, never YAML: PyYAML writes a string such as 1e23 (a checksum annotation) unquoted, which
    # kubectl's YAML reader takes for a number ("cannot unmarshal number into ... of type string")
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, ensure_ascii=False)
    proc = runner.run([*base, "apply", "--dry-run=server", "--validate=false", "-n", target, "-o", "name", "-f", "-"],
                      timeout=DRY_RUN_TIMEOUT, env=env, input=text)
    result.checked = len([line for line in proc.stdout.splitlines() if line.strip()])
    for line in proc.stderr.splitlines():
        line = runner.redactor(line.strip())
        if not line:
            continue
        missing = re.search(r'no matches for kind "([^"]+)"', line)
        if missing:
            result.unchecked_kinds.append(missing.group(1))
            continue
        if line.lower().startswith("warning:"):
            continue
        result.problems.append(_shorten(line))
    if not proc.ok and not result.problems and not result.unchecked_kinds:
        result.problems.append(f"kubectl apply --dry-run=server failed (exit {proc.returncode})")
    return result


def _shorten(line: str) -> str:
    line = re.sub(r'^Error from server \((\w+)\): error when (creating|applying patch|patching|retrieving current '
                  r'configuration of)[^:]*"STDIN": ', r"\1: ", line)
    return line[:500]
