"""One rule for every rollback path: the newest revision that was deployed or superseded, never a
failed or pending one, never the current one."""

from __future__ import annotations

import asyncio

import pytest

from deployer.adapters.helm import Revision
from deployer.errors import DeployerError, UsageError
from deployer.plan.rollback_target import choose_rollback, good_target


def rev(n: int, status: str) -> Revision:
    return Revision(n, status, "basehub-0.1.0", "", f"2026-11-2{n % 10} 10:00:00", "")


def test_two_failed_no_rollback_deploys_then_a_plain_rollback_targets_the_last_deployed_revision():
    history = [rev(1, "superseded"), rev(2, "superseded"), rev(3, "failed"), rev(4, "failed")]
    current, target = choose_rollback(history, "hub")
    assert (current.revision, target.revision) == (4, 2)


def test_after_an_automatic_rollback_a_plain_rollback_skips_the_failed_revision():
    # 1 deployed, 2 failed (then rolled back automatically: 3 is a copy of 1)
    history = [rev(1, "superseded"), rev(2, "failed"), rev(3, "deployed")]
    assert choose_rollback(history, "hub")[1].revision == 1


def test_pending_revisions_are_never_a_target():
    history = [rev(1, "superseded"), rev(2, "pending-upgrade"), rev(3, "deployed")]
    assert choose_rollback(history, "hub")[1].revision == 1
    assert good_target(history, before=3).revision == 1


def test_an_explicit_failed_revision_is_refused_naming_the_good_ones():
    history = [rev(1, "superseded"), rev(2, "failed"), rev(3, "deployed")]
    with pytest.raises(UsageError) as err:
        choose_rollback(history, "hub", 2)
    assert err.value.message == "revision 2 of `hub` is failed: it never ran, so deployer does not roll back to it"
    assert err.value.hint == "pick a deployed or superseded revision: 1 (superseded), 2 (failed), 3 (deployed)"
    assert choose_rollback(history, "hub", 1)[1].revision == 1


def test_only_failed_revisions_before_the_current_one_is_an_error_not_a_failed_target():
    with pytest.raises(DeployerError) as err:
        choose_rollback([rev(1, "failed"), rev(2, "failed")], "hub")
    assert err.value.message == ("hub `hub` has no earlier revision that was deployed: nothing to roll back to "
                                 "(revisions: 1 (failed), 2 (failed))")


def test_automatic_rollback_after_a_failed_upgrade_uses_the_newest_good_revision():
    """The deploy path (ReleaseDeployer._failed) goes back to the newest good revision, not the oldest."""
    from deployer.run.engine import StepContext, StepResult
    from deployer.run.release import DeployOptions, ReleaseDeployer, ReleaseSpec

    calls = []

    class FakeHelm:
        async def history(self, release, namespace, timeout=60):
            return [rev(1, "superseded"), rev(2, "superseded"), rev(3, "failed"), rev(4, "superseded"),
                    rev(5, "failed")]

        async def rollback(self, release, revision, **kw):
            calls.append(revision)

    deployer = ReleaseDeployer(FakeHelm(), DeployOptions())  # type: ignore[arg-type]
    spec = ReleaseSpec("c/hub", "hub", "hub", "c", "basehub", None, ())
    ctx = StepContext(StepResult("c/hub", "c/hub", ""), lambda r: None)
    failed = asyncio.run(deployer._failed(spec, DeployerError("helm upgrade failed"), {}, ctx))
    assert calls == [4]
    assert failed.message == "helm upgrade failed; rolled back to revision 4"
