"""Deploying one helm release (a hub, or a cluster's support stack): the steps a step runs.

chart (prepared, naming what came from a local chart repository) -> values (the layers
`deployer.plan.release_values` orders; files read and secrets decrypted in memory here) -> recover a
stuck release ->
`helm upgrade --install --wait` -> on failure, roll back (unless told not to).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

from deployer.adapters.chart_repo import ChartRepository
from deployer.adapters.charts import PreparedChart, prepare_chart
from deployer.adapters.helm import (PENDING, AnotherOperationInProgress, ChartRenderFailed, ChartSource, ClusterUnreachable,
                                    Helm, Revision)
from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.config.file_reader import is_secret_name
from deployer.config.models import Cluster, RemoteChart
from deployer.config.yamlload import YamlProblem, decode, load_yaml
from deployer.errors import DeployerError
from deployer.plan.deploy_order import PlannedRelease
from deployer.plan.release_values import LayerSources, ReleaseSpec, cluster_release_spec, release_values
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
# An async function saying why a release's pods are not ready (`deployer.run.health.failure_explainer`).
Explain = Callable[["ReleaseSpec"], Awaitable[list]]

# An async function sending a release's rendered objects to the API server as a dry run
# (`deployer.adapters.kubectl.server_dry_run`), returning its DryRunResult.
ValidateObjects = Callable[["ReleaseSpec", list], Awaitable[Any]]

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


def release_spec(root: Path, cluster: Cluster, planned: PlannedRelease, charts: dict[str, Path]) -> ReleaseSpec:
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


def local_layer(spec: ReleaseSpec, prepared: Optional[PreparedChart]):
    """The local cluster's values layer for this release (deployer.local.values), or None elsewhere."""
    if spec.provider != "local":
        return None
    from deployer.local.values import layer_for

    return layer_for(chart_name(spec, prepared), support=spec.hub is None, hubs=list(spec.cluster_hubs))


def local_substitute(spec: ReleaseSpec, prepared: Optional[PreparedChart],
                     report: Optional[dict[str, Any]] = None, preview: bool = False):
    """The local cluster's last values layer for a hub (deployer.local.values.last_layer; for a preview
    of a fleet hub, deployer.local.preview_values.preview_layer before it), as the function of the layers
    before it that `LayerSources.substitute` takes; None elsewhere. What it substitutes and switches off
    goes into `report` (`substituted`, `switched_off`: one line each; `home_claim` for a preview)."""
    if spec.provider != "local" or spec.hub is None:
        return None
    from deployer.local.values import HUB_NESTING

    name = chart_name(spec, prepared)
    if name not in HUB_NESTING:
        return None  # a chart of the user's own: nothing of ours to point anywhere

    def substitute(below: dict[str, Any]) -> dict[str, Any]:
        from deployer.local.chart_defaults import chart_defaults
        from deployer.local.images import image_refs
        from deployer.local.values import last_layer
        from deployer.plan.values import merge_values

        defaults = chart_defaults(prepared.path) if prepared is not None else {}
        effective = merge_values(defaults, below)
        substituted, switched_off, own = [], [], {}
        if preview:
            from deployer.local.preview_values import preview_layer

            cloud = preview_layer(effective, name)
            own, effective = cloud.values, merge_values(effective, cloud.values)
            substituted, switched_off = list(cloud.substituted), list(cloud.switched_off)
            if report is not None:
                report["home_claim"] = cloud.home_claim
        layer = last_layer(effective, image_refs(), name)
        if report is not None:
            report["substituted"] = [s.line() for s in substituted + layer.substituted]
            report["switched_off"] = [o.line() for o in switched_off + layer.switched_off]
        return merge_values(own, layer.values)

    return substitute


