"""The ledger's digest of a release: what it renders from, as data.

A release renders from its chart and its values, for a Kubernetes version, with this deployer. Its
digest is computed from exactly those, as data, never from a list of deployer's source files:

- the chart's content: every file of our chart folder (and of the local charts it depends on
  through `file://`, and a hub's chart override); each dependency archive by its name, exact
  version and repository, helm's own identity of an archive (Chart.yaml pins exact versions, and
  an archive taken from a local chart repository must have the sha256 its index records, or
  preparing the chart fails: `adapters/chart_repo.py`). Not the archive's bytes: `status` and
  `plan-upgrade --against cluster` compute the same digest as `deploy` with or without a local
  chart repository at hand;
- each values layer's data, in order (`deployer.plan.value_layers` decides them): the generated
  layer, the local cluster's layer, the terraform outputs, and each values file as parsed (so a
  comment or a key order counts for nothing). An encrypted file counts by a digest of its
  ciphertext: its plaintext is never decrypted for the digest, nor put in it;
- the target's Kubernetes version (cluster.yaml `kubernetes_version`, what render checks against);
- deployer's version.

So a change of deployer that changes what a release renders (the local images' recipe, a layer
function) changes the layers' data, and so the digest: there is no list of files to keep. The
digest costs no decryption, no chart preparation and no helm call: a no-op deploy computes it for
every release and prepares, decrypts and renders only the releases whose digest changed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any, Mapping, Optional

from deployer import __version__
from deployer.config.file_reader import is_secret_name
from deployer.config.models import Cluster, RemoteChart
from deployer.config.yamlload import YamlProblem, decode, load_yaml
from deployer.plan.release_spec import ReleaseSpec
from deployer.plan.value_layers import ValuePlan, layer_values, value_plan
from deployer.render.inputs import ValuesReader
from deployer.render.kube_schema import DEFAULT_KUBERNETES_VERSION

DIGEST_FORMAT = "deployer-render-inputs-2"


def kubernetes_version(cluster: Cluster) -> str:
    """The Kubernetes version a cluster's releases render for (cluster.yaml `kubernetes_version`)."""
    return getattr(cluster, "kubernetes_version", None) or DEFAULT_KUBERNETES_VERSION


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DigestReader(ValuesReader):
    """Reads values files for the digest: plain ones parsed (the same reader, so each is read once
    per run), encrypted ones as a digest of their ciphertext (never decrypted)."""

    VERB, SECRET_VERB = "digested (parsed)", "digested (ciphertext, not decrypted)"

    def read_uncached(self, path: Path) -> dict[str, Any]:
        if not is_secret_name(path.name):
            return super().read_uncached(path)
        try:
            return {"sops ciphertext sha256": _sha(path.read_bytes())}
        except OSError as e:
            return {"unreadable": e.strerror or str(e)}


class ChartDigests:
    """The content of each chart (ours, and its dependencies' identities), digested once per run."""

    def __init__(self) -> None:
        self._folders: dict[Path, dict[str, str]] = {}
        self._lock = threading.Lock()

    def of_release(self, spec: ReleaseSpec) -> dict[str, str]:
        if isinstance(spec.chart, RemoteChart):
            return self._dependency(spec.chart.name, spec.chart.version, spec.chart.repository)
        assert spec.chart_dir is not None
        parts = dict(self.of_folder(spec.chart_dir))
        if spec.chart_override is not None:
            try:
                parts["chart override"] = _sha(spec.chart_override.read_bytes())
            except OSError:
                parts["chart override"] = "missing"
        return parts

    def of_folder(self, folder: Path, visiting: tuple[Path, ...] = ()) -> dict[str, str]:
        folder = folder.resolve()
        with self._lock:
            cached = self._folders.get(folder)
        if cached is not None:
            return cached
        if folder in visiting:  # a cycle: prepare_chart reports it
            return {f"cycle {folder.name}": "cycle"}
        parts: dict[str, str] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder)
            if rel.parts[0] in (".git", "tmpcharts") or "__pycache__" in rel.parts:
                continue
            parts[f"{folder.name}/{rel.as_posix()}"] = _sha(path.read_bytes())
        try:
            meta = load_yaml(decode((folder / "Chart.yaml").read_bytes()), positions=False).data or {}
        except (OSError, YamlProblem):
            meta = {}
        deps = meta.get("dependencies") if isinstance(meta, dict) else None
        for dep in deps if isinstance(deps, list) else []:
            if not isinstance(dep, dict) or not dep.get("name"):
                continue
            repository = str(dep.get("repository") or "")
            if repository.startswith("file://"):
                target = Path(repository[len("file://"):])
                target = target if target.is_absolute() else folder / target
                parts.update(self.of_folder(target, (*visiting, folder)))
            else:
                parts.update(self._dependency(str(dep["name"]), str(dep.get("version") or ""), repository))
        with self._lock:
            self._folders[folder] = parts
        return parts

    def _dependency(self, name: str, version: str, repository: str) -> dict[str, str]:
        return {f"dependency {name} {version}": repository}


def release_digest(spec: ReleaseSpec, reader: DigestReader, charts: ChartDigests, kube_version: str,
                   version: str = __version__, plan: Optional[ValuePlan] = None) -> str:
    """The digest the ledger records for a release (see the module's docstring); `plan`: its value
    plan when the caller made it already."""
    sources = reader.layer_sources(spec, None)
    plan = plan or value_plan(spec, sources.cloud_outputs)
    data = {
        "format": DIGEST_FORMAT,
        "chart": charts.of_release(spec),
        "layers": [[layer.name, values] for layer, values in layer_values(plan, sources)],
        "kubernetes": kube_version,
        "deployer": version,
    }
    return _sha(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode())


def desired_digests(root: Path, clusters: Mapping[str, Cluster], only: Optional[set[str]] = None,
                    version: str = __version__, outputs_root: Optional[Path] = None) -> dict[str, str]:
    """Per release id of the clusters (or of `only`): the digest of what the configuration in
    `root` renders. `outputs_root`: the repository whose saved terraform outputs are a layer
    (`root` itself, unless `root` is a commit written out elsewhere)."""
    from deployer.plan.deploy_order import plan_hubs, plan_support
    from deployer.render.pipeline import digest_stage, plan_stage, spec_stage

    planned = [p for name, cluster in sorted(clusters.items())
               for p in [*(plan_support(cluster) if cluster.support is not None else []), *plan_hubs(cluster, None)]
               if only is None or p.id in only]
    specs = spec_stage(root, clusters, planned)
    return digest_stage(specs, clusters, outputs_root or root, version=version,
                        plans=plan_stage(specs, outputs_root or root))
