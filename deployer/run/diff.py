"""`deployer diff`: per hub, render what deploy would apply (the same values pipeline, the same
prepared chart, a server-side dry run) and compare it with the live release's manifest (the
comparison itself is pure: `plan/diff.py`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from collections.abc import Awaitable
from typing import Any, Optional, TypeVar

from deployer.adapters.helm import Helm, ReleaseNotFound
from deployer.errors import DeployerError
from deployer.plan.deploy_order import PlannedRelease, select_hubs
from deployer.plan.diff import ObjectChange, diff_manifests, summary
from deployer.run.cluster_connection import ClusterConnection
from deployer.run.hub_secrets import register_live_secrets, secret_paths
from deployer.render.inputs import ValuesReader, saved_outputs
from deployer.run.release import DeployOptions

A = TypeVar("A")
B = TypeVar("B")


@dataclass
class HubDiff:
    hub: str
    changes: list[ObjectChange] = field(default_factory=list)
    installed: bool = True
    error: str = ""
    hint: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        return {"hub": self.hub, "installed": self.installed, "summary": self.summary, "error": self.error or None,
                "hint": self.hint, "changes": [c.to_json() for c in self.changes]}

    @property
    def summary(self) -> str:
        if self.error:
            return f"error: {self.error}"
        text = summary(self.changes)
        return text if self.installed else f"not installed yet: {text}"


def run_diff(conn: ClusterConnection, hubs: Optional[list[str]], options: DeployOptions, concurrency: int = 4,
             timeout: float = 300.0) -> list[HubDiff]:
    """Per hub: render what deploy would apply (same values, same prepared chart) and compare it
    with the live release's manifest."""
    from deployer.render.pipeline import NotReady, ready_one, spec_stage

    names = select_hubs(conn.cluster, hubs)
    planned = {name: PlannedRelease(f"{conn.cluster.name}/{name}", conn.cluster.name, "hub", name, None)
               for name in names}
    specs = spec_stage(conn.root, {conn.cluster.name: conn.cluster}, list(planned.values()))
    # the same values as deploy: the saved outputs of `deployer provision` are a layer too
    reader = ValuesReader(conn.sops, saved_outputs(conn.root, conn.cluster.name))
    conn.helm  # bound (and its binary found) before any thread uses it

    async def one(name: str) -> HubDiff:
        spec = specs[planned[name].id]
        result = HubDiff(name)
        try:
            ready = await asyncio.to_thread(ready_one, spec, reader, options.charts, conn.runner, conn.helm_binary)
            if isinstance(ready, NotReady):
                raise ready.error
            values, chart = ready.values, ready.source
            paths = await asyncio.to_thread(secret_paths, conn.root, conn.cluster, [name], conn.sops)
            await register_live_secrets(conn.helm, spec.release, spec.namespace, paths)
            desired, live = await _both(conn.helm.render(spec.release, chart, values, namespace=spec.namespace),
                                        _live(conn.helm, spec.release, spec.namespace))
        except DeployerError as e:
            result.error, result.hint = e.message, e.hint
            return result
        result.installed = live is not None
        result.changes = diff_manifests(live or [], desired, spec.namespace)
        return result

    from deployer.run.engine import run_each

    out = []
    for m in run_each(names, one, concurrency=concurrency, timeout=timeout, group="diff"):
        out.append(m.value if m.ok else HubDiff(m.item, error=m.step.message, hint=m.step.hint))
    return out


async def _both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Both results, run at once. When one fails, the other is cancelled and awaited before the
    error goes on: no task is left running, or failing later with nobody to hear it."""
    tasks = (asyncio.ensure_future(first), asyncio.ensure_future(second))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # each outcome retrieved; none left running
    for task in tasks:  # a failure, not the cancellation it caused in the other
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    return tasks[0].result(), tasks[1].result()


async def _live(helm: Helm, release: str, namespace: str) -> Optional[list[dict]]:
    """The live release's objects; None when the release does not exist."""
    try:
        return await helm.manifest(release, namespace)
    except ReleaseNotFound:
        return None
