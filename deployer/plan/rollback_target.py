"""The one rule for choosing the revision a release goes back to, for every rollback path:
automatic rollback after a failed deploy, recovery of a release left pending, and
`deployer rollback` (with or without `--revision`).

The target is the newest revision that was deployed or superseded (it once ran), never a failed
or pending one, and never the current revision itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Protocol, TypeVar

from deployer.errors import DeployerError, UsageError

GOOD = frozenset({"deployed", "superseded"})  # revisions that once ran


class _Revision(Protocol):
    revision: int
    status: str


R = TypeVar("R", bound=_Revision)


def good_target(history: Sequence[R], *, before: Optional[int] = None) -> Optional[R]:
    """The newest revision that was deployed or superseded (older than revision `before`, when
    given); None when there is none. `history` is helm's, oldest first."""
    candidates = [r for r in history if r.status in GOOD and (before is None or r.revision < before)]
    return max(candidates, key=lambda r: r.revision) if candidates else None


def describe(history: Sequence[_Revision]) -> str:
    return ", ".join(f"{r.revision} ({r.status})" for r in history)


def choose_rollback(history: Sequence[R], release: str, revision: Optional[int] = None) -> tuple[R, R]:
    """(current, target) for a manual rollback. Without `revision`, the target is `good_target`
    older than the current revision; an explicit `revision` must exist, differ from the current
    one, and have been deployed (a failed or pending revision is refused)."""
    if not history:
        raise DeployerError(f"hub `{release}` has no helm release on this cluster: nothing to roll back",
                            hint="deploy it first with `deployer deploy`")
    current = max(history, key=lambda r: r.revision)
    existing = describe(history)
    if revision is None:
        target = good_target(history, before=current.revision)
        if target is None:
            if len(history) < 2:
                raise DeployerError(
                    f"hub `{release}` has only revision {current.revision}: there is no previous revision",
                    hint="roll forward instead: fix the values and run `deployer deploy`")
            raise DeployerError(
                f"hub `{release}` has no earlier revision that was deployed: nothing to roll back to "
                f"(revisions: {existing})",
                hint="roll forward instead: fix the values and run `deployer deploy`")
        return current, target
    by_number = {r.revision: r for r in history}
    if revision not in by_number:
        raise UsageError(f"hub `{release}` has no revision {revision}", hint=f"existing revisions: {existing}")
    if revision == current.revision:
        raise UsageError(f"revision {revision} is the current revision of `{release}`: nothing to roll back",
                         hint=f"existing revisions: {existing}")
    target = by_number[revision]
    if target.status not in GOOD:
        raise UsageError(f"revision {revision} of `{release}` is {target.status}: it never ran, so deployer does not "
                         f"roll back to it", hint=f"pick a deployed or superseded revision: {existing}")
    return current, target
