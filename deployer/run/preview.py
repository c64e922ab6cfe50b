"""`deployer preview CLUSTER HUB`: a fleet hub's real configuration on the local cluster, before production.

An ending of deploy's one script of stages (`render/pipeline.py`), for one release, at another target:
load and validate the hub (as deploy does) -> its release spec (its chart, its values files in order)
re-aimed at the local cluster as a release of its own (`preview-<cluster>-<hub>`, in a namespace of that
name, so previews of several hubs coexist with the local fleet) -> its value plan -> ready (its chart
prepared once, each values file read and each secret decrypted once; the last layer holds what the
local cluster must hold and, for a preview, the cloud-only parts: see `deployer.local.preview_layer`)
-> render and the fleet checks -> (all offline so far: a hub that cannot be made is refused before
the local cluster is asked) -> open the local cluster -> import the images -> the local claim for NFS
homes (before the release: pods mounting it would wait for it) -> one step through the engine: deploy's
ReleaseDeployer, the pod watch failing at once on a pod that cannot start, then health and the user
test (with the hub's default profile named when it has a profileList). There is no ledger: a preview
is always applied.

Secrets: an encrypted values file is decrypted when an age key is available, else its keys are kept with
placeholder values by type (as `render` does), and the report says so once. A preview again updates the
same release; `--rm` removes the release and its namespace (the namespace's volumes go with it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.config.models import Cluster, LocalConfig, Provider
from deployer.errors import DeployerError, UsageError
from deployer.plan.release_spec import ReleaseSpec, cluster_release_spec
from deployer.render.inputs import ReadyRelease
from deployer.render.pipeline import StageCounts
from deployer.run.engine import Engine, Outcome, RunReport, Step, StepResult
from deployer.run.release import DeployOptions, ReleaseDeployer

PREVIEW_LABEL = "deployer/preview"  # on the preview's namespace: `<cluster>.<hub>` (what --rm may delete)
MAX_RELEASE = 53  # helm's limit for a release name
HOME_CLAIM_SIZE = "10Gi"


class NotPreviewable(DeployerError):
    """The hub's chart cannot run on the local cluster (named, with why)."""


