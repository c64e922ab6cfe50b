"""The canary gate: prod goes only where staging went well (pure).

- Within one `deployer deploy` run, a cluster's prod hubs depend on its staging hubs
  (`plan/deploy_order.py`), and the engine skips a release whose dependency failed.
- Between CI stages (`deployer canary-gate --plan plan.json --stage prod --reports reports/`),
  `gate` below reads the run reports of the earlier stages and lets through only the jobs of
  clusters with no failure.
"""

from __future__ import annotations

from typing import Literal

from deployer.plan.deploy_order import SUPPORT
from deployer.plan.plan_file import PlanFile, PlanJob, RunReportFile


def gate(plan: PlanFile, stage: Literal["staging", "prod"],
         reports: list[RunReportFile]) -> tuple[list[PlanJob], list[dict]]:
    """The canary gate between CI stages: the jobs of `stage` whose cluster had no failure in the
    stages before it (support before staging; support and staging before prod). A job of an earlier
    stage with no report (its CI job died) counts as failed."""
    states: dict[str, str] = {}
    for report in reports:
        for step in report.steps:
            states[step.id] = step.state
    earlier = plan.support_jobs + (plan.staging_jobs if stage == "prod" else [])
    failed: dict[str, list[str]] = {}
    for job in earlier:
        jid = f"{job.cluster}/{job.hub or SUPPORT}"
        state = states.get(jid, "no report")
        if state not in ("succeeded", "unchanged"):  # unchanged: the ledger showed nothing to do
            failed.setdefault(job.cluster, []).append(f"{jid} {state}")
    jobs = plan.staging_jobs if stage == "staging" else plan.prod_jobs
    allowed = [j for j in jobs if j.cluster not in failed]
    skipped = [{"cluster": j.cluster, "hub": j.hub, "reason": "skipped: " + ", ".join(failed[j.cluster])}
               for j in jobs if j.cluster in failed]
    return allowed, skipped
