"""What `deployer render` reports: per cluster, its releases and problems, as text or JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployer.render.model import RenderedRelease, RenderProblem


@dataclass
class ClusterRender:
    name: str
    kubernetes_version: str
    releases: list[RenderedRelease] = field(default_factory=list)
    problems: list[RenderProblem] = field(default_factory=list)  # fleet checks and validate's findings


@dataclass
class RenderReport:
    clusters: list[ClusterRender]
    seconds: float = 0.0

    @property
    def problems(self) -> list[RenderProblem]:
        out = []
        for c in self.clusters:
            out += c.problems
            for r in c.releases:
                out += r.problems
        return out

    @property
    def errors(self) -> list[RenderProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        releases = [r for c in self.clusters for r in c.releases]
        failed = {p.release for p in self.errors}
        return {
            "summary": {"clusters": len(self.clusters), "releases": len(releases),
                        "clean": sum(1 for r in releases if r.id not in failed and r.rendered),
                        "errors": len(self.errors), "seconds": round(self.seconds, 2)},
            "clusters": [{
                "name": c.name, "kubernetes_version": c.kubernetes_version,
                "releases": [{
                    "id": r.id, "release": r.release, "namespace": r.namespace, "chart": r.chart,
                    "chart_version": r.chart_version, "objects": len(r.objects), "schema_checked": r.schema_checked,
                    "custom_resources_not_checked": r.schema_skipped, "placeholder_values_from": r.placeholders,
                    "seconds": round(r.seconds, 3),
                } for r in c.releases],
            } for c in self.clusters],
            "problems": [p.to_json() for p in self.problems],
        }
