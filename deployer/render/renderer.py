"""The render stage of the one pipeline (render/pipeline.py): `helm template` of a ready release
(helm's schema checks of the chart and every subchart), its objects parsed, values no subchart
reads named, and (for `render`) every object checked against the Kubernetes API schemas of the
cluster's version. `render`, deploy's fleet check and `diff` all render through here.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from deployer.adapters.charts import PreparedChart, helm_home_env
from deployer.adapters.process import ProcessRunner
from deployer.adapters.promtool import Promtool
from deployer.adapters.sops import Sops
from deployer.config.models import Cluster, RemoteChart
from deployer.errors import DeployerError
from deployer.plan.deploy_order import PlannedRelease
from deployer.render.digest import kubernetes_version
from deployer.render.kube_schema import KubeSchemas
from deployer.render.model import RenderedRelease, RenderProblem
from deployer.render.monitoring import monitoring_problems
from deployer.render.inputs import ChartOptions, ReadyRelease
from deployer.render.chart_meta import chart_kube_versions
from deployer.render.helm_output import ManifestError, helm_problem, parse_manifests
from deployer.render.report import RenderReport
from deployer.render.subchart_keys import unread_problem as unread_value_problem
from deployer.render.subchart_keys import unread_subchart_values

log = logging.getLogger("deployer.render")

TEMPLATE_TIMEOUT = 120.0


@dataclass
class RenderOptions:
    work_dir: Path  # prepared charts (the state folder's charts/)
    chart_repo: Optional[Path] = None
    concurrency: int = 4
    schemas: bool = True  # validate objects against the Kubernetes API schemas
    decrypt: bool = True  # decrypt sops files when an age key is available


class Renderer:
    def __init__(self, root: Path, options: RenderOptions, runner: ProcessRunner, helm: Path, *,
                 schemas: Optional[bool] = None, refused: frozenset[str] | set[str] = frozenset()) -> None:
        self.root = root
        self.refused = refused  # real paths of files, and release ids, that validate refused
        self.options = options
        self.runner = runner
        self.helm = helm
        self.sops = Sops(runner)
        self.chart_options = ChartOptions(options.work_dir, options.chart_repo)
        self.use_schemas = options.schemas if schemas is None else schemas
        self._schemas: dict[str, KubeSchemas] = {}
        self._charts = None
        self._promtool: Optional[Promtool] = None
        # identical manifests recur across a fleet (CRDs in every support release): parsed and
        # checked once. Objects are never modified after parsing, so they can be shared.
        self._parsed: dict[str, list[Any]] = {}
        self._checked: dict[tuple[str, int], tuple[bool, list[Any]]] = {}

    def cloud_outputs(self, cluster: str) -> dict[str, Any]:
        from deployer.render.inputs import saved_outputs

        return saved_outputs(self.root, cluster)

    def promtool(self) -> Optional[Promtool]:
        """Prometheus' promtool (None when it is not installed: the checks that need it are skipped, said)."""
        from deployer.errors import ToolMissing
        from deployer.toolchain import find_tool

        if self._promtool is None:
            try:
                self._promtool = Promtool(self.runner, find_tool("promtool"))
            except ToolMissing:
                return None
        return self._promtool

    def schemas(self, version: str) -> KubeSchemas:
        if version not in self._schemas:
            self._schemas[version] = KubeSchemas(version)
        return self._schemas[version]

    def render(self, cluster: Cluster, planned: PlannedRelease, version: str) -> RenderedRelease:
        """One release through render's stages (render/pipeline.py): specs, ready, render."""
        from deployer.render.pipeline import render_releases

        return render_releases(self, {cluster.name: cluster}, [planned], {cluster.name: version})[planned.id]

    def render_ready(self, ready: ReadyRelease, version: str) -> RenderedRelease:
        """A release whose chart and values the caller has (deploy's, before its fleet check)."""
        started = time.monotonic()
        spec = ready.spec
        out = RenderedRelease(spec.id, spec.release, spec.namespace, spec.cluster, is_hub=spec.hub is not None)
        try:
            self.template(ready, out, version)
        except DeployerError as e:
            out.problems.append(RenderProblem(spec.id, "render-failed", e.message, e.hint))
        out.seconds = time.monotonic() - started
        return out

    def template(self, ready: ReadyRelease, out: RenderedRelease, version: str) -> None:
        """`helm template` of the release, its objects parsed and (with schemas) checked."""
        spec, prepared, values = ready.spec, ready.chart, ready.values
        out.domain = ((values.get("global") or {}).get("domain") if isinstance(values.get("global"), dict) else None) \
            or spec.domain
        if ready.ingress_switched_off:
            out.domain = None  # a preview's ingress the local layer switched off: it answers through its proxy only
        if prepared is not None:
            out.chart, out.chart_version = prepared.name, prepared.version
            out.kube_versions = chart_kube_versions(prepared.path)
        else:
            out.chart, out.chart_version = spec.chart.name, spec.chart.version
        args: list[Any] = [self.helm, "template", spec.release]
        if prepared is not None:
            args.append(prepared.path)
        else:
            chart: RemoteChart = spec.chart
            args += [chart.name, "--repo", chart.repository, "--version", chart.version]
        args += ["--namespace", spec.namespace, "--kube-version", _full(version), "--values", "-"]
        result = self.runner.run(args, timeout=TEMPLATE_TIMEOUT, env=helm_home_env(self.options.work_dir),
                                 input=json.dumps(values))
        if not result.ok:
            if "requires kubeVersion" in result.stderr and out.kube_versions:
                return  # the fleet check names each chart whose kubeVersion excludes the cluster
            out.problems.append(helm_problem(out.id, result.stderr, spec))
            return
        try:
            out.objects = parse_manifests(result.stdout, self._parsed)
        except ManifestError as e:
            out.problems.append(RenderProblem(out.id, "invalid-manifest", e.message,
                                              "fix the template: its output is not valid YAML", file=e.source))
            return
        if prepared is not None:  # keys a schema-less subchart ignores (render/subchart_keys.py)
            out.problems += [unread_value_problem(out.id, u) for u in unread_subchart_values(prepared.path, values)]
        # alert rules and dashboard queries (Prometheus' own parser), Alertmanager webhook URLs
        out.problems += monitoring_problems(out, list(spec.values_files), values, self.root, self.promtool)
        if self.use_schemas:
            self._check_schemas(out, version)

    def _check_schemas(self, out: RenderedRelease, version: str) -> None:
        try:
            schemas = self.schemas(version)
        except ValueError as e:
            out.problems.append(RenderProblem(out.id, "no-api-schemas", f"{e}: objects not checked against the "
                                              "Kubernetes API", "kubernetes-validate bundles the schemas of "
                                              "Kubernetes 1.25 and later", severity="warning"))
            return
        for o in out.objects:
            key = (version, id(o.body))  # shared parsed objects: same id, same result
            found = self._checked.get(key)
            if found is None:
                found = self._checked[key] = schemas.check(o.body)
            checked, findings = found
            if not checked:
                out.schema_skipped += 1
                continue
            out.schema_checked += 1
            for f in findings:
                code = "api-not-served" if f.unknown_api else "kubernetes-schema"
                hint = (f"use an apiVersion Kubernetes {schemas.version} serves (the chart may be too old for it)"
                        if f.unknown_api else f"the object does not match the Kubernetes {schemas.version} API")
                out.problems.append(RenderProblem(out.id, code, f.message, hint, kind=o.kind, name=o.name,
                                                  file=o.source))


def _full(version: str) -> str:
    return version if version.count(".") >= 2 else f"{version}.0"


def _cluster_of(file: str) -> str:
    m = re.match(r"config/clusters/([^/]+)/", file)
    return m.group(1) if m else ""


__all__ = ["PreparedChart", "RenderOptions", "RenderReport", "Renderer", "kubernetes_version"]
