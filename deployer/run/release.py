"""Deploying one helm release (a hub, or a cluster's support stack): the steps a step runs.

values (generated layer, then each file in order, secrets decrypted in memory) -> chart
(prepared, with the chart mirror named when it is in effect) -> recover a stuck release ->
`helm upgrade --install --wait` -> on failure, roll back (unless told not to).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

from deployer.adapters.charts import PreparedChart, prepare_chart
from deployer.adapters.helm import PENDING, ChartSource, Helm, HelmError, Revision
from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.config.files import is_secret_name
from deployer.config.models import Cluster, Hub, RemoteChart
from deployer.config.yamlload import YamlProblem, decode, load_yaml
from deployer.errors import DeployerError
from deployer.plan.deploy_plan import PlannedRelease
from deployer.plan.terraform_plan import terraform_values
from deployer.plan.values import generated_values, merge_values
from deployer.run.engine import Outcome, StepContext

GOOD = {"deployed", "superseded"}

# Called after a successful (non-dry-run) deploy of a release; raising a DeployerError fails the
# step (e.g. `deploy --health-check`). It may add to outcome.details and outcome.message.
AfterDeploy = Callable[["ReleaseSpec", Outcome, StepContext], Awaitable[None]]


class ReleaseFailed(DeployerError):
    def __init__(self, message: str, hint: Optional[str] = None, details: Optional[dict[str, Any]] = None) -> None:
        super().__init__(message, hint)
        self.details = details or {}


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


@dataclass
class DeployOptions:
    timeout: float = 600.0
    rollback: bool = True
    dry_run: bool = False
    chart_mirror: Optional[Path] = None
    work_dir: Path = field(default_factory=lambda: Path(".state/charts"))


def release_spec(root: Path, cluster: Cluster, planned: PlannedRelease, charts: dict[str, Path]) -> ReleaseSpec:
    folder = root / "config" / "clusters" / cluster.name
    if planned.kind == "support":
        assert cluster.support is not None
        chart = cluster.support.helm_chart
        files = cluster.support.helm_chart_values_files
        return ReleaseSpec(planned.id, "support", "support", cluster.name, chart, _chart_dir(chart, charts),
                           tuple(folder / f for f in files))
    hub: Hub = cluster.hub(planned.hub or "")  # type: ignore[assignment]
    return ReleaseSpec(
        planned.id, hub.name, hub.name, cluster.name, hub.helm_chart, _chart_dir(hub.helm_chart, charts),
        tuple(folder / f for f in hub.helm_chart_values_files),
        chart_override=folder / hub.chart_override if hub.chart_override else None,
        domain=hub.domain,
        domain_override=folder / hub.domain_override_file if hub.domain_override_file else None,
        hub=hub.name,
    )


def _chart_dir(chart: Any, charts: dict[str, Path]) -> Optional[Path]:
    if isinstance(chart, RemoteChart):
        return None
    if chart not in charts:
        raise DeployerError(f"chart `{chart}` is not known", hint=f"known charts: {', '.join(sorted(charts))}")
    return charts[chart]


class ReleaseDeployer:
    def __init__(self, helm: Helm, sops: Sops, runner: ProcessRunner, helm_binary: Path, options: DeployOptions,
                 after_deploy: tuple[AfterDeploy, ...] = (), cloud_outputs: Optional[dict[str, Any]] = None) -> None:
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
                raise DeployerError(f"{path.name}:{e.line}:{e.column}: {e.message}", hint="run `deployer validate`") from None
            except OSError as e:
                raise DeployerError(f"{path.name}: cannot read: {e.strerror}") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise DeployerError(f"{path.name}: values must be a mapping", hint="run `deployer validate`")
        return data

    def values(self, spec: ReleaseSpec, prepared: Optional[PreparedChart], dependencies: list[str]) -> dict[str, Any]:
        domain = spec.domain
        if spec.domain_override is not None:
            override = self.read_values_file(spec.domain_override)
            if isinstance(override.get("domain"), str):
                domain = override["domain"]
        layers: list[dict[str, Any]] = []
        if spec.hub is not None and domain:
            chart_name = prepared.name if prepared else (spec.chart.name if isinstance(spec.chart, RemoteChart) else str(spec.chart))
            layers.append(generated_values(cluster=spec.cluster, hub=spec.hub, domain=domain,
                                           dependencies=dependencies, chart_name=chart_name))
        else:
            layers.append({"global": {"clusterName": spec.cluster}})
        if self.cloud_outputs:  # after what deployer generates, before the hub's own files
            layers.append(terraform_values(self.cloud_outputs, hub=spec.hub))
        layers.extend(self.read_values_file(p) for p in spec.values_files)
        return merge_values(*layers)

    # -- the chart ------------------------------------------------------------------------
    def prepare(self, spec: ReleaseSpec) -> Optional[PreparedChart]:
        chart_dir = spec.chart_dir
        if chart_dir is None and isinstance(spec.chart, RemoteChart):
            mirror = self.options.chart_mirror
            if mirror is not None and (mirror / spec.chart.name / "Chart.yaml").is_file():
                chart_dir = mirror / spec.chart.name
            else:
                return None  # helm fetches it from its repository
        assert chart_dir is not None
        return prepare_chart(chart_dir, work_dir=self.options.work_dir, mirror=self.options.chart_mirror,
                             runner=self.runner, helm=self.helm_binary, chart_override=spec.chart_override)

    # -- the release ----------------------------------------------------------------------
    async def deploy(self, spec: ReleaseSpec, ctx: StepContext) -> Outcome:
        ctx.progress("preparing chart")
        prepared = await asyncio.to_thread(self.prepare, spec)
        details: dict[str, Any] = {"release": spec.release, "namespace": spec.namespace}
        if prepared is not None:
            details["chart"] = prepared.name
            details["chart_version"] = prepared.version
            if prepared.substitutions:
                details["chart_mirror"] = dict(prepared.substitutions)
        else:
            details["chart"] = spec.chart.name
            details["chart_version"] = spec.chart.version
        ctx.result.details.update(details)
        ctx.progress("reading values")
        dependencies = _dependencies(prepared.path) if prepared else []
        values = await asyncio.to_thread(self.values, spec, prepared, dependencies)
        chart_path = (ChartSource.folder(prepared.path) if prepared
                      else ChartSource.remote(spec.chart.name, spec.chart.repository, spec.chart.version))
        if self.options.dry_run:
            return await self._dry_run(spec, chart_path, values, details, ctx)
        # Optimistic: one helm call in the common case. Only when helm refuses because an old
        # operation is stuck, or the upgrade fails, is the history read (one more helm call).
        recovered = ""
        ctx.progress("helm upgrade --install --wait")
        try:
            result = await self._upgrade(spec, chart_path, values)
        except DeployerError as e:
            if not _is_stuck(e):
                raise await self._failed(spec, e, details, ctx) from None
            ctx.progress("checking release state")
            recovered = await self._recover(spec, await self.helm.history(spec.release, spec.namespace), ctx)
            if not recovered:
                raise await self._failed(spec, e, details, ctx) from None
            details["recovered"] = recovered
            ctx.progress("helm upgrade --install --wait (after recovery)")
            try:
                result = await self._upgrade(spec, chart_path, values)
            except DeployerError as e2:
                raise await self._failed(spec, e2, details, ctx) from None
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

    async def _upgrade(self, spec: ReleaseSpec, chart: ChartSource, values: dict[str, Any]) -> dict:
        return await self.helm.upgrade_install(spec.release, chart, values, namespace=spec.namespace,
                                               timeout=self.options.timeout, description=f"deployer: {spec.id}",
                                               labels=self.labels.get(spec.id))

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
            await self.helm.upgrade_install(spec.release, chart_path, values, namespace=spec.namespace,
                                            timeout=60, wait=False, dry_run=True)
            current = history[-1].revision if history else 0
            message += f"; would {'upgrade revision ' + str(current) if current else 'install'} (server dry run passed)"
            details["server_dry_run"] = "passed"
        except HelmError as e:
            raise ReleaseFailed(f"server-side dry run failed: {e.message}", e.hint, details) from None
        except DeployerError as e:
            details["server_dry_run"] = f"skipped: {e.message}"
            message += "; cluster not reachable, server dry run skipped"
        return Outcome(message, details)

    async def _recover(self, spec: ReleaseSpec, history: list[Revision], ctx: StepContext) -> str:
        """A release left pending by a killed helm is rolled back (or removed) before deploying."""
        if not history or history[-1].status not in PENDING:
            return ""
        stuck = history[-1]
        good = [r for r in history[:-1] if r.status in GOOD]
        ctx.progress(f"recovering from {stuck.status}")
        if good:
            await self.helm.rollback(spec.release, good[-1].revision, namespace=spec.namespace,
                                     timeout=self.options.timeout, wait=False)
            return f"recovered from {stuck.status} (revision {stuck.revision}) by rolling back to revision {good[-1].revision}"
        await self.helm.uninstall(spec.release, namespace=spec.namespace, timeout=self.options.timeout)
        return f"recovered from {stuck.status} (revision {stuck.revision}) by removing the never-deployed release"

    async def _failed(self, spec: ReleaseSpec, error: DeployerError, details: dict[str, Any],
                      ctx: StepContext) -> ReleaseFailed:
        message = error.message
        detail = getattr(error, "detail", "")
        if detail:
            details["helm_error"] = detail[-2000:]
        if not self.options.rollback:
            return ReleaseFailed(f"{message}; the failed release was kept (--no-rollback)",
                                 "inspect it with `helm history` / kubectl; the next deploy redeploys it", details)
        try:
            history = await self.helm.history(spec.release, spec.namespace)
            # the failed attempt is the newest revision; the one to return to is the newest good one
            good = [r for r in history if r.status in GOOD]
            if good:
                ctx.progress(f"rolling back to revision {good[-1].revision}")
                await self.helm.rollback(spec.release, good[-1].revision, namespace=spec.namespace,
                                         timeout=self.options.timeout, wait=False)
                details["rolled_back_to"] = good[-1].revision
                return ReleaseFailed(f"{message}; rolled back to revision {good[-1].revision}", error.hint, details)
            ctx.progress("removing the failed first install")
            await self.helm.uninstall(spec.release, namespace=spec.namespace, timeout=self.options.timeout)
            details["rolled_back_to"] = None
            return ReleaseFailed(f"{message}; the failed first install was removed", error.hint, details)
        except DeployerError as e2:
            return ReleaseFailed(f"{message}; rollback ALSO failed: {e2.message}",
                                 "the release is in a failed state; the next deploy retries it", details)


def _is_stuck(error: DeployerError) -> bool:
    text = f"{error.message} {getattr(error, 'detail', '')}".lower()
    return "another operation" in text and "in progress" in text


def _dependencies(chart: Path) -> list[str]:
    try:
        data = load_yaml(decode((chart / "Chart.yaml").read_bytes()), positions=False).data or {}
    except (OSError, YamlProblem):
        return []
    return [d.get("name") for d in data.get("dependencies") or [] if isinstance(d, dict)]
