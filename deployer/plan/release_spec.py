"""One release as paths and names, before any file is read: its id, names, cluster, chart (a folder of
ours or a repository's) and values files in cluster.yaml's order (`ReleaseSpec`, made by
`cluster_release_spec`); and where its chart comes from (`ReleaseChart`). Which values layers it gets,
in which order: `deployer.plan.value_layers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from deployer.config.models import Cluster, Hub, RemoteChart
from deployer.errors import DeployerError


@dataclass(frozen=True)
class ReleaseSpec:
    """Everything that determines one release, as paths and names (no I/O done yet)."""

    id: str
    release: str
    namespace: str
    cluster: str
    chart: Any  # str (a chart folder name) or RemoteChart
    chart_dir: Optional[Path]
    values_files: tuple[Path, ...]
    chart_override: Optional[Path] = None
    domain: Optional[str] = None
    domain_override: Optional[Path] = None
    hub: Optional[str] = None
    provider: str = ""  # the cluster's provider: `local` adds the local cluster's own layer
    cluster_hubs: tuple[str, ...] = ()  # the support stack's: the hubs its Prometheus scrapes on the local cluster
    provisioned: bool = False  # the cluster has a `terraform:` block: its saved outputs are a layer


def cluster_release_spec(folder: Path, cluster: Cluster, hub: Optional[str], charts: Optional[Mapping[str, Path]],
                         release_id: Optional[str] = None) -> ReleaseSpec:
    """The spec of the cluster's support stack (`hub` None) or of one hub. `folder` is the cluster's
    folder (values files are named relative to it); `charts` maps a chart name to its folder (None:
    chart folders are not looked up, as plan-upgrade needs only the layers)."""
    release_id = release_id or f"{cluster.name}/{hub or 'support'}"
    provisioned = cluster.terraform is not None
    if hub is None:
        assert cluster.support is not None
        chart = cluster.support.helm_chart
        return ReleaseSpec(release_id, "support", "support", cluster.name, chart, _chart_dir(chart, charts),
                           tuple(folder / f for f in cluster.support.helm_chart_values_files),
                           provider=cluster.provider.value, cluster_hubs=tuple(h.name for h in cluster.hubs),
                           provisioned=provisioned)
    model: Hub = cluster.hub(hub)  # type: ignore[assignment]
    return ReleaseSpec(
        release_id, model.name, model.name, cluster.name, model.helm_chart, _chart_dir(model.helm_chart, charts),
        tuple(folder / f for f in model.helm_chart_values_files),
        chart_override=folder / model.chart_override if model.chart_override else None,
        domain=model.domain,
        domain_override=folder / model.domain_override_file if model.domain_override_file else None,
        hub=model.name,
        provider=cluster.provider.value,
        provisioned=provisioned,
    )


def _chart_dir(chart: Any, charts: Optional[Mapping[str, Path]]) -> Optional[Path]:
    if isinstance(chart, RemoteChart) or charts is None:
        return None
    if chart not in charts:
        raise DeployerError(f"chart `{chart}` is not known", hint=f"known charts: {', '.join(sorted(charts))}")
    return charts[chart]


# --- the chart ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseChart:
    """Where the release's chart comes from: a chart folder of ours (prepared, its dependencies
    built, before helm uses it; `override` replaces files of it), or a repository and a version."""

    name: str
    folder: Optional[Path] = None
    override: Optional[Path] = None
    repository: Optional[str] = None
    version: Optional[str] = None

    @property
    def remote(self) -> bool:
        return self.repository is not None


def release_chart(spec: ReleaseSpec) -> ReleaseChart:
    if isinstance(spec.chart, RemoteChart):
        return ReleaseChart(spec.chart.name, repository=spec.chart.repository, version=spec.chart.version)
    return ReleaseChart(str(spec.chart), spec.chart_dir, spec.chart_override)
