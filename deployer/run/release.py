"""Deploying one helm release (a hub, or a cluster's support stack): the steps a step runs.

Given the release ready (its chart prepared and its values layered once, by the pipeline:
`deployer.render.inputs.ready_release`): `helm upgrade --install --wait` -> recover a stuck
release and retry once -> settle a first install -> on failure, roll back (unless told not to).
The dry run is `run/release_dry_run.py`; recovering a stuck release and rolling back a failed one,
`run/release_rollback.py`; the probes helm's wait runs beside, `run/release_probes.py`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional

from deployer.adapters.helm import (AnotherOperationInProgress, ChartSource, ClusterUnreachable, Helm, Revision)
from deployer.errors import DeployerError
from deployer.plan.release_spec import ReleaseSpec
from deployer.render.inputs import ChartOptions, ReadyRelease
from deployer.run.engine import Outcome, StepContext
from deployer.run.pod_watch import PodWatch, pods_before, while_pods_can_start

if TYPE_CHECKING:
    from deployer.render.renderer import RenderOptions


# While helm waits for a release, the API server is asked every PROBE_INTERVAL seconds whether it
# still answers; after PROBE_FAILURES misses in a row the release fails as "cluster unreachable"
# (helm itself would wait out its whole --timeout).
PROBE_INTERVAL = 1.5
PROBE_FAILURES = 3

# An async function that raises when the cluster's API server does not answer.
Probe = Callable[[], Awaitable[None]]
# An async function saying why a release's pods are not ready (`deployer.run.release_probes.failure_explainer`).
Explain = Callable[["ReleaseSpec"], Awaitable[list]]

# An async function sending a release's rendered objects to the API server as a dry run
# (`deployer.adapters.kubectl.server_dry_run`), returning its DryRunResult.
ValidateObjects = Callable[["ReleaseSpec", list], Awaitable[Any]]
# offline: (objects checked, objects not checked, problems) against the cluster's Kubernetes API schemas
CheckSchemas = Callable[[list], tuple[int, int, list[str]]]

# Called after a successful (non-dry-run) deploy of a release; raising a DeployerError fails the
# step (e.g. `deploy --health-check`). It may add to outcome.details and outcome.message.
AfterDeploy = Callable[["ReleaseSpec", Outcome, StepContext], Awaitable[None]]


class ReleaseFailed(DeployerError):
    def __init__(self, message: str, hint: Optional[str] = None, details: Optional[dict[str, Any]] = None) -> None:
        super().__init__(message, hint)
        self.details = details or {}


@dataclass
class DeployOptions:
    timeout: float = 600.0
    rollback: bool = True
    dry_run: bool = False
    # a local Helm chart repository (index.yaml + .tgz) that chart dependencies come from (offline use)
    chart_repo: Optional[Path] = None
    work_dir: Path = field(default_factory=lambda: Path(".deployer/charts"))

    @property
    def charts(self) -> ChartOptions:
        return ChartOptions(self.work_dir, self.chart_repo)

    def render_options(self, concurrency: int) -> "RenderOptions":
        """How the fleet check renders the releases this deploy applies: the same charts."""
        from deployer.render.renderer import RenderOptions

        return RenderOptions(work_dir=self.work_dir, chart_repo=self.chart_repo, concurrency=concurrency)


class ReleaseDeployer:
    """Deploys one release whose chart is prepared and whose values are layered (a ReadyRelease,
    render/inputs.py): it reads no file; it runs helm, recovers, settles and rolls back."""

    def __init__(self, helm: Helm, options: DeployOptions, after_deploy: tuple[AfterDeploy, ...] = (),
                 probe: Optional[Probe] = None, explain: Optional[Explain] = None,
                 validate_objects: Optional[ValidateObjects] = None,
                 check_schemas: Optional[CheckSchemas] = None, pod_watch: Optional[PodWatch] = None) -> None:
        self.validate_objects = validate_objects
        self.pod_watch = pod_watch  # while helm waits: fail at once on a pod that cannot start
        self.check_schemas = check_schemas
        self.probe = probe
        self.explain = explain
        self.after_deploy = after_deploy
        self.helm = helm
        self.options = options
        # release id -> the ledger's record, stored on the revision the upgrade makes (deploy.py)
        self.labels: dict[str, dict[str, str]] = {}

    # -- the release ----------------------------------------------------------------------
    async def deploy(self, ready: ReadyRelease, ctx: StepContext) -> Outcome:
        spec, prepared, values = ready.spec, ready.chart, ready.values
        details: dict[str, Any] = {"release": spec.release, "namespace": spec.namespace}
        if prepared is not None:
            details["chart"] = prepared.name
            details["chart_version"] = prepared.version
            if prepared.from_repository:
                details["chart_repository"] = dict(prepared.from_repository)
        else:
            details["chart"] = spec.chart.name
            details["chart_version"] = spec.chart.version
        ctx.result.details.update(details)
        if ready.local_switched_off:
            details["local_switched_off"] = [o.line() for o in ready.local_switched_off]
        if ready.local_substituted:
            details["local_substituted"] = list(ready.local_substituted)
        if ready.home_claim:
            details["home_claim"] = True
        chart_path = ready.source
        if self.options.dry_run:
            return await self._dry_run(spec, chart_path, values, details, ctx)
        # Optimistic: one helm call in the common case. Only when helm refuses because an old
        # operation is stuck, or the upgrade fails, is the history read (one more helm call).
        recovered = ""
        ctx.progress("helm upgrade --install --wait")
        try:
            result = await self._upgrade(spec, chart_path, values)
        except AnotherOperationInProgress as e:  # a killed helm left the release pending
            result, recovered = await self._upgrade_after_recovery(spec, chart_path, values, e, details, ctx)
        except DeployerError as e:
            raise await self._failed(spec, e, details, ctx) from e
        revision = int(result.get("version", 0))
        if revision == 1:
            result = await self._settle(spec, chart_path, values, result, details, ctx)
            revision = int(result.get("version", 0))
        status = (result.get("info") or {}).get("status", "")
        details.update(revision=revision, status=status)
        chart_meta = (result.get("chart") or {}).get("metadata") or {}
        details["chart_version"] = chart_meta.get("version", details.get("chart_version"))
        prefix = f"{recovered}; " if recovered else ""
        outcome = Outcome(f"{prefix}revision {revision} {status}", details)
        for hook in self.after_deploy:
            await hook(spec, outcome, ctx)
        return outcome

    async def _settle(self, spec: ReleaseSpec, chart: ChartSource, values: dict[str, Any], installed: dict,
                      details: dict[str, Any], ctx: StepContext) -> dict:
        """After a first install, render the release again against the cluster, as the next deploy
        (and `diff`) will. A chart that generates values at install and keeps them (jupyterhub's
        tokens, read back with `lookup`) renders checksums of the *kept* values from then on, while
        the install rendered checksums of values generated twice in one render; applying the second
        rendering now leaves a release that a `diff` right after the deploy finds unchanged."""
        from deployer.plan.diff import diff_manifests

        ctx.progress("rendering again against the cluster (values the chart generated at install)")
        try:
            desired = await self.helm.render(spec.release, chart, values, namespace=spec.namespace)
            live = await self.helm.manifest(spec.release, spec.namespace)
        except DeployerError as e:
            details["settled"] = f"not checked: {e.message}"
            return installed
        changed = [c.key for c in diff_manifests(live, desired, spec.namespace)]
        if not changed:
            return installed
        ctx.progress("helm upgrade --wait (settling what the chart generated at install)")
        try:
            result = await self._upgrade(spec, chart, values)
        except DeployerError as e:
            # the install itself succeeded and runs: the next deploy settles it
            details["settled"] = f"failed: {e.message}"
            return installed
        details["settled"] = changed
        return result

    async def _upgrade(self, spec: ReleaseSpec, chart: ChartSource, values: dict[str, Any]) -> dict:
        before = await pods_before(self.pod_watch, spec.namespace) if self.pod_watch is not None else set()
        upgrade = self.helm.upgrade_install(spec.release, chart, values, namespace=spec.namespace,
                                            timeout=self.options.timeout, description=f"deployer: {spec.id}",
                                            labels=self.labels.get(spec.id))
        if self.pod_watch is not None:
            upgrade = while_pods_can_start(upgrade, self.pod_watch, spec.namespace, before)
        if self.probe is None:
            return await upgrade
        return await while_reachable(upgrade, self.probe)

    async def _upgrade_after_recovery(self, spec: ReleaseSpec, chart: ChartSource, values: dict[str, Any],
                                      stuck: AnotherOperationInProgress, details: dict[str, Any],
                                      ctx: StepContext) -> tuple[dict, str]:
        """The upgrade again, once the pending release is rolled back (or removed); and what was done."""
        ctx.progress("checking release state")
        recovered = await self._recover(spec, await self.helm.history(spec.release, spec.namespace), ctx)
        if not recovered:
            raise await self._failed(spec, stuck, details, ctx) from stuck
        details["recovered"] = recovered
        ctx.progress("helm upgrade --install --wait (after recovery)")
        try:
            return await self._upgrade(spec, chart, values), recovered
        except DeployerError as e:
            raise await self._failed(spec, e, details, ctx) from e

    async def _dry_run(self, spec: ReleaseSpec, chart_path: ChartSource, values: dict[str, Any],
                       details: dict[str, Any], ctx: StepContext) -> Outcome:
        from deployer.run.release_dry_run import dry_run

        return await dry_run(self, spec, chart_path, values, details, ctx)

    async def _recover(self, spec: ReleaseSpec, history: list[Revision], ctx: StepContext) -> str:
        from deployer.run.release_rollback import recover_stuck

        return await recover_stuck(self, spec, history, ctx)

    async def _failed(self, spec: ReleaseSpec, error: DeployerError, details: dict[str, Any],
                      ctx: StepContext) -> ReleaseFailed:
        from deployer.run.release_rollback import failed_release

        return await failed_release(self, spec, error, details, ctx)


async def while_reachable(operation: Awaitable[Any], probe: Probe, *, interval: float = PROBE_INTERVAL,
                          failures: int = PROBE_FAILURES) -> Any:
    """Await `operation`, asking `probe` every `interval` seconds whether the cluster still answers;
    after `failures` misses in a row, cancel the operation (helm is stopped) and raise
    ClusterUnreachable."""
    task = asyncio.ensure_future(operation)
    misses = 0
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                return task.result()
            try:
                await probe()
                misses = 0
            except (DeployerError, asyncio.TimeoutError) as e:
                misses += 1
                if misses >= failures:
                    why = getattr(e, "message", "no answer")
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    raise ClusterUnreachable(
                        f"cluster unreachable: the API server stopped answering while helm waited "
                        f"({failures} checks {interval:g}s apart failed: {why})") from e
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
