"""Which releases a deploy touches, and in which order: pure, printable, testable with data.

Staging hubs go first; a cluster's prod hubs run only when every staging hub of that cluster in
the same plan succeeded (the canary gate). Hubs of one stage are independent of each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from deployer.config.models import Cluster, Stage
from deployer.errors import UsageError

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
