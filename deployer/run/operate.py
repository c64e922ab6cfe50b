"""Operating deployed hubs: load, validate and open the cluster (`connect`, on
`run.cluster_connection.open_cluster`), then `diff` and `rollback` as linear scripts of stages
(load -> connect -> read -> act -> result)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from deployer.adapters.helm import Helm, ReleaseNotFound, Revision
from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.checks.validate import load_valid_cluster
from deployer.config.charts import known_charts
from deployer.config.models import Cluster
from deployer.errors import DeployerError
from deployer.plan.deploy_plan import PlannedRelease, select_hubs
from deployer.plan.diff import ObjectChange, diff_manifests, summary
from deployer.run.cluster_connection import ClusterConnection, open_cluster
from deployer.run.provision import saved_outputs
from deployer.run.release import DeployOptions, ReleaseDeployer, helm_chart_source, release_spec
from deployer.run.rollback_target import choose_rollback
from deployer.toolchain import find_tool


@contextlib.contextmanager
def connect(root: Path, cluster_name: str, hubs: Optional[list[str]], runner: ProcessRunner,
            work_dir: Path) -> Iterator[ClusterConnection]:
    """Load and validate the cluster (as deploy does), then open it for the block."""
    cluster = load_valid_cluster(root, cluster_name, hubs).model
    select_hubs(cluster, hubs)  # unknown hubs: a usage error naming the known ones
    sops = Sops(runner)
    # before any tool or API answer can echo them (an API server's error quoting an object)
    register_secrets(root, cluster, select_hubs(cluster, hubs), sops)
    helm_binary = find_tool("helm")
    with open_cluster(root, cluster, runner, work_dir, sops=sops, helm_binary=helm_binary) as conn:
        yield conn


def secret_files(root: Path, cluster: Cluster, hubs: list[str], support: bool = False) -> list[Path]:
    """The sops-encrypted files whose values the named hubs (and the support stack) deploy."""
    from deployer.config.files import is_secret_name

    folder = root / "config" / "clusters" / cluster.name
    names: list[str] = []
    if support and cluster.support is not None:
        names += cluster.support.helm_chart_values_files
    for hub in cluster.hubs:
        if hub.name in hubs:
            names += hub.helm_chart_values_files
            if hub.domain_override_file:
                names.append(hub.domain_override_file)
    return [folder / n for n in dict.fromkeys(names) if is_secret_name(Path(n).name)]


def register_secrets(root: Path, cluster: Cluster, hubs: list[str], sops: Sops, support: bool = False) -> int:
    """Decrypt (in memory) every secret values file of these hubs, so that each value is known to
    the redactor before any command output, log line or error can carry it. Returns the count."""
    return len(secret_paths(root, cluster, hubs, sops, support))


def secret_paths(root: Path, cluster: Cluster, hubs: list[str], sops: Sops, support: bool = False) -> list[tuple]:
    """Decrypt (and so register) the hubs' secret files; the key paths of their values."""
    from deployer.redact import leaf_paths

    paths: list[tuple] = []
    for path in secret_files(root, cluster, hubs, support):
        data = sops.decrypt_data(path)  # registers every leaf value; a failure (no key) stops the command
        if isinstance(data, dict):
            data.pop("sops", None)
            paths.extend(leaf_paths(data))
    return paths


async def register_live_secrets(helm: Helm, release: str, namespace: str, paths: list[tuple],
                                revisions: tuple[Optional[int], ...] = (None,)) -> None:
    """What deployed revisions hold at the secret files' key paths are secrets too (older values,
    which today's files no longer contain): register them before showing anything of those
    revisions (diff's live side, rollback's target)."""
    from deployer.redact import strings_at

    if not paths:
        return
    for revision in revisions:
        try:
            values = await helm.user_values(release, namespace, revision)
        except DeployerError:
            continue  # not installed (yet), or no such revision: nothing to hide
        for value in strings_at(values, paths):
            helm.redactor.add(value)


