"""`deployer rollback`: where a release is rolled back by hand (the target is chosen by the one
rule in `plan/rollback_target.py`, which automatic rollback after a failed deploy uses too)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Optional

from deployer.adapters.helm import Revision
from deployer.errors import DeployerError
from deployer.plan.deploy_order import select_hubs
from deployer.plan.rollback_target import choose_rollback
from deployer.run.cluster_connection import ClusterConnection
from deployer.run.hub_secrets import register_live_secrets, secret_paths


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
    """(current, target): see `deployer.plan.rollback_target` (the one rule for every rollback)."""
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
