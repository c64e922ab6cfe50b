"""`helm template`'s output as objects (each with the template that made it), and its errors as
problems naming the template, its line, or the values it refused."""

from __future__ import annotations

import re
from typing import Any, Optional

from deployer.errors import DeployerError
from deployer.render.model import RenderedObject, RenderProblem
from deployer.plan.release_spec import ReleaseSpec


class ManifestError(DeployerError):
    """A rendered manifest that is not valid YAML; `source` names the template it came from."""

    def __init__(self, message: str, source: str) -> None:
        super().__init__(message)
        self.source = source


_SOURCE = re.compile(r"^# Source: (.+)$", re.M)


def parse_manifests(text: str, cache: Optional[dict[str, list[Any]]] = None) -> list[RenderedObject]:
    """helm's output as objects, each with the template that made it. `cache` (chunk text -> parsed
    documents) lets a fleet parse the many identical manifests of its releases (CRDs) once."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    objects = []
    for chunk in re.split(r"^---\s*$", text, flags=re.M):
        if not chunk.strip():
            continue
        m = _SOURCE.search(chunk)
        source = m.group(1).strip() if m else ""
        docs = cache.get(chunk) if cache is not None else None
        try:
            if docs is None:
                docs = list(yaml.load_all(chunk, Loader=loader))
                if cache is not None:
                    cache[chunk] = docs
        except yaml.YAMLError as e:
            # keep-from-None: without libyaml (the SafeLoader fallback) the YAMLError's text quotes the failing
            # line of helm's output (its marks hold the whole document), which may be a secret the chart generated
            # (randAlphaNum) that the redactor was never given; the error's first line is in the message
            raise ManifestError(f"{source or 'a manifest'} is not valid YAML: {str(e).splitlines()[0]}", source) from None
        for doc in docs:
            if not doc:
                continue
            if not isinstance(doc, dict) or "kind" not in doc:
                raise ManifestError(f"{source or 'a manifest'} holds something that is not a Kubernetes object", source)
            meta = doc.get("metadata") or {}
            objects.append(RenderedObject(str(doc.get("kind")), str(meta.get("name", "")),
                                          str(meta.get("namespace", "")), str(doc.get("apiVersion", "")), source, doc))
    return objects


_AT_TEMPLATE = re.compile(r"\(([\w./-]+\.(?:yaml|yml|tpl|txt|json)):(\d+):(\d+)\)")
_TEMPLATE = re.compile(r"template: ([\w./-]+\.(?:yaml|yml|tpl|txt|json)):(\d+):(\d+)")
_YAML_ON = re.compile(r"YAML parse error on ([\w./-]+)")


def helm_problem(release: str, stderr: str, spec: ReleaseSpec) -> RenderProblem:
    """helm's error as one problem naming the template (and its line) or the values it refused."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    text = " ".join(lines)
    first = next((ln for ln in lines if ln.startswith("Error:")), lines[0] if lines else "helm template failed")
    message = first.removeprefix("Error: ")
    if message.endswith(":"):  # its message is on the lines after (a chart's `fail "\n..."`)
        from deployer.adapters.helm import error_summary

        message = error_summary(stderr)
    values_files = ", ".join(p.name for p in spec.values_files) or "(generated values only)"
    if "don't meet the specifications of the schema" in text:
        detail = "; ".join(ln for ln in lines[1:] if not ln.startswith("Error:"))
        return RenderProblem(release, "values-schema", f"values refused by the charts' schemas: {detail}",
                             f"fix the key named in the hub's values files ({values_files})", file=values_files)
    if "YAML parse error" in text:
        m = _YAML_ON.search(text)
        return RenderProblem(release, "invalid-manifest", message, "the template renders something that is not valid "
                             "YAML with these values", file=m.group(1) if m else "")
    m = _AT_TEMPLATE.search(text) or _TEMPLATE.search(text)
    if m:
        return RenderProblem(release, "template-failed", message,
                             f"the values ({values_files}) break this template line", file=f"{m.group(1)}:{m.group(2)}")
    if "requires kubeVersion" in text:
        return RenderProblem(release, "kube-version-excluded", message,
                             "set cluster.yaml `kubernetes_version` to the version the cluster runs, or use a chart "
                             "version that supports it")
    return RenderProblem(release, "template-failed", message, "run `helm template` on the chart to see the whole error")
