"""`deploy`: the one script of stages (render/pipeline.py) ending through the engine (`_run_planned`):
load and validate -> plan -> specs -> digests -> connect and read the ledgers -> drop the unchanged
-> make the rest ready -> render and fleet checks -> apply through the engine -> settle, health,
record -> report.

The ledger (deployer.run.cluster_ledger): each release's digest of what it renders from
(deployer.render.digest) is compared with the one recorded in the cluster; a release whose record
matches and whose last revision is deployed is `unchanged` (never read, prepared, rendered or
touched) unless `force`; every other one records its digest, commit and deployer version on the
revision it makes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.checks.validate import ConfigInvalid, load_valid_cluster  # noqa: F401 (ConfigInvalid re-exported)
from deployer.errors import DeployerError
from deployer.config.models import Cluster
from deployer.paths import CLUSTERS_DIR
from deployer.plan.deploy_order import (
    PlanFile,
    PlannedRelease,
    plan_from_upgrade,
    plan_hubs,
    plan_support,
)
from deployer import __version__
from deployer.plan.ledger import Comparison, Source, Verdict, record_labels
from deployer.run.cluster_connection import open_cluster
from deployer.run.engine import Engine, Outcome, RunReport, Step, StepResult
from deployer.run.cluster_ledger import ClusterLedger, fix_revision_label, read_ledger, repo_source
from deployer.render.inputs import ReadyRelease, ValuesReader, saved_outputs
from deployer.render.pipeline import (  # noqa: F401 (FleetConflict re-exported)
    FleetConflict,
    NotReady,
    StageCounts,
    check_fleet_before_deploy,
    digest_stage,
    plan_stage,
    ready_stage,
    spec_stage,
)
from deployer.run.release import DeployOptions, ReleaseDeployer
from deployer.toolchain import find_tool

if TYPE_CHECKING:
    from deployer.run.health import HealthOptions

log = logging.getLogger("deployer.deploy")


@dataclass
class DeployRequest:
    """Everything a deploy is asked to do, built once (by the CLI) and handed to `deploy`."""

    root: Path
    cluster: str  # "" with a plan file
    hubs: Optional[list[str]] = None
    support: bool = False
    concurrency: int = 4
    options: DeployOptions = field(default_factory=DeployOptions)
    force: bool = False  # deploy releases the ledger shows unchanged too
    plan_file: Optional[Path] = None  # a plan from `plan-upgrade --output json`, instead of cluster and hubs
    health: Optional["HealthOptions"] = None  # check each hub after deploying it (`--health-check`)
    annotate: bool = True  # mark each release in the cluster's Grafana, where a Grafana token is configured
    # each called once per cluster with (cluster, access, runner): a hook run after every
    # successful release of that cluster, or None; after the annotation and health check above
    after_deploy: list[Callable] = field(default_factory=list)
    # the invocation's state folder (where the local cluster lives); None: the repository's
    state_dir: Optional[Path] = None
    counts: StageCounts = field(default_factory=StageCounts)  # what each stage cost, per release

    def hook_factories(self) -> list[Callable]:
        factories: list[Callable] = []
        if self.annotate:
            from deployer.run.grafana import after_deploy_annotation

            factories.append(after_deploy_annotation(self.root))  # only where a Grafana token is configured
        if self.health is not None:
            from deployer.run.health import after_deploy_health

            factories.append(after_deploy_health(self.health))
        return [*factories, *self.after_deploy]


def plan(cluster: Cluster, request: DeployRequest) -> list[PlannedRelease]:
    return plan_support(cluster) if request.support else plan_hubs(cluster, request.hubs)


def deploy(request: DeployRequest, runner: ProcessRunner, on_event: Callable[[StepResult], None],
           on_plan: Callable[[list[PlannedRelease], str], None] = lambda p, a: None) -> RunReport:
    """The cluster's hubs (or support stack), or the request's plan file."""
    if request.plan_file is not None:
        return run_plan_file(request, request.plan_file, runner, on_event, on_plan)
    return run_deploy(request, runner, on_event, on_plan)


def run_deploy(request: DeployRequest, runner: ProcessRunner, on_event: Callable[[StepResult], None],
               on_plan: Callable[[list[PlannedRelease], str], None] = lambda p, a: None) -> RunReport:
    cluster = load_valid_cluster(request.root, request.cluster, request.hubs).model
    return _run_planned(request, {cluster.name: cluster}, plan(cluster, request), runner, on_event, on_plan)


def load_plan_file(path: Path, option: str = "--plan") -> PlanFile:
    from deployer.plan.plan_file import load_plan

    return load_plan(path, option)


def run_plan_file(request: DeployRequest, plan_path: Path, runner: ProcessRunner,
                  on_event: Callable[[StepResult], None],
                  on_plan: Callable[[list[PlannedRelease], str], None] = lambda p, a: None) -> RunReport:
    """Run a plan made by `plan-upgrade`: the same stages and canary gate as CI, on a laptop."""
    plan_file = load_plan_file(plan_path)
    names = sorted({j.cluster for j in plan_file.support_jobs + plan_file.staging_jobs + plan_file.prod_jobs})
    clusters = {name: load_valid_cluster(request.root, name).model for name in names}
    return _run_planned(request, clusters, plan_from_upgrade(plan_file, clusters), runner, on_event, on_plan)


@dataclass(frozen=True)
class Decision:
    """What the ledger stage decided for one release."""

    comparison: Optional[Comparison]  # None: not compared (a dry run, or no digest)
    deploy: bool


def ledger_stage(planned: list[PlannedRelease], digests: dict[str, str], ledgers: dict[str, ClusterLedger],
                 force: bool) -> dict[str, Decision]:
    """Each release against its cluster's ledger: an unchanged one is left alone (unless `force`);
    every other one (changed, new, not checked) is deployed."""
    out: dict[str, Decision] = {}
    for p in planned:
        ledger, digest = ledgers.get(p.cluster), digests.get(p.id)
        if ledger is None or not digest:
            out[p.id] = Decision(None, True)
            continue
        comparison = ledger.compare(p.id, p.cluster, digest)
        out[p.id] = Decision(comparison, force or comparison.verdict is not Verdict.unchanged)
    return out


def _run_planned(request: DeployRequest, clusters: dict[str, Cluster], planned: list[PlannedRelease],
                 runner: ProcessRunner, on_event: Callable[[StepResult], None],
                 on_plan: Callable[[list[PlannedRelease], str], None]) -> RunReport:
    """The stages, in order (render/pipeline.py): specs -> digests (as data: no secret decrypted, no
    chart prepared) -> connect and read each cluster's ledger -> drop the unchanged releases -> make
    the rest ready (each chart prepared once, each values file read and each secret decrypted once)
    -> render them and run the fleet checks (from exactly what helm will get) -> deploy through the
    engine (local images first) -> settle, health, record (labels on the revision each upgrade makes)."""
    counts = request.counts
    specs = spec_stage(request.root, clusters, planned, counts)
    use_ledger = not request.options.dry_run
    plans = plan_stage(specs, request.root, counts)
    digests = digest_stage(specs, clusters, request.root, counts, plans=plans) if use_ledger else {}
    source = repo_source(request.root, runner) if use_ledger else Source(None)
    sops = Sops(runner)
    helm_binary = find_tool("helm")
    names = sorted({p.cluster for p in planned})
    readers = {name: ValuesReader(sops, saved_outputs(request.root, name)) for name in names}
    with contextlib.ExitStack() as stack:
        conns = {name: stack.enter_context(open_cluster(request.root, clusters[name], runner, request.options.work_dir,
                                                        sops=sops, helm_binary=helm_binary,
                                                        state_dir=request.state_dir))
                 for name in names}
        ledgers = {name: read_ledger(conns[name].access, runner) for name in names} if use_ledger else {}
        decisions = ledger_stage(planned, digests, ledgers, request.force)
        to_deploy = [p for p in planned if decisions[p.id].deploy]
        ready = ready_stage([specs[p.id] for p in to_deploy], readers, request.options.charts, runner, helm_binary,
                            request.concurrency, counts, plans)
        check_fleet_before_deploy(request.root, clusters, [r for r in ready.values() if isinstance(r, ReadyRelease)],
                                  request.options.render_options(request.concurrency), runner, helm_binary,
                                  counts)
        steps = [step for name in names  # deploy through the engine: one step per release
                 for step in _cluster_steps(request, clusters[name], conns[name], [p for p in planned if p.cluster == name],
                                            decisions, ledgers.get(name), ready, specs, digests, source, sops,
                                            runner, helm_binary, on_event)]
        on_plan(planned, "; ".join(conns[name].access.description for name in names) or "no cluster")
        order = {p.id: i for i, p in enumerate(planned)}
        steps.sort(key=lambda s: order[s.id])
        log.debug(counts.summary())
        return Engine(request.concurrency, on_event).run(steps)


def _cluster_steps(request: DeployRequest, cluster: Cluster, conn, mine: list[PlannedRelease],
                   decisions: dict[str, Decision], ledger: Optional[ClusterLedger],
                   ready: dict[str, "ReadyRelease | NotReady"], specs: dict, digests: dict[str, str], source: Source,
                   sops: Sops, runner: ProcessRunner, helm_binary: Path, on_event) -> list[Step]:
    """The engine's steps for one cluster's releases: an unchanged one is reported, never touched;
    every other one is deployed (its ledger record on the revision it makes), then settled, checked
    and recorded by the hooks. The local cluster gets its images first."""
    from deployer.run.pod_watch import kube_pod_watch
    from deployer.run.release_probes import failure_explainer, reachability_probe

    access = conn.access
    if cluster.provider.value == "local" and not request.options.dry_run and any(decisions[p.id].deploy for p in mine):
        _local_images(request, cluster, runner, on_event)
    predicted: dict[str, int] = {}
    hooks = tuple(h for h in (f(cluster, access, runner) for f in request.hook_factories()) if h)
    if ledger is not None:
        hooks = (_record_fixup(access, runner, predicted), *hooks)
    deployer = ReleaseDeployer(conn.helm, request.options, hooks,
                               probe=reachability_probe(access, runner),
                               explain=failure_explainer(access, runner),
                               pod_watch=kube_pod_watch(access, runner),
                               validate_objects=_object_validator(access, runner),
                               check_schemas=_schema_checker(cluster))
    steps = []
    for p in mine:
        decision = decisions[p.id]
        if not decision.deploy:
            assert decision.comparison is not None
            action = _unchanged(decision.comparison, specs[p.id])
        elif decision.comparison is not None:
            assert ledger is not None
            state = ledger.state(p.id)
            predicted[p.id] = state.revision + 1 if state else 1
            deployer.labels[p.id] = record_labels(digests[p.id], source, __version__, predicted[p.id], cluster.name)
            action = _action(deployer, ready[p.id], _ledger_note(decision.comparison, request.force))
        else:
            action = _action(deployer, ready[p.id])
        steps.append(Step(p.id, p.id, action, needs=p.needs, timeout=request.options.timeout * 2 + 120,
                          group=p.stage.value if p.stage else p.kind))
    return steps


def _schema_checker(cluster):
    """For `deploy --dry-run`: the rendered objects against the cluster's Kubernetes API schemas,
    offline (what `render` checks)."""
    from deployer.render.kube_schema import DEFAULT_KUBERNETES_VERSION, KubeSchemas, check_objects

    version = getattr(cluster, "kubernetes_version", None) or DEFAULT_KUBERNETES_VERSION
    schemas: list[KubeSchemas] = []

    def check(docs):
        if not schemas:
            try:
                schemas.append(KubeSchemas(version))
            except ValueError as e:
                raise DeployerError(f"the objects cannot be checked against the Kubernetes API: {e}",
                                    "kubernetes-validate bundles the schemas of Kubernetes 1.25 and later") from e
        return check_objects(docs, schemas[0])

    return check


def _object_validator(access, runner: ProcessRunner):
    """For `deploy --dry-run`: the API server's own dry run of every rendered object (kubectl)."""
    import asyncio

    from deployer.adapters.kubectl import server_dry_run

    async def validate_objects(spec, docs):
        kubectl = find_tool("kubectl")
        return await asyncio.to_thread(server_dry_run, runner, kubectl, access.kubeconfig, access.context, docs,
                                       spec.namespace, dict(access.env))

    return validate_objects