def preview_name(cluster: str, hub: str) -> str:
    """`preview-<cluster>-<hub>`: a DNS label of at most 53 characters (helm's release limit), shortened
    with a digest when longer."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"preview-{cluster}-{hub}".lower()).strip("-")
    if len(base) <= MAX_RELEASE:
        return base
    return f"{base[:MAX_RELEASE - 9].rstrip('-')}-{hashlib.sha1(base.encode()).hexdigest()[:8]}"


@dataclass
class PreviewRequest:
    root: Path
    cluster: str
    hub: str
    local_dir: Optional[Path] = None  # the local cluster's folder (None: the default one)
    options: DeployOptions = field(default_factory=DeployOptions)
    user_test: bool = True
    health_retries: int = 20
    health_interval: float = 2.0
    counts: StageCounts = field(default_factory=StageCounts)  # what each stage cost (render/pipeline.py)


@dataclass
class PreviewTarget:
    source: Cluster  # the fleet cluster the hub belongs to
    local: Cluster  # the same cluster's model, aimed at the local cluster
    spec: ReleaseSpec


def target(request: PreviewRequest) -> PreviewTarget:
    """The hub's release spec, aimed at the local cluster. Unknown cluster or hub: a UsageError naming the
    known ones; a chart the local cluster cannot run: NotPreviewable."""
    from deployer.checks.validate import load_valid_cluster
    from deployer.config.charts import known_charts
    from deployer.config.models import RemoteChart
    from deployer.local.layers import HUB_NESTING
    from deployer.plan.deploy_order import select_hubs

    source = load_valid_cluster(request.root, request.cluster, [request.hub]).model
    select_hubs(source, [request.hub])
    hub = source.hub(request.hub)
    assert hub is not None
    chart = hub.helm_chart
    charts = known_charts(request.root)
    name = chart.name if isinstance(chart, RemoteChart) else str(chart)
    if name not in HUB_NESTING:
        raise NotPreviewable(
            f"hub `{request.hub}` of `{request.cluster}` deploys the chart `{name}`, which the local cluster cannot "
            f"preview: its images and switches are known for {', '.join(HUB_NESTING)} only",
            hint="preview a hub deployed with basehub, daskhub or jupyterhub")
    if not isinstance(chart, RemoteChart) and name not in charts:
        raise NotPreviewable(f"hub `{request.hub}` of `{request.cluster}` deploys the chart `{name}`, which this "
                             "repository does not have", hint=f"known charts: {', '.join(sorted(charts))}")
    folder = request.root / "config" / "clusters" / source.name
    spec = cluster_release_spec(folder, source, request.hub, charts)
    release = preview_name(source.name, request.hub)
    spec = replace(spec, id=f"preview/{source.name}/{request.hub}", release=release, namespace=release,
                   provider="local", provisioned=False)
    local_dir = request.local_dir
    local = source.model_copy(update={"provider": Provider.local,
                                      "local": LocalConfig(state_dir=str(local_dir) if local_dir else None)})
    return PreviewTarget(source, local, spec)


def require_local_up(local_dir: Optional[Path]) -> None:
    from deployer.local.cluster import LocalCluster

    status = LocalCluster(local_dir).status()
    if status.state != "up":
        raise DeployerError(f"the local cluster is not up ({status.state}): {status.message}",
                            hint="start it with `deployer local up` (and `deployer local images` once)")
    if status.node is None:
        raise DeployerError("the local cluster runs its API server only (`local up --api-only`): no pod can run",
                            hint="`deployer local down && deployer local up` starts it with its node")


def _make_home_claim(kube, namespace: str) -> None:
    from deployer.local.preview_layer import HOME_CLAIM

    kube.ensure_claim(namespace, HOME_CLAIM, HOME_CLAIM_SIZE, ["ReadWriteMany"],
                      {"app.kubernetes.io/managed-by": "deployer-preview"})


def _home_claim_hook():
    """After the release: the report names the local claim `home-nfs` the hub's NFS homes became (made
    before the release, when the preview layer said so)."""
    from deployer.local.preview_layer import HOME_CLAIM

    async def hook(spec: ReleaseSpec, outcome: Outcome, ctx) -> None:
        if outcome.details.get("home_claim"):
            outcome.details["home_claim"] = f"{HOME_CLAIM} (a local volume in place of the NFS share)"

    return hook


def preview(request: PreviewRequest, runner: ProcessRunner, on_event: Callable[[StepResult], None],
            on_note: Callable[[str], None] = lambda text: None) -> RunReport:
    """Deploy the preview, check its health and run the user test: one step of the engine."""
    from deployer.local.cluster import LocalCluster
    from deployer.local.images import ensure_images, import_images
    from deployer.render.placeholders import PlaceholderReader
    from deployer.run.cluster_connection import open_cluster
    from deployer.run.health import HealthOptions, after_deploy_health
    from deployer.run.pod_watch import kube_pod_watch
    from deployer.run.release_probes import failure_explainer, reachability_probe
    from deployer.toolchain import find_tool

    aim = target(request)
    sops = Sops(runner)
    helm_binary = find_tool("helm")
    # deploy's values reader; an encrypted file without a key: its keys with placeholder values, as render does
    reader = PlaceholderReader(sops, {}, decrypt=True)
    reader.preview = True  # the last local layer also makes the hub's cloud-only parts local
    # the stages before the engine first (offline): a hub whose chart cannot be made here, or that the
    # fleet check refuses, is refused before anything touches the local cluster, whether it is up or not
    ready = ready_stages(request, aim, reader, runner, helm_binary)
    require_local_up(request.local_dir)
    with open_cluster(request.root, aim.local, runner, request.options.work_dir, sops=sops,
                      helm_binary=helm_binary) as conn:
        access = conn.access
        node = LocalCluster(request.local_dir, runner=runner)  # the images the node runs, built here
        import_images(runner, node.layout.containerd_socket, ensure_images(runner))
        with conn.kube(10.0) as kube:  # the namespace says whose preview it is (what --rm may delete)
            kube.ensure_namespace(aim.spec.namespace, {PREVIEW_LABEL: f"{aim.source.name}.{request.hub}"})
            if ready.home_claim:  # before the release: its pods that mount it (homes, reporters) wait for none
                _make_home_claim(kube, aim.spec.namespace)
        health = HealthOptions(retries=request.health_retries, interval=request.health_interval,
                               user_test=request.user_test)
        hooks = (_home_claim_hook(), after_deploy_health(health)(aim.local, access, runner))
        deployer = ReleaseDeployer(conn.helm, request.options, hooks,
                                   probe=reachability_probe(access, runner), explain=failure_explainer(access, runner),
                                   pod_watch=kube_pod_watch(access, runner))

        async def action(ctx) -> Outcome:
            try:
                return await deployer.deploy(ready, ctx)
            finally:
                if reader.placeholders:
                    ctx.result.details["placeholder_values_from"] = sorted(set(reader.placeholders))

        steps = [Step(aim.spec.id, aim.spec.id, action, timeout=request.options.timeout * 2 + 600, group="preview")]
        report = Engine(1, on_event).run(steps)
    if reader.placeholders:
        on_note(f"no age key for {', '.join(sorted(set(reader.placeholders)))}: its values are placeholders by type "
                "(as `deployer render` does)")
    return report


def ready_stages(request: PreviewRequest, aim: PreviewTarget, reader, runner: ProcessRunner,
                 helm_binary: Path) -> ReadyRelease:
    """Deploy's stages up to the engine (render/pipeline.py), for the preview's one release: its value
    plan (no terraform outputs: its target is the local cluster) -> ready (its chart prepared, its values
    layered, once) -> render and the fleet checks. A chart that cannot be made from this repository and
    the chart repository (a dependency pinned at a version the chart repository lacks, an override that
    does not load) is NotPreviewable, named with why; values that cannot be made, or a fleet check that
    refuses, fail with their own error."""
    import logging

    from deployer.render.pipeline import NotReady, check_fleet_before_deploy, plan_stage, ready_stage
    spec, counts, options = aim.spec, request.counts, request.options
    plans = plan_stage({spec.id: spec}, request.root, counts, outputs={spec.cluster: {}})
    [made] = ready_stage([spec], {spec.cluster: reader}, options.charts, runner, helm_binary, 1, counts,
                         plans).values()
    if isinstance(made, NotReady):
        if made.phase == "chart":
            raise NotPreviewable(f"hub `{request.hub}` of `{request.cluster}` cannot be deployed here: "
                                 f"{made.error.message}", hint=made.error.hint) from made.error
        raise made.error
    check_fleet_before_deploy(request.root, {spec.cluster: aim.local}, [made], options.render_options(1), runner,
                              helm_binary, counts)
    logging.getLogger("deployer.preview").debug(counts.summary())
    return made


@dataclass
class Removed:
    release: str
    namespace: str
    uninstalled: bool
    namespace_deleted: bool

    def to_json(self) -> dict[str, Any]:
        return {"release": self.release, "namespace": self.namespace, "uninstalled": self.uninstalled,
                "namespace_deleted": self.namespace_deleted}


def remove(request: PreviewRequest, runner: ProcessRunner) -> Removed:
    """`preview --rm`: the preview's release, then its namespace (with its volumes), when deployer made it."""
    from deployer.adapters.helm import ReleaseNotFound
    from deployer.run.cluster_connection import open_cluster
    from deployer.run.engine import run_each
    from deployer.toolchain import find_tool

    aim = target(request)
    require_local_up(request.local_dir)
    ns = aim.spec.namespace
    with open_cluster(request.root, aim.local, runner, request.options.work_dir,
                      helm_binary=find_tool("helm")) as conn:
        async def uninstall(_: object) -> bool:
            try:
                await conn.helm.uninstall(aim.spec.release, namespace=ns, timeout=120)
            except ReleaseNotFound:
                return False
            return True

        [done] = run_each([aim.spec.id], uninstall, concurrency=1, timeout=180, group="preview --rm")
        if not done.ok:
            error = done.step.error
            if isinstance(error, DeployerError):
                raise error
            raise DeployerError(f"removing the preview {aim.spec.release}: {done.step.message}", hint=done.step.hint)
        uninstalled = bool(done.value)
        with conn.kube(10.0) as kube:
            labels = kube.namespace_labels(ns)
            deleted = False
            if labels is not None and labels.get(PREVIEW_LABEL) == f"{aim.source.name}.{request.hub}":
                deleted = kube.delete_namespace(ns)
    if not uninstalled and labels is None:
        raise UsageError(f"there is no preview of `{request.cluster}/{request.hub}` on the local cluster",
                         hint=f"make one with `deployer preview {request.cluster} {request.hub}`")
    return Removed(aim.spec.release, ns, uninstalled, deleted)

