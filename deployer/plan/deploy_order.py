"""Which releases a deploy touches, and in which order: pure, printable, testable with data.

Staging hubs go first; a cluster's prod hubs depend on every staging hub of that cluster in the
same plan, so the engine runs them only when those succeeded (the canary gate within one deploy
run; between CI stages it is `plan/canary_gate.py`). Hubs of one stage are independent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from deployer.config.models import Cluster, Stage
from deployer.errors import UsageError
from deployer.plan.plan_file import PlanFile

SUPPORT = "support"


@dataclass(frozen=True)
class PlannedRelease:
    id: str  # "<cluster>/support" or "<cluster>/<hub>"
    cluster: str
    kind: str  # "support" | "hub"
    hub: Optional[str]
    stage: Optional[Stage]
    needs: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"id": self.id, "cluster": self.cluster, "kind": self.kind, "hub": self.hub,
                "stage": self.stage.value if self.stage else None, "needs": list(self.needs)}


def select_hubs(cluster: Cluster, names: Optional[list[str]]) -> list[str]:
    known = [h.name for h in cluster.hubs]
    if not names:
        return known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"cluster `{cluster.name}` has no hub named {', '.join(f'`{n}`' for n in unknown)}",
            hint=f"known hubs: {', '.join(known) or '(none)'}",
        )
    return list(dict.fromkeys(names))


def plan_hubs(cluster: Cluster, names: Optional[list[str]] = None) -> list[PlannedRelease]:
    selected = select_hubs(cluster, names)
    hubs = [h for h in cluster.hubs if h.name in selected]
    staging = [h for h in hubs if h.effective_stage is Stage.staging]
    prod = [h for h in hubs if h.effective_stage is Stage.prod]
    staging_ids = tuple(f"{cluster.name}/{h.name}" for h in staging)
    steps = [PlannedRelease(f"{cluster.name}/{h.name}", cluster.name, "hub", h.name, Stage.staging) for h in staging]
    steps += [PlannedRelease(f"{cluster.name}/{h.name}", cluster.name, "hub", h.name, Stage.prod, staging_ids) for h in prod]
    return steps


def plan_support(cluster: Cluster) -> list[PlannedRelease]:
    if cluster.support is None:
        raise UsageError(
            f"cluster `{cluster.name}` has no `support:` block",
            hint="add `support:` with helm_chart_values_files to cluster.yaml",
        )
    return [PlannedRelease(f"{cluster.name}/{SUPPORT}", cluster.name, "support", None, None)]


def plan_from_upgrade(plan: PlanFile, clusters: dict[str, Cluster]) -> list[PlannedRelease]:
    """Steps for a plan made by `plan-upgrade`: per cluster, support first, then staging hubs,
    then prod hubs only if every staging hub of that cluster in the plan succeeded."""
    steps: list[PlannedRelease] = []
    for job in plan.support_jobs + plan.staging_jobs + plan.prod_jobs:
        cluster = clusters.get(job.cluster)
        if cluster is None:
            raise UsageError(f"the plan names cluster `{job.cluster}`, which is not in this repository",
                             hint="make the plan from this repository's history (plan-upgrade)")
        if job.kind == "hub" and (job.hub is None or cluster.hub(job.hub) is None):
            raise UsageError(f"the plan names hub `{job.cluster}/{job.hub}`, which cluster.yaml does not list",
                             hint="make the plan again: the configuration changed since")
    for name in sorted({j.cluster for j in plan.support_jobs + plan.staging_jobs + plan.prod_jobs}):
        cluster = clusters[name]
        support = [f"{name}/{SUPPORT}"] if any(j.cluster == name for j in plan.support_jobs) else []
        steps += [PlannedRelease(sid, name, "support", None, None) for sid in support]
        staging = sorted({j.hub for j in plan.staging_jobs if j.cluster == name})
        prod = sorted({j.hub for j in plan.prod_jobs if j.cluster == name} - set(staging))
        staging_ids = tuple(f"{name}/{h}" for h in staging)
        steps += [PlannedRelease(f"{name}/{h}", name, "hub", h, Stage.staging, tuple(support)) for h in staging]
        steps += [PlannedRelease(f"{name}/{h}", name, "hub", h, Stage.prod, tuple(support) + staging_ids) for h in prod]
    return steps
