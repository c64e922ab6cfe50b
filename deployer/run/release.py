"""Deploying one helm release (a hub, or a cluster's support stack): the steps a step runs.

Given the release ready (its chart prepared and its values layered once, by the pipeline:
`deployer.render.inputs.ready_release`): `helm upgrade --install --wait` -> recover a stuck
release and retry once -> settle a first install -> on failure, roll back (unless told not to).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

from deployer.adapters.helm import (PENDING, AnotherOperationInProgress, ChartRenderFailed, ChartSource, ClusterUnreachable, HelmError,
                                    Helm, Revision)
from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.errors import DeployerError
from deployer.plan.release_values import ReleaseSpec
from deployer.render.inputs import ChartOptions, ReadyRelease
from deployer.run.engine import Outcome, StepContext
from deployer.run.pod_watch import PodsCannotStart, PodWatch, pods_before, while_pods_can_start
from deployer.plan.rollback_target import good_target


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


class ReleaseDeployer:
    """Deploys one release whose chart is prepared and whose values are layered (a ReadyRelease,
    render/inputs.py): it reads no file; it runs helm, recovers, settles and rolls back."""

    def __init__(self, helm: Helm, sops: Optional[Sops], runner: ProcessRunner, helm_binary: Path,
                 options: DeployOptions, after_deploy: tuple[AfterDeploy, ...] = (),
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
        self.sops = sops
        self.runner = runner
        self.helm_binary = helm_binary
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
            details["local_switched_off"] = list(ready.local_switched_off)
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

    async def _dry_run(self, spec: ReleaseSpec, chart_path: ChartSource, values: dict[str, Any], details: dict[str, Any],
                       ctx: StepContext) -> Outcome:
        ctx.progress("helm template")
        docs = await self.helm.template(spec.release, chart_path, values, namespace=spec.namespace)
        kinds: dict[str, int] = {}
        for d in docs:
            kinds[d.get("kind", "?")] = kinds.get(d.get("kind", "?"), 0) + 1
        details["rendered"] = dict(sorted(kinds.items()))
        message = f"renders {len(docs)} objects"
        if self.check_schemas is not None:  # offline, as `render` does: before (and without) the cluster
            ctx.progress("Kubernetes API schemas")
            checked, _, problems = await asyncio.to_thread(self.check_schemas, docs)
            details["schema_checked"] = checked
            if problems:
                details["schema_problems"] = problems
                raise ReleaseFailed(f"the rendered objects do not match the Kubernetes API ({len(problems)} problem(s)): "
                                    f"{problems[0]}", "fix the values that produce this object; `deployer render` "
                                    "lists every problem", details)
            message += f", {checked} checked against the Kubernetes API schemas"
        try:
            ctx.progress("server-side dry run")
            history = await self.helm.history(spec.release, spec.namespace, timeout=20)
            current = history[-1].revision if history else 0
            try:
                rendered = await self.helm.upgrade_install(spec.release, chart_path, values, namespace=spec.namespace,
                                                           timeout=60, wait=False, dry_run=True)
            except HelmError as e:
                # a chart that brings its own CRDs (dask-gateway's traefik IngressRoute): a dry run installs
                # no CRD, so helm cannot map those custom resources on a cluster that lacks them; the API
                # server still validates every object of the rendering (the custom resources are named)
                if isinstance(e, ClusterUnreachable) or not _CRD_NOT_INSTALLED.search(e.message):
                    raise
                rendered = {"manifest": "\n---\n".join(json.dumps(d) for d in docs)}
                details["helm_dry_run"] = "custom resources of CRDs not installed yet: validated by the API server"
        except HelmError as e:
            if not isinstance(e, ClusterUnreachable):
                raise ReleaseFailed(f"server-side dry run failed: {e.message}", e.hint, details) from e
            details["server_dry_run"] = f"not done: {e.message}"
            raise ReleaseFailed(f"{message}; NOT checked against the cluster: the server dry run could not run "
                                f"({e.message})", "the cluster did not answer: dry-run again when it does; only the "
                                "offline checks ran", details) from e
        except DeployerError as e:
            details["server_dry_run"] = f"not done: {e.message}"
            raise ReleaseFailed(f"{message}; NOT checked against the cluster: the server dry run could not run "
                                f"({e.message})", e.hint or "dry-run again when the cluster answers", details) from e
        message += f"; would {'upgrade revision ' + str(current) if current else 'install'}"
        if self.validate_objects is None:
            details["server_dry_run"] = "helm only: objects rendered against the cluster, not validated by the API server"
            return Outcome(message + " (helm's server dry run passed; the API server did not validate the objects)",
                           details)
        ctx.progress("API server dry run of every object")
        try:
            checked = await self.validate_objects(spec, _release_objects(rendered))
        except DeployerError as e:
            details["server_dry_run"] = f"helm only: the API server's dry run could not run: {e.message}"
            raise ReleaseFailed(message + f"; helm's server dry run passed, but the API server's could NOT run: "
                                f"{e.message}", e.hint or "the objects were not validated by the API server",
                                details) from e
        if checked.problems:
            details["server_dry_run"] = "failed"
            details["server_dry_run_problems"] = checked.problems
            raise ReleaseFailed(f"server-side dry run failed: the API server refused {len(checked.problems)} object(s): "
                                f"{checked.problems[0]}",
                                "fix the values that produce this object; a real deploy would fail the same way",
                                details)
        from deployer.adapters.kubectl import NOT_CHECKED

        details["server_dry_run"] = "passed"
        details["server_dry_run_objects"] = checked.checked
        details["not_checked"] = NOT_CHECKED
        notes = [checked.namespace_note] if checked.namespace_note else []
        if checked.unchecked_kinds:
            kinds = sorted(set(checked.unchecked_kinds))
            details["unchecked_kinds"] = kinds
            notes.append(f"not validated (their CRDs are not installed yet): {', '.join(kinds)}")
        message += (f" (server dry run passed: the API server validated {checked.checked} object(s); it does not check "
                    f"{NOT_CHECKED})" + "".join(f"; {n}" for n in notes))
        return Outcome(message, details)

    async def _recover(self, spec: ReleaseSpec, history: list[Revision], ctx: StepContext) -> str:
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

    async def _failed(self, spec: ReleaseSpec, error: DeployerError, details: dict[str, Any],
                      ctx: StepContext) -> ReleaseFailed:
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


_CRD_NOT_INSTALLED = re.compile(r'resource mapping not found .*no matches for kind "[^"]+"')


def _release_objects(rendered: Any) -> list[dict[str, Any]]:
    """The objects of a helm dry run's release (its manifest and its hooks' manifests)."""
    import yaml

    if not isinstance(rendered, dict):
        return []
    texts = [rendered.get("manifest") or ""] + [h.get("manifest") or "" for h in rendered.get("hooks") or []
                                                 if isinstance(h, dict)]
    return [d for text in texts for d in yaml.safe_load_all(text) if isinstance(d, dict)]