def prepare_release_chart(spec: ReleaseSpec, options: DeployOptions, runner: ProcessRunner,
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


class ReleaseDeployer:
    def __init__(self, helm: Helm, sops: Sops, runner: ProcessRunner, helm_binary: Path, options: DeployOptions,
                 after_deploy: tuple[AfterDeploy, ...] = (), cloud_outputs: Optional[dict[str, Any]] = None,
                 probe: Optional[Probe] = None, explain: Optional[Explain] = None,
                 validate_objects: Optional[ValidateObjects] = None, pod_watch: Optional[PodWatch] = None) -> None:
        self.validate_objects = validate_objects
        self.pod_watch = pod_watch  # while helm waits: fail at once on a pod that cannot start
        self.probe = probe
        self.explain = explain
        self.after_deploy = after_deploy
        # what `deployer provision` saved for this cluster (endpoint, role ARNs, buckets, ...)
        self.cloud_outputs = cloud_outputs or {}
        self.helm = helm
        self.sops = sops
        self.runner = runner
        self.helm_binary = helm_binary
        self.options = options
        # release id -> the ledger's record, stored on the revision the upgrade makes (deploy.py)
        self.labels: dict[str, dict[str, str]] = {}
        self.preview = False  # a preview of a fleet hub on the local cluster (deployer.run.preview)

    # -- values ---------------------------------------------------------------------------
    def read_values_file(self, path: Path) -> dict[str, Any]:
        if is_secret_name(path.name):
            data = self.sops.decrypt_data(path)
            if isinstance(data, dict):
                data.pop("sops", None)
        else:
            try:
                data = load_yaml(decode(path.read_bytes()), positions=False).data
            except YamlProblem as e:
                raise DeployerError(f"{path.name}:{e.line}:{e.column}: {e.message}", hint="run `deployer validate`") from e
            except OSError as e:
                raise DeployerError(f"{path.name}: cannot read: {e.strerror}") from e
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise DeployerError(f"{path.name}: values must be a mapping", hint="run `deployer validate`")
        return data

    def layer_sources(self, spec: ReleaseSpec, prepared: Optional[PreparedChart],
                      dependencies: list[str], report: Optional[dict[str, Any]] = None) -> LayerSources:
        """What fills the release's layers (deployer.plan.release_values decides which, in which order)."""
        local = local_layer(spec, prepared)
        return LayerSources(self.read_values_file, chart_name(spec, prepared), tuple(dependencies),
                            local.values if local is not None else {}, self.cloud_outputs,
                            local_substitute(spec, prepared, report, self.preview))

    def values(self, spec: ReleaseSpec, prepared: Optional[PreparedChart], dependencies: list[str],
               report: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        return release_values(spec, self.layer_sources(spec, prepared, dependencies, report))

    def release_values(self, spec: ReleaseSpec, prepared: Optional[PreparedChart],
                       report: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """The values helm gets for the release (deploy, diff and render all take them from here);
        `report` gets what the local cluster's last layer substituted and switched off."""
        return self.values(spec, prepared, chart_dependencies(prepared.path) if prepared else [], report)

    # -- the chart ------------------------------------------------------------------------
    def prepare(self, spec: ReleaseSpec) -> Optional[PreparedChart]:
        return prepare_release_chart(spec, self.options, self.runner, self.helm_binary)

    # -- the release ----------------------------------------------------------------------
    async def deploy(self, spec: ReleaseSpec, ctx: StepContext) -> Outcome:
        ctx.progress("preparing chart")
        prepared = await asyncio.to_thread(self.prepare, spec)
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
        ctx.progress("reading values")
        local = local_layer(spec, prepared)
        report: dict[str, Any] = {}
        values = await asyncio.to_thread(self.release_values, spec, prepared, report)
        if report.get("home_claim"):
            details["home_claim"] = True
        switched_off = [o.line() for o in (local.switched_off if local is not None else [])] \
            + report.get("switched_off", [])
        if switched_off:
            details["local_switched_off"] = switched_off
        if report.get("substituted"):
            details["local_substituted"] = report["substituted"]
        chart_path = helm_chart_source(spec, prepared)
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
        try:
            ctx.progress("server-side dry run")
            history = await self.helm.history(spec.release, spec.namespace, timeout=20)
            rendered = await self.helm.upgrade_install(spec.release, chart_path, values, namespace=spec.namespace,
                                                       timeout=60, wait=False, dry_run=True)
            current = history[-1].revision if history else 0
        except ClusterUnreachable as e:
            details["server_dry_run"] = f"skipped: {e.message}"
            message += "; cluster not reachable, server dry run skipped"
            return Outcome(message, details)
        except HelmError as e:
            raise ReleaseFailed(f"server-side dry run failed: {e.message}", e.hint, details) from e
        except DeployerError as e:
            details["server_dry_run"] = f"skipped: {e.message}"
            message += "; cluster not reachable, server dry run skipped"
            return Outcome(message, details)
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
            return Outcome(message + f" (helm's server dry run passed; the API server's could not run: {e.message})",
                           details)
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


def _release_objects(rendered: Any) -> list[dict[str, Any]]:
    """The objects of a helm dry run's release (its manifest and its hooks' manifests)."""
    import yaml

    if not isinstance(rendered, dict):
        return []
    texts = [rendered.get("manifest") or ""] + [h.get("manifest") or "" for h in rendered.get("hooks") or []
                                                 if isinstance(h, dict)]
    return [d for text in texts for d in yaml.safe_load_all(text) if isinstance(d, dict)]



def chart_dependencies(chart: Path) -> list[str]:
    """The names of a chart's dependencies (its Chart.yaml), for the generated values layer."""
    try:
        data = load_yaml(decode((chart / "Chart.yaml").read_bytes()), positions=False).data or {}
    except (OSError, YamlProblem):
        return []
    return [d.get("name") for d in data.get("dependencies") or [] if isinstance(d, dict)]
