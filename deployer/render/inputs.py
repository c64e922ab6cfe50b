"""A release's inputs, each read once: its spec (paths and names), its chart prepared with its
dependencies, and its values layered in the order `deployer.plan.value_layers` decides (plain
files parsed, encrypted ones decrypted in memory, each file at most once per run).

deploy, diff and render (the stages of `render/pipeline.py`) all take a
release's chart and values from here; the ledger digests them (`render/digest.py`).
"""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from deployer.adapters.chart_repo import ChartRepository
from deployer.adapters.charts import PreparedChart, prepare_chart
from deployer.adapters.helm import ChartSource
from deployer.config.file_reader import is_secret_name
from deployer.config.models import Cluster, RemoteChart
from deployer.config.yamlload import YamlProblem, decode, load_yaml
from deployer.errors import ConfigError, DeployerError
from deployer.plan.deploy_order import PlannedRelease
from deployer.plan.release_spec import ReleaseSpec, cluster_release_spec
from deployer.plan.value_layers import LayerSources, ValuePlan, release_values

if TYPE_CHECKING:
    from deployer.adapters.process import ProcessRunner
    from deployer.adapters.sops import Sops
    from deployer.local.layers import SwitchedOff

log = logging.getLogger("deployer.values")


@dataclass(frozen=True)
class ChartOptions:
    """Where charts are prepared, and the local chart repository their dependencies come from."""

    work_dir: Path = field(default_factory=lambda: Path(".deployer/charts"))
    # a local Helm chart repository (index.yaml + .tgz) that chart dependencies come from (offline use)
    chart_repo: Optional[Path] = None


def release_spec(root: Path, cluster: Cluster, planned: PlannedRelease, charts: Mapping[str, Path]) -> ReleaseSpec:
    folder = root / "config" / "clusters" / cluster.name
    return cluster_release_spec(folder, cluster, None if planned.kind == "support" else planned.hub or "", charts,
                                planned.id)


def chart_name(spec: ReleaseSpec, prepared: Optional[PreparedChart]) -> str:
    """The name of the chart the release deploys (the prepared chart's, as its Chart.yaml says)."""
    if prepared is not None:
        return prepared.name
    return spec.chart.name if isinstance(spec.chart, RemoteChart) else str(spec.chart)


def helm_chart_source(spec: ReleaseSpec, prepared: Optional[PreparedChart]) -> ChartSource:
    """Where helm takes the release's chart from: the prepared folder, or the remote repository."""
    if prepared is not None:
        return ChartSource.folder(prepared.path)
    return ChartSource.remote(spec.chart.name, spec.chart.repository, spec.chart.version)


def local_layer(spec: ReleaseSpec, name: str):
    """The local cluster's values layer for this release (deployer.local.layers), or None elsewhere."""
    if spec.provider != "local":
        return None
    from deployer.local.layers import layer_for

    return layer_for(name, support=spec.hub is None, hubs=list(spec.cluster_hubs))


def local_substitute(spec: ReleaseSpec, prepared: Optional[PreparedChart],
                     report: Optional[dict[str, Any]] = None, preview: bool = False):
    """The local cluster's last values layer for a hub (deployer.local.layers.last_layer; for a preview
    of a fleet hub, deployer.local.preview_layer.preview_layer before it), as the function of the layers
    before it that `LayerSources.substitute` takes; None elsewhere. What it substitutes and switches off
    goes into `report` (`substituted`: one line each; `switched_off`: each SwitchedOff; `home_claim` for a
    preview)."""
    if spec.provider != "local" or spec.hub is None:
        return None
    from deployer.local.layers import HUB_NESTING

    name = chart_name(spec, prepared)
    if name not in HUB_NESTING:
        return None  # a chart of the user's own: nothing of ours to point anywhere

    def substitute(below: dict[str, Any]) -> dict[str, Any]:
        from deployer.local.chart_defaults import chart_defaults
        from deployer.local.images import image_refs
        from deployer.local.layers import last_layer
        from deployer.plan.values_merge import merge_values

        defaults = chart_defaults(prepared.path) if prepared is not None else {}
        effective = merge_values(defaults, below)
        substituted, switched_off, own = [], [], {}
        if preview:
            from deployer.local.preview_layer import preview_layer

            cloud = preview_layer(effective, name)
            own, effective = cloud.values, merge_values(effective, cloud.values)
            substituted, switched_off = list(cloud.substituted), list(cloud.switched_off)
            if report is not None:
                report["home_claim"] = cloud.home_claim
        layer = last_layer(effective, image_refs(), name)
        if report is not None:
            report["substituted"] = [s.line() for s in substituted + layer.substituted]
            report["switched_off"] = switched_off + layer.switched_off
        return merge_values(own, layer.values)

    return substitute


