"""One script of named stages that `render`, `diff`, `deploy` (and its dry run) end differently:

    load and validate -> specs -> [digest -> compare with the ledger, drop the unchanged]
      -> ready (each remaining chart prepared once; each values file read, each secret decrypted,
         once per cluster; each release's value plan layered once)
      -> render (`helm template` once per release) -> fleet checks (pure, render/fleet.py)
      -> deploy through the engine -> settle -> health -> record          (run/deploy.py)

`render` ends after the fleet checks (every release, with the Kubernetes API schemas); `deploy`
goes on through the engine with the releases the ledger did not drop (`run/deploy.py`); `preview`
runs the same stages for one fleet hub re-aimed at the local cluster, with no ledger (its spec is
made by `run/preview.py::target`), then the engine, health and the user test; `diff` takes the
ready releases to compare with the live ones. Each stage is a function here, run once
per release; `StageCounts` says what a run cost, per stage, which the tests read.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional

from deployer import __version__
from deployer.config.models import Cluster
from deployer.errors import DeployerError
from deployer.plan.deploy_order import PlannedRelease
from deployer.plan import value_layers as layering
from deployer.plan.release_spec import ReleaseSpec
from deployer.plan.value_layers import ValuePlan
from deployer.render.inputs import ChartOptions, ReadyRelease, ValuesReader, prepare_release_chart, ready_release
from deployer.render.model import RenderedRelease, RenderProblem

if TYPE_CHECKING:
    from deployer.adapters.process import ProcessRunner
    from deployer.render.renderer import Renderer, RenderOptions
    from deployer.render.report import RenderReport

SPECS, PLANS, DIGEST, READY, RENDER, FLEET = "specs", "value plans", "digest", "ready", "render", "fleet checks"


@dataclass
class StageCounts:
    """How many times each stage ran for each release (a run's cost; each is 1 or 0)."""

    counts: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ran(self, stage: str, release: str) -> None:
        with self._lock:
            self.counts[(stage, release)] += 1

    def releases(self, stage: str) -> dict[str, int]:
        return {r: n for (s, r), n in sorted(self.counts.items()) if s == stage}

    def summary(self) -> str:
        """One line: how many releases each stage ran for (and how many runs, when more)."""
        parts = []
        for stage in (SPECS, PLANS, DIGEST, READY, RENDER, FLEET):
            ran = self.releases(stage)
            runs = sum(ran.values())
            parts.append(f"{stage} {len(ran)}" + (f" ({runs} runs)" if runs != len(ran) else ""))
        return "stages, releases each ran for: " + ", ".join(parts)


def spec_stage(root: Path, clusters: Mapping[str, Cluster], planned: list[PlannedRelease],
               counts: Optional[StageCounts] = None,
               errors: Optional[dict[str, DeployerError]] = None) -> dict[str, ReleaseSpec]:
    """Each planned release's spec (names, chart, values files in layer order), built once. With
    `errors`, a release whose spec cannot be made goes there instead of raising."""
    from deployer.config.charts import known_charts
    from deployer.render.inputs import release_spec

    charts = known_charts(root)
    out = {}
    for p in planned:
        if counts is not None:
            counts.ran(SPECS, p.id)
        try:
            out[p.id] = release_spec(root, clusters[p.cluster], p, charts)
        except DeployerError as e:
            if errors is None:
                raise
            errors[p.id] = e
    return out


def plan_stage(specs: Mapping[str, ReleaseSpec], outputs_root: Path,
               counts: Optional[StageCounts] = None,
               outputs: Optional[Mapping[str, Mapping]] = None) -> dict[str, ValuePlan]:
    """Each release's value plan (plan/value_layers.py: its layers, in order, as data), made once:
    the digest and the ready stage both layer by it. `outputs`: each cluster's saved terraform
    outputs when the caller has them (a preview: none, its target is the local cluster), else read
    from `outputs_root`."""
    from deployer.render.inputs import saved_outputs

    outputs = dict(outputs or {})
    out = {}
    for rid, spec in specs.items():
        if spec.cluster not in outputs:
            outputs[spec.cluster] = saved_outputs(outputs_root, spec.cluster)
        out[rid] = layering.value_plan(spec, outputs[spec.cluster])  # THE layer order (plan/value_layers.py)
        if counts is not None:
            counts.ran(PLANS, rid)
    return out


def digest_stage(specs: Mapping[str, ReleaseSpec], clusters: Mapping[str, Cluster], outputs_root: Path,
                 counts: Optional[StageCounts] = None, version: Optional[str] = None,
                 plans: Optional[Mapping[str, ValuePlan]] = None) -> dict[str, str]:
    """The ledger's digest of each release (render/digest.py): as data, nothing decrypted, no chart
    prepared, no helm call."""
    from deployer.render.digest import ChartDigests, DigestReader, kubernetes_version, release_digest
    from deployer.render.inputs import saved_outputs

    charts = ChartDigests()
    readers: dict[str, DigestReader] = {}
    out = {}
    for rid, spec in specs.items():
        reader = readers.get(spec.cluster)
        if reader is None:
            reader = readers[spec.cluster] = DigestReader(None, saved_outputs(outputs_root, spec.cluster))
        out[rid] = release_digest(spec, reader, charts, kubernetes_version(clusters[spec.cluster]),
                                  version if version is not None else __version__,
                                  plans.get(rid) if plans is not None else None)
        if counts is not None:
            counts.ran(DIGEST, rid)
    return out


@dataclass(frozen=True)
class NotReady:
    """A release whose chart (`phase` "chart") or values ("values") could not be made ready: its
    error fails that release only."""

    error: DeployerError
    phase: str


def ready_stage(specs: list[ReleaseSpec], readers: Mapping[str, ValuesReader], charts: ChartOptions,
                runner: "ProcessRunner", helm_binary: Path, concurrency: int,
                counts: Optional[StageCounts] = None,
                plans: Optional[Mapping[str, ValuePlan]] = None) -> dict[str, "ReadyRelease | NotReady"]:
    """Each release made ready, concurrently: its chart prepared once, its values layered once (the
    cluster's one reader reads each file, and decrypts each secret, once)."""
    from deployer.stopping import thread_pool

    def one(spec: ReleaseSpec) -> "ReadyRelease | NotReady":
        return ready_one(spec, readers[spec.cluster], charts, runner, helm_binary, counts,
                         plans.get(spec.id) if plans is not None else None)

    if not specs:
        return {}
    with thread_pool(max(1, min(concurrency, len(specs)))) as pool:
        return dict(zip((s.id for s in specs), pool.map(one, specs)))


def ready_one(spec: ReleaseSpec, reader: ValuesReader, charts: ChartOptions, runner: "ProcessRunner",
              helm_binary: Path, counts: Optional[StageCounts] = None,
              plan: Optional[ValuePlan] = None) -> "ReadyRelease | NotReady":
    """The ready stage of one release: its chart prepared, then its values layered."""
    if counts is not None:
        counts.ran(READY, spec.id)
    try:
        chart = prepare_release_chart(spec, charts, runner, helm_binary)
    except DeployerError as e:
        return NotReady(e, "chart")
    try:
        return ready_release(spec, reader, charts, runner, helm_binary, {spec.id: chart}, plan)
    except DeployerError as e:
        return NotReady(e, "values")


def render_stage(ready: list[ReadyRelease], versions: Mapping[str, str], renderer: "Renderer", concurrency: int,
                 counts: Optional[StageCounts] = None) -> dict[str, RenderedRelease]:
    """`helm template` of each ready release, once (with the Kubernetes API schemas when the renderer
    checks them)."""
    from deployer.stopping import thread_pool

    def one(r: ReadyRelease) -> RenderedRelease:
        if counts is not None:
            counts.ran(RENDER, r.spec.id)
        return renderer.render_ready(r, versions[r.spec.cluster])

    if not ready:
        return {}
    with thread_pool(max(1, min(concurrency, len(ready)))) as pool:
        return {r.id: r for r in pool.map(one, ready)}


def fleet_stage(rendered: list[RenderedRelease], versions: Mapping[str, str],
                counts: Optional[StageCounts] = None) -> list[RenderProblem]:
    """The fleet checks (pure: render/fleet.py) over each cluster's rendered releases."""
    from deployer.render.fleet import fleet_checks

    problems: list[RenderProblem] = []
    for name in sorted(versions):
        mine = [r for r in rendered if r.cluster == name]
        if counts is not None:
            for r in mine:
                counts.ran(FLEET, r.id)
        problems += fleet_checks(mine, versions[name])
    return problems


# --- render: the script ending after the fleet checks -------------------------------------------


def render_fleet(root: Path, cluster: Optional[str], hubs: Optional[list[str]], options: "RenderOptions",
                 runner: "ProcessRunner", helm: Path, counts: Optional[StageCounts] = None) -> "RenderReport":
    """`deployer render`: load and validate -> specs -> ready (encrypted files decrypted in memory
    when a key is at hand, else their keys kept with placeholder values) -> render (`helm template`,
    helm's schema checks of the chart and every subchart, every object against the Kubernetes API
    schemas of the cluster's version) -> fleet checks, per cluster."""
    import os
    import re
    import time

    from deployer.checks.problems import Severity
    from deployer.checks.validate import validate
    from deployer.plan.deploy_order import plan_hubs, plan_support
    from deployer.render.digest import kubernetes_version
    from deployer.render.renderer import Renderer
    from deployer.render.report import ClusterRender, RenderReport

    started = time.monotonic()
    validation = validate(root, cluster, hubs)
    renders: dict[str, ClusterRender] = {}
    refused: set[str] = set()  # files and releases validate refused: never rendered, never handed to sops
    for p in validation.report.problems:
        if p.severity is not Severity.error:
            continue
        m = re.match(r"config/clusters/([^/]+)/", p.file)
        name = (m.group(1) if m else "") or (cluster or "")
        hub = re.match(r"hub ([\w.-]+): ", p.message)
        release = f"{name}/{hub.group(1)}" if hub else name
        refused |= {os.path.realpath(root / p.file), release} if p.file else {release}
        renders.setdefault(name, ClusterRender(name, "")).problems.append(
            RenderProblem(release, p.code, p.message, p.hint, file=p.location))
    clusters: dict[str, Cluster] = {}
    planned: list[PlannedRelease] = []
    for doc in validation.docs:
        model = doc.model
        if cluster is not None and doc.folder_name != cluster:
            continue
        clusters[model.name] = model
        renders.setdefault(model.name, ClusterRender(model.name, "")).kubernetes_version = kubernetes_version(model)
        planned += plan_hubs(model, hubs) if hubs else [*(plan_support(model) if model.support else []),
                                                        *plan_hubs(model, None)]
    from deployer.render.kube_schema import DEFAULT_KUBERNETES_VERSION

    for c in renders.values():
        c.kubernetes_version = c.kubernetes_version or DEFAULT_KUBERNETES_VERSION
    versions = {name: renders[name].kubernetes_version for name in clusters}
    renderer = Renderer(root, options, runner, helm, refused=refused)
    results = render_releases(renderer, clusters, planned, versions, counts)
    for p in planned:
        renders[p.cluster].releases.append(results[p.id])
    for c in renders.values():
        by_id = {r.id: r for r in c.releases}
        for p in [p for p in c.problems if p.release in by_id]:  # validate's findings about one hub's values
            by_id[p.release].problems.insert(0, p)
        c.problems = [p for p in c.problems if p.release not in by_id]
        c.problems += fleet_stage(c.releases, {c.name: c.kubernetes_version}, counts)
    return RenderReport([renders[k] for k in sorted(renders)], time.monotonic() - started)


def render_releases(renderer: "Renderer", clusters: Mapping[str, Cluster], planned: list[PlannedRelease],
                    versions: Mapping[str, str], counts: Optional[StageCounts] = None) -> dict[str, RenderedRelease]:
    """specs -> ready -> render for `planned`, as `render` does it: a release validate refused (the
    renderer's `refused`), or whose spec, chart or values cannot be made, is not rendered and says why."""
    import os

    from deployer.adapters.sops import Sops
    from deployer.render.inputs import saved_outputs
    from deployer.render.placeholders import PlaceholderReader

    root, options, runner, helm = renderer.root, renderer.options, renderer.runner, renderer.helm
    results: dict[str, RenderedRelease] = {}
    unmade: dict[str, DeployerError] = {}
    by_id = {p.id: p for p in planned}
    specs = spec_stage(root, clusters, planned, counts, unmade)
    for p in planned:  # a release whose spec cannot be made, or that validate refused, is not rendered
        if p.id in unmade:
            e = unmade[p.id]
            results[p.id] = _not_rendered(p, clusters[p.cluster], "render-failed", e.message, e.hint,
                                          getattr(e, "file", ""))
            continue
        spec = specs[p.id]
        files = [f for f in (*spec.values_files, spec.chart_override, spec.domain_override) if f is not None]
        blocked = [f.name for f in files if os.path.realpath(f) in renderer.refused]
        if blocked or p.id in renderer.refused:
            results[p.id] = _not_rendered(p, clusters[p.cluster], "not-rendered",
                                          f"not rendered: validate refused {', '.join(blocked) or 'its configuration'}",
                                          "fix what validate reports, then render again", spec=spec)
            del specs[p.id]
    sops = Sops(runner)
    readers = {name: PlaceholderReader(sops, saved_outputs(root, name), options.decrypt)
               for name in {s.cluster for s in specs.values()}}
    plans = plan_stage(specs, root, counts)
    ready = ready_stage(list(specs.values()), readers, ChartOptions(options.work_dir, options.chart_repo), runner,
                        helm, options.concurrency, counts, plans)
    for rid, r in ready.items():
        if isinstance(r, NotReady):
            spec, p = specs[rid], by_id[rid]
            if r.phase == "chart":
                results[rid] = _not_rendered(p, clusters[p.cluster], "chart-unavailable", r.error.message, r.error.hint,
                                             str(spec.chart_dir / "Chart.yaml") if spec.chart_dir else "", spec=spec)
            else:
                results[rid] = _not_rendered(p, clusters[p.cluster], getattr(r.error, "code", "values-unreadable"),
                                             r.error.message, r.error.hint, spec=spec)
    results.update(render_stage([r for r in ready.values() if isinstance(r, ReadyRelease)], versions, renderer,
                                options.concurrency, counts))
    for rid, spec in specs.items():
        results[rid].placeholders = readers[spec.cluster].placeholders_of(spec)
    return results


def _not_rendered(planned: PlannedRelease, cluster: Cluster, code: str, message: str, hint: Optional[str],
                  file: str = "", spec: Optional[ReleaseSpec] = None) -> RenderedRelease:
    name = planned.hub or "support"
    out = RenderedRelease(planned.id, spec.release if spec else name, spec.namespace if spec else name, cluster.name,
                          is_hub=planned.kind == "hub")
    out.problems.append(RenderProblem(planned.id, code, message, hint, file=file))
    return out


# --- deploy's fleet check: the same stages, ending before the engine -----------------------------


class FleetConflict(DeployerError):
    """What `deploy` would break across releases (render/fleet.py), found before touching the cluster."""


def check_fleet_before_deploy(root: Path, clusters: Mapping[str, Cluster], ready: list[ReadyRelease],
                              options: "RenderOptions", runner: "ProcessRunner", helm: Path,
                              counts: Optional[StageCounts] = None) -> None:
    """The render and fleet-check stages over the releases deploy (or preview) is about to apply,
    rendered from the charts and values it hands helm; FleetConflict (nothing done) when the fleet
    check refuses."""
    from deployer.render.digest import kubernetes_version
    from deployer.render.renderer import Renderer

    if not ready:
        return
    versions = {name: kubernetes_version(c) for name, c in clusters.items()}
    renderer = Renderer(root, options, runner, helm, schemas=False)
    rendered = render_stage(ready, versions, renderer, options.concurrency, counts)
    problems = fleet_stage(list(rendered.values()), versions, counts)
    if problems:
        shown = "; ".join(f"{p.where}: {p.message}" for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise FleetConflict(f"the fleet check refused this deploy, nothing was done: {shown}{more}",
                            hint=problems[0].hint or "run `deployer render` for the full list")