def _local_images(request: DeployRequest, cluster: Cluster, runner: ProcessRunner, on_event) -> None:
    """The local node runs only images built here: build what the cache lacks (minutes, once) and
    import into the node's containerd what it lacks (its state starts empty at every `local up`)."""
    from deployer.local.access import cluster_dir
    from deployer.local.cluster import LocalCluster
    from deployer.local.images import ensure_images, import_images

    node = LocalCluster(cluster_dir(cluster, request.root / CLUSTERS_DIR / cluster.name, request.state_dir),
                        runner=runner)
    status = node.status()
    if status.state == "up" and status.node is None:  # `local up --api-only`: no containerd to import into
        log.info("local cluster: API server only (no node), so no images to build or import")
        return
    log.info("local cluster: building (when not cached) and importing its images")
    built = ensure_images(runner)
    import_images(runner, node.layout.containerd_socket, built)


def _action(deployer: ReleaseDeployer, ready: "ReadyRelease | NotReady", ledger_note: str = ""):
    async def action(ctx):
        if ledger_note:
            ctx.result.details["ledger"] = ledger_note
        if isinstance(ready, NotReady):  # its chart or values could not be made ready
            raise ready.error
        return await deployer.deploy(ready, ctx)

    return action


def _ledger_note(comparison: Comparison, force: bool) -> str:
    if comparison.verdict is Verdict.unchanged:
        return f"{comparison.reason}; deployed anyway (--force)" if force else comparison.reason
    return "; ".join((comparison.reason, *comparison.notes))


def _unchanged(comparison: Comparison, spec):
    """A release the ledger shows unchanged: reported, never touched."""
    async def action(ctx):
        state = comparison.state
        details = {"release": spec.release, "namespace": spec.namespace, "ledger": comparison.reason,
                   "revision": state.revision if state else None}
        if comparison.notes:
            details["ledger_notes"] = list(comparison.notes)
        return Outcome(f"{comparison.reason} (--force deploys anyway)", details, unchanged=True)

    return action


def _record_fixup(access, runner: ProcessRunner, predicted: dict[str, int]):
    """After a release deployed: if helm made another revision than the record names (a stuck
    release was recovered first), move the record onto it. A failure here leaves the record
    stale, which the next plan treats as changed by hand: it redeploys, never skips."""
    async def hook(spec, outcome: Outcome, ctx) -> None:
        made = outcome.details.get("revision")
        if spec.id not in predicted or not made or made == predicted[spec.id]:
            return
        try:
            await asyncio.to_thread(fix_revision_label, access, runner, spec.id, int(made))
        except DeployerError as e:
            outcome.details["ledger"] = f"record not moved to revision {made}: {e.message}"

    return hook