# -- diff ---------------------------------------------------------------------------------

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
    charts = known_charts(conn.root)
    names = select_hubs(conn.cluster, hubs)
    # the same values as deploy: the saved outputs of `deployer provision` are a layer too
    deployer = ReleaseDeployer(conn.helm, conn.sops, conn.runner, conn.helm_binary, options,
                               cloud_outputs=saved_outputs(conn.root, conn.cluster.name))

    async def one(name: str) -> HubDiff:
        planned = PlannedRelease(f"{conn.cluster.name}/{name}", conn.cluster.name, "hub", name, None)
        spec = release_spec(conn.root, conn.cluster, planned, charts)
        result = HubDiff(name)
        try:
            prepared = await asyncio.to_thread(deployer.prepare, spec)
            values = await asyncio.to_thread(deployer.release_values, spec, prepared)
            chart = helm_chart_source(spec, prepared)
            paths = await asyncio.to_thread(secret_paths, conn.root, conn.cluster, [name], conn.sops)
            await register_live_secrets(conn.helm, spec.release, spec.namespace, paths)
            live_task = asyncio.ensure_future(_live(conn.helm, spec.release, spec.namespace))
            desired = await conn.helm.render(spec.release, chart, values, namespace=spec.namespace)
            live = await live_task
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


async def _live(helm: Helm, release: str, namespace: str) -> Optional[list[dict]]:
    """The live release's objects; None when the release does not exist."""
    try:
        return await helm.manifest(release, namespace)
    except ReleaseNotFound:
        return None


# -- rollback -----------------------------------------------------------------------------

@dataclass
class RollbackResult:
    hub: str
    from_revision: int
    to_revision: int
    dry_run: bool
    new_revision: Optional[int] = None
    status: str = ""
    target: Optional[Revision] = None
    current: Optional[Revision] = None

    def to_json(self) -> dict[str, Any]:
        return {"hub": self.hub, "from_revision": self.from_revision, "to_revision": self.to_revision,
                "dry_run": self.dry_run, "new_revision": self.new_revision, "status": self.status,
                "target_chart": self.target.chart if self.target else None,
                "target_updated": self.target.updated if self.target else None}

    @property
    def message(self) -> str:
        t = self.target
        what = f"revision {self.to_revision} ({t.chart}, deployed {t.updated.split('.')[0]})" if t else f"revision {self.to_revision}"
        if self.dry_run:
            return f"would roll back {self.hub} from revision {self.from_revision} to {what} (dry run: nothing changed)"
        return (f"rolled back {self.hub} from revision {self.from_revision} to {what}: "
                f"now revision {self.new_revision} {self.status}")


def choose_revision(history: list[Revision], hub: str, revision: Optional[int]) -> tuple[Revision, Revision]:
    """(current, target): see `deployer.run.rollback_target` (the one rule for every rollback)."""
    return choose_rollback(history, hub, revision)


def run_rollback(conn: ClusterConnection, hub: str, revision: Optional[int], *, dry_run: bool, timeout: float) -> RollbackResult:
    """A step of the engine (`run_each`), within helm's `timeout` twice over and two minutes for
    the history and the secrets; a failure is raised as it was (its exit code kept)."""
    from deployer.run.engine import run_each

    select_hubs(conn.cluster, [hub])

    async def main() -> RollbackResult:
        history = await conn.helm.history(hub, hub)
        current, target = choose_revision(history, hub, revision)
        # the values of both revisions at the secret files' paths (older secrets) are hidden too
        await register_live_secrets(conn.helm, hub, hub, secret_paths(conn.root, conn.cluster, [hub], conn.sops),
                                    (current.revision, target.revision))
        result = RollbackResult(hub, current.revision, target.revision, dry_run, target=target, current=current)
        if dry_run:
            return result
        await conn.helm.rollback(hub, target.revision, namespace=hub, timeout=timeout, wait=True)
        after = await conn.helm.history(hub, hub)
        if after:
            result.new_revision, result.status = after[-1].revision, after[-1].status
        return result

    [done] = run_each([hub], lambda _: main(), concurrency=1, timeout=timeout * 2 + 120, group="rollback")
    if done.ok:
        return done.value
    error = done.step.error
    if error is not None and not isinstance(error, asyncio.TimeoutError):  # its own error, or a bug, as it was
        raise error
    raise RollbackFailed(f"rollback of {hub}: {done.step.message}", hint=done.step.hint) from done.step.error


class RollbackFailed(DeployerError):
    """A rollback that timed out, or broke, without an error of its own."""