def prepare_release_chart(spec: ReleaseSpec, options: ChartOptions, runner: "ProcessRunner",
                          helm_binary: Path) -> Optional[PreparedChart]:
    """The release's chart with its dependencies built; None for a remote chart helm fetches itself."""
    repo = ChartRepository.open(options.chart_repo) if options.chart_repo is not None else None
    chart_dir = spec.chart_dir
    if chart_dir is None and isinstance(spec.chart, RemoteChart):
        if repo is None:
            return None  # helm fetches it from its repository
        entry = repo.require(spec.chart.name, spec.chart.version, wanted_by=f"release {spec.id}")
        return PreparedChart(entry.archive, entry.name, entry.version,
                             {f"{entry.name} {entry.version}": str(entry.archive)})
    assert chart_dir is not None
    return prepare_chart(chart_dir, work_dir=options.work_dir, chart_repo=repo, runner=runner, helm=helm_binary,
                         chart_override=spec.chart_override)


class SwitchedOnChartMissing(ConfigError):
    """A release switches on a part of its chart whose chart the chart repository lacks."""

    code = "switched-on-chart-missing"


def refuse_missing_switched_on(spec: ReleaseSpec, prepared: PreparedChart, values: dict[str, Any]) -> None:
    """Never deploy or render a release without a part it switches on (deployer.checks.chart_switches)."""
    from deployer.checks.chart_switches import missing_switched_on

    found = missing_switched_on(prepared.missing_optional, values)
    if not found:
        return
    path, what = found[0]
    name = what.split(" ", 1)[0]
    raise SwitchedOnChartMissing(
        f"{spec.id}: `{path}` (set in {_where_set(spec, path)}) switches on {what}",
        hint=f"add the chart to the repository ({name}-<version>.tgz, then `helm repo index`), pin a version it "
             f"holds in the chart's Chart.yaml, or set `{path}: false`")


def _where_set(spec: ReleaseSpec, path: str) -> str:
    """The last plain values file that sets `path` (a secret one is not read again), else the chart's default."""
    for file in reversed(spec.values_files):
        if is_secret_name(file.name):
            continue
        try:
            node: Any = load_yaml(decode(file.read_bytes()), positions=False).data
        except (OSError, YamlProblem):
            continue
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return file.name
    secret = [f.name for f in spec.values_files if is_secret_name(f.name)]
    return " or ".join(secret + ["the chart's values.yaml"])


def chart_dependencies(chart: Path) -> list[str]:
    """The names of a chart's dependencies (its Chart.yaml), for the generated values layer."""
    try:
        data = load_yaml(decode((chart / "Chart.yaml").read_bytes()), positions=False).data or {}
    except (OSError, YamlProblem):
        return []
    if not isinstance(data, dict):
        return []
    return [d.get("name") for d in data.get("dependencies") or [] if isinstance(d, dict)]


