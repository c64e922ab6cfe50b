"""`deploy --dry-run` of one release: what a deploy would apply, checked offline and by the cluster,
with nothing changed (`ReleaseDeployer` hands its dry runs here)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any

from deployer.adapters.helm import ChartSource, ClusterUnreachable, HelmError
from deployer.errors import DeployerError
from deployer.plan.release_spec import ReleaseSpec
from deployer.run.engine import Outcome, StepContext
from deployer.run.release import ReleaseFailed

if TYPE_CHECKING:
    from deployer.run.release import ReleaseDeployer


async def dry_run(self: "ReleaseDeployer", spec: ReleaseSpec, chart_path: ChartSource, values: dict[str, Any],
                  details: dict[str, Any], ctx: StepContext) -> Outcome:
    """`deploy --dry-run` of one ready release: `helm template` -> the Kubernetes API schemas (offline)
    -> helm's server dry run -> the API server's dry run of every object (kubectl). Nothing changes."""
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


_CRD_NOT_INSTALLED = re.compile(r'resource mapping not found .*no matches for kind "[^"]+"')


def _release_objects(rendered: Any) -> list[dict[str, Any]]:
    """The objects of a helm dry run's release (its manifest and its hooks' manifests)."""
    import yaml

    if not isinstance(rendered, dict):
        return []
    texts = [rendered.get("manifest") or ""] + [h.get("manifest") or "" for h in rendered.get("hooks") or []
                                                 if isinstance(h, dict)]
    return [d for text in texts for d in yaml.safe_load_all(text) if isinstance(d, dict)]

