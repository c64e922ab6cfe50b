"""What `deploy` does when a release is stuck or fails: a release a killed helm left pending is
rolled back (or removed) before the upgrade; a failed one is explained, then rolled back to its
newest good revision, or its failed first install removed (`ReleaseDeployer` hands both here)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from deployer.adapters.helm import PENDING, ChartRenderFailed, ClusterUnreachable, Revision
from deployer.errors import DeployerError
from deployer.plan.release_spec import ReleaseSpec
from deployer.plan.rollback_target import good_target
from deployer.run.engine import StepContext
from deployer.run.pod_watch import PodsCannotStart
from deployer.run.release import ReleaseFailed

if TYPE_CHECKING:
    from deployer.run.release import ReleaseDeployer


async def recover_stuck(self: "ReleaseDeployer", spec: ReleaseSpec, history: list[Revision], ctx: StepContext) -> str:
    """A release left pending by a killed helm is rolled back (or removed) before deploying."""
    if not history or history[-1].status not in PENDING:
        return ""
    stuck = history[-1]
    target = good_target(history, before=stuck.revision)
    ctx.progress(f"recovering from {stuck.status}")
    if target is not None:
        await self.helm.rollback(spec.release, target.revision, namespace=spec.namespace,
                                 timeout=self.options.timeout, wait=False)
        return f"recovered from {stuck.status} (revision {stuck.revision}) by rolling back to revision {target.revision}"
    await self.helm.uninstall(spec.release, namespace=spec.namespace, timeout=self.options.timeout)
    return f"recovered from {stuck.status} (revision {stuck.revision}) by removing the never-deployed release"


async def failed_release(self: "ReleaseDeployer", spec: ReleaseSpec, error: DeployerError, details: dict[str, Any],
                         ctx: StepContext) -> ReleaseFailed:
    """What a failed release leaves: its pods' reasons said, then rolled back to the newest good
    revision (or a failed first install removed), unless --no-rollback."""
    message = error.message
    detail = getattr(error, "detail", "")
    if detail:
        details["helm_error"] = detail[-2000:]
    if isinstance(error, ClusterUnreachable):  # nothing more can be done there now: fail at once, say so
        details["cluster_unreachable"] = True
        return ReleaseFailed(f"{message}; nothing was rolled back (a release left pending is recovered by the "
                             "next deploy)", error.hint, details)
    hint = error.hint
    if isinstance(error, PodsCannotStart):  # it said why already: the pods' own reasons
        details["reasons"] = [f.to_json() for f in error.findings]
    elif not isinstance(error, ChartRenderFailed) and self.explain is not None:  # helm applied it: why is it not ready?
        ctx.progress("reading why the release is not ready")
        from deployer.checks.hub_findings import first_reason, hint_for

        try:
            findings = await self.explain(spec)
        except (DeployerError, asyncio.TimeoutError) as e:
            findings = []
            details["reasons_error"] = getattr(e, "message", "no answer")
        if findings:
            details["reasons"] = [f.to_json() for f in findings]
            message = f"{message}; {first_reason(findings)}"
            hint = hint_for(findings) or hint
    if not self.options.rollback:
        return ReleaseFailed(f"{message}; the failed release was kept (--no-rollback)",
                             hint or "inspect it with `helm history` / kubectl; the next deploy redeploys it",
                             details)
    error = DeployerError(message, hint)
    try:
        history = await self.helm.history(spec.release, spec.namespace)
        if not history:  # helm failed before it recorded anything: there is nothing to take back
            details["rolled_back_to"] = None
            return ReleaseFailed(f"{message}; nothing was installed, so nothing was rolled back", error.hint,
                                 details)
        # the failed attempt is the newest revision; the one to return to is the newest good one
        target = good_target(history)
        if target is not None:
            ctx.progress(f"rolling back to revision {target.revision}")
            await self.helm.rollback(spec.release, target.revision, namespace=spec.namespace,
                                     timeout=self.options.timeout, wait=False)
            details["rolled_back_to"] = target.revision
            return ReleaseFailed(f"{message}; rolled back to revision {target.revision}", error.hint, details)
        ctx.progress("removing the failed first install")
        await self.helm.uninstall(spec.release, namespace=spec.namespace, timeout=self.options.timeout)
        details["rolled_back_to"] = None
        return ReleaseFailed(f"{message}; the failed first install was removed", error.hint, details)
    except DeployerError as e2:
        return ReleaseFailed(f"{message}; rollback ALSO failed: {e2.message}",
                             "the release is in a failed state; the next deploy retries it", details)