def saved_outputs(root: Path, cluster: str, env: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """The outputs `provision apply`/`output` saved for a cluster ({} when none): the terraform
    outputs layer (`deployer.plan.computed_layers.terraform_values`)."""
    import json
    import os

    from deployer.plan.terraform_plan import work_dir

    path = work_dir(root, cluster, os.environ if env is None else env) / "outputs.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    values = data.get("outputs") if isinstance(data, dict) else None
    return values if isinstance(values, dict) else {}


def read_plain_values(path: Path) -> dict[str, Any]:
    """A plain values file's mapping (a clear error naming the file otherwise)."""
    try:
        data = load_yaml(decode(path.read_bytes()), positions=False).data
    except YamlProblem as e:
        raise DeployerError(f"{path.name}:{e.line}:{e.column}: {e.message}", hint="run `deployer validate`") from e
    except OSError as e:
        raise DeployerError(f"{path.name}: cannot read: {e.strerror}") from e
    return _mapping(path, data)


def _mapping(path: Path, data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DeployerError(f"{path.name}: values must be a mapping", hint="run `deployer validate`")
    return data


@dataclass
class ReadyRelease:
    """A release with its chart prepared and its values layered, read once: what render, diff and
    deploy hand helm."""

    spec: ReleaseSpec
    chart: Optional[PreparedChart]  # None: a remote chart helm fetches itself
    values: dict[str, Any]
    local_switched_off: list["SwitchedOff"] = field(default_factory=list)  # what the local layers switched off
    local_substituted: list[str] = field(default_factory=list)  # what the last local layer substituted
    home_claim: bool = False  # a preview: make the local claim for the hub's NFS homes

    @property
    def ingress_switched_off(self) -> bool:
        """The local layers switched the hub's Ingress off (a preview: it answers through its proxy only),
        wherever its chart nests the jupyterhub chart's values."""
        return any(o.component.split(".")[-2:] == ["ingress", "enabled"] for o in self.local_switched_off)

    @property
    def source(self) -> ChartSource:
        return helm_chart_source(self.spec, self.chart)

    @property
    def chart_name(self) -> str:
        return chart_name(self.spec, self.chart)


class ValuesReader:
    """Reads a release's values files (decrypting secret ones through sops, in memory) and layers
    them. Each file is read, and each secret decrypted, at most once per reader: a run shares one
    reader, so a file common to several releases costs one read."""

    VERB, SECRET_VERB = "read", "read and decrypted"  # in the debug log, a run's cost

    def __init__(self, sops: Optional["Sops"], cloud_outputs: Optional[Mapping[str, Any]] = None) -> None:
        self.sops = sops
        # what `deployer provision` saved for this cluster (endpoint, role ARNs, buckets, ...)
        self.cloud_outputs = dict(cloud_outputs or {})
        self._read: dict[Path, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._file_locks: dict[Path, threading.Lock] = {}
        self.reads: list[Path] = []  # each file actually read, in order (what a run cost)
        self.preview = False  # previews of fleet hubs on the local cluster (deployer.run.preview)

    def read_values_file(self, path: Path) -> dict[str, Any]:
        key = Path(path)
        with self._lock:
            cached = self._read.get(key)
            file_lock = self._file_locks.setdefault(key, threading.Lock())
        if cached is None:
            with file_lock:  # releases made ready at once that share a file: one reads it, the others wait
                with self._lock:
                    cached = self._read.get(key)
                if cached is None:
                    log.debug("values file %s: %s", self.VERB if not is_secret_name(key.name) else self.SECRET_VERB, key)
                    cached = self.read_uncached(key)
                    with self._lock:
                        self._read[key] = cached
                        self.reads.append(key)
        return copy.deepcopy(cached)

    def read_uncached(self, path: Path) -> dict[str, Any]:
        if not is_secret_name(path.name):
            return read_plain_values(path)
        assert self.sops is not None, "a secret values file needs sops"
        data = self.sops.decrypt_data(path)
        if isinstance(data, dict):
            data.pop("sops", None)
        return _mapping(path, data)

    def layer_sources(self, spec: ReleaseSpec, prepared: Optional[PreparedChart],
                      read: Optional[Callable[[Path], dict[str, Any]]] = None,
                      report: Optional[dict[str, Any]] = None) -> LayerSources:
        """What fills the release's layers (deployer.plan.value_layers decides which, in which order);
        `report` gets what the local cluster's last layer substituted and switched off."""
        name = chart_name(spec, prepared)
        local = local_layer(spec, name)
        dependencies = chart_dependencies(prepared.path) if prepared is not None else \
            (chart_dependencies(spec.chart_dir) if spec.chart_dir is not None else [])
        return LayerSources(read or self.read_values_file, name, tuple(dependencies),
                            local.values if local is not None else {}, self.cloud_outputs,
                            local_substitute(spec, prepared, report, self.preview))

    def release_values(self, spec: ReleaseSpec, prepared: Optional[PreparedChart],
                       report: Optional[dict[str, Any]] = None, plan: Optional[ValuePlan] = None) -> dict[str, Any]:
        """The values helm gets for the release (deploy, diff and render all take them from here)."""
        values = release_values(spec, self.layer_sources(spec, prepared, report=report), plan)
        if prepared is not None and prepared.missing_optional:
            refuse_missing_switched_on(spec, prepared, values)
        return values


def ready_release(spec: ReleaseSpec, reader: ValuesReader, options: ChartOptions, runner: "ProcessRunner",
                  helm_binary: Path, prepared: Optional[Mapping[str, Optional[PreparedChart]]] = None,
                  plan: Optional[ValuePlan] = None) -> ReadyRelease:
    """Prepare the release's chart (unless `prepared` has it already) and layer its values (by
    `plan`, the release's value plan, when the caller made it already)."""
    chart = prepared[spec.id] if prepared is not None and spec.id in prepared else \
        prepare_release_chart(spec, options, runner, helm_binary)
    report: dict[str, Any] = {}
    values = reader.release_values(spec, chart, report, plan)
    local = local_layer(spec, chart_name(spec, chart))
    early = list(local.switched_off) if local is not None else []
    return ReadyRelease(spec, chart, values, early + list(report.get("switched_off", [])),
                        list(report.get("substituted", [])), bool(report.get("home_claim")))
