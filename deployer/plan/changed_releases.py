"""Deploy on merge: which releases a change touches, decided by what would be deployed.

For each release (a cluster's support stack, each hub) we compute the *inputs* that determine
it (`plan/release_inputs.py`) at the base and at the head of a change, both read by this deployer. A change of deployer itself
is not a change between two commits of the configuration: the ledger finds it, whose digest is
of what each release renders from, as data (`deployer.render.digest`: deploy, `status`,
`plan-upgrade --against cluster`). A release is planned when an input differs,
or it is new; releases gone at head are listed for removal. Nothing here runs git or helm: it
reads two folders (the configuration as it was, and as it is).

Values files are compared by their parsed content, so a comment or a reordering of keys plans
nothing; encrypted files are compared by their ciphertext (their plaintext is not ours to read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from deployer.config.models import Stage
from deployer.paths import CLUSTERS_DIR
from collections.abc import Mapping

from deployer.plan.release_inputs import ReleaseInputs, Snapshot, release_inputs


@dataclass(frozen=True)
class Job:
    cluster: str
    kind: str
    hub: Optional[str]
    stage: Optional[str]
    chart: str
    reasons: tuple[str, ...]
    digest: str = ""  # of the inputs at head (what the ledger records)

    @property
    def id(self) -> str:
        return f"{self.cluster}/{self.hub or 'support'}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "cluster": self.cluster, "kind": self.kind, "hub": self.hub, "stage": self.stage,
                "chart": self.chart, "reasons": list(self.reasons), "digest": self.digest}


@dataclass
class UpgradePlan:
    base: str
    head: str
    support_jobs: list[Job] = field(default_factory=list)
    staging_jobs: list[Job] = field(default_factory=list)
    prod_jobs: list[Job] = field(default_factory=list)
    removals: list[dict[str, Any]] = field(default_factory=list)
    # planned against a cluster's ledger (plan-upgrade --against cluster):
    against: str = "commit"
    unchecked: list[dict[str, Any]] = field(default_factory=list)  # could not be checked: planned anyway
    unchanged: list[str] = field(default_factory=list)  # release ids the ledger shows unchanged

    @property
    def empty(self) -> bool:
        return not (self.support_jobs or self.staging_jobs or self.prod_jobs or self.removals)

    def to_json(self) -> dict[str, Any]:
        from deployer.plan.plan_file import PLAN_VERSION

        return {
            "version": PLAN_VERSION,
            "base": self.base,
            "head": self.head,
            "support_jobs": [j.to_json() for j in self.support_jobs],
            "staging_jobs": [j.to_json() for j in self.staging_jobs],
            "prod_jobs": [j.to_json() for j in self.prod_jobs],
            "removals": self.removals,
            "counts": {"support": len(self.support_jobs), "staging": len(self.staging_jobs),
                       "prod": len(self.prod_jobs), "removals": len(self.removals)},
            **({"against": self.against, "unchecked": self.unchecked, "unchanged": self.unchanged}
               if self.against != "commit" else {}),
        }


def _reasons(before: Optional[ReleaseInputs], after: ReleaseInputs) -> list[str]:
    if before is None:
        return ["new"]
    reasons = []
    for key in sorted(set(before.parts) | set(after.parts)):
        old, new = before.parts.get(key), after.parts.get(key)
        if old == new:
            continue
        if old is None:
            reasons.append(f"added {key}")
        elif new is None:
            reasons.append(f"removed {key}")
        else:
            reasons.append(f"changed {key}")
    return _collapse(reasons)


def _collapse(reasons: list[str]) -> list[str]:
    """`changed chart basehub: a`, `... b` -> one line per chart with the files named."""
    out: list[str] = []
    charts: dict[str, list[str]] = {}
    for reason in reasons:
        verb, _, rest = reason.partition(" ")
        if rest.startswith("chart ") and ": " in rest:
            name, _, file = rest[len("chart "):].partition(": ")
            charts.setdefault(f"{verb} chart {name}", []).append(file)
        else:
            out.append(reason)
    for head, files in charts.items():
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        out.append(f"{head} ({shown})")
    return out


def plan_upgrade(base: Snapshot, head: Snapshot, base_ref: str, head_ref: str,
                 digests: Optional[Mapping[str, str]] = None) -> UpgradePlan:
    """The releases whose configuration inputs differ between `base` and `head` (or are new at
    head). `digests`: per release id, the ledger's digest of what it renders from at head (each
    job carries it: the one a deploy of head records)."""
    digests = digests or {}
    before = release_inputs(base)
    after = release_inputs(head)
    plan = UpgradePlan(base_ref, head_ref)
    planned: dict[str, Job] = {}
    for rid, inputs in after.items():
        reasons = _reasons(before.get(rid), inputs)
        if reasons:
            planned[rid] = Job(inputs.cluster, inputs.kind, inputs.hub,
                               inputs.stage.value if inputs.stage else None, inputs.chart, tuple(reasons),
                               digests.get(rid, ""))
    # A new hub is a new kind of change for its cluster: its staging hubs go first, as a canary.
    for rid, job in list(planned.items()):
        if job.reasons == ("new",) and job.kind == "hub" and job.stage == Stage.prod.value:
            for other in after.values():
                if other.cluster == job.cluster and other.kind == "hub" and other.stage is Stage.staging \
                        and other.id not in planned:
                    planned[other.id] = Job(other.cluster, "hub", other.hub, Stage.staging.value, other.chart,
                                            (f"canary for new hub {job.hub}",), digests.get(other.id, ""))
    for job in sorted(planned.values(), key=lambda j: j.id):
        if job.kind == "support":
            plan.support_jobs.append(job)
        elif job.stage == Stage.staging.value:
            plan.staging_jobs.append(job)
        else:
            plan.prod_jobs.append(job)
    for rid in sorted(set(before) - set(after)):
        gone = before[rid]
        plan.removals.append({"id": rid, "cluster": gone.cluster, "kind": gone.kind, "hub": gone.hub,
                              "reason": "cluster removed" if gone.cluster not in head.clusters else f"{gone.kind} removed"})
    return plan


def plan_from_changed_files(head: Snapshot, changed: list[str], label: str = "working tree",
                            digests: Optional[Mapping[str, str]] = None) -> UpgradePlan:
    """Without a base commit: every release whose inputs include a changed file (by path). A
    changed cluster.yaml plans all of that cluster's releases (its old content is unknown)."""
    digests = digests or {}
    inputs = release_inputs(head)
    changed_set = {c.strip("/") for c in changed}
    plan = UpgradePlan("(changed files)", label)
    for rid, r in sorted(inputs.items()):
        cluster_yaml = f"{CLUSTERS_DIR.as_posix()}/{r.cluster}/cluster.yaml"
        hits = [c for c in sorted(changed_set) if any(_part_names_file(k, c) for k in r.parts)]
        if cluster_yaml in changed_set:
            hits.append(cluster_yaml)
        if hits:
            job = Job(r.cluster, r.kind, r.hub, r.stage.value if r.stage else None, r.chart,
                      tuple(f"changed {h}" for h in hits), digests.get(rid, ""))
            (plan.support_jobs if r.kind == "support" else
             plan.staging_jobs if r.stage is Stage.staging else plan.prod_jobs).append(job)
    return plan


def _part_names_file(part: str, path: str) -> bool:
    if part.startswith("chart ") and ": " in part:
        return part.split(": ", 1)[1] == path
    return part.endswith(" " + path)
