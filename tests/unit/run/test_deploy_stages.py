"""deploy's ledger stage (run/deploy.py::ledger_stage): an unchanged release is left alone, unless
--force; a changed, new or unchecked one is deployed. Real ledger records (helm's labels), no cluster."""

from __future__ import annotations

from deployer.plan.deploy_order import PlannedRelease
from deployer.plan.ledger import ReleaseState, Source, Verdict, record_labels
from deployer.run.deploy import ledger_stage
from deployer.run.cluster_ledger import ClusterLedger

VERSION = __import__("deployer").__version__


def _ledger(digests: dict[str, str]) -> ClusterLedger:
    states = {}
    for hub, digest in digests.items():
        states[(hub, hub)] = ReleaseState(hub, hub, 3, "deployed", record_labels(digest, Source(None), VERSION, 3, "c"))
    return ClusterLedger(states)


PLANNED = [PlannedRelease(f"c/{h}", "c", "hub", h, None) for h in ("same", "edited", "new")]
DIGESTS = {"c/same": "a" * 64, "c/edited": "b" * 64, "c/new": "c" * 64}
LEDGERS = {"c": _ledger({"same": "a" * 64, "edited": "e" * 64})}


def test_an_unchanged_release_is_skipped_and_only_the_changed_and_new_ones_deploy():
    decisions = ledger_stage(PLANNED, DIGESTS, LEDGERS, force=False)
    assert {rid: d.deploy for rid, d in decisions.items()} == {"c/same": False, "c/edited": True, "c/new": True}
    assert decisions["c/same"].comparison.verdict is Verdict.unchanged
    assert decisions["c/edited"].comparison.verdict is Verdict.changed


def test_force_deploys_the_unchanged_release_too_and_keeps_its_comparison_for_the_report():
    decisions = ledger_stage(PLANNED, DIGESTS, LEDGERS, force=True)
    assert all(d.deploy for d in decisions.values())
    assert decisions["c/same"].comparison.verdict is Verdict.unchanged


def test_a_dry_run_or_a_cluster_that_could_not_be_read_deploys_everything():
    assert all(d.deploy and d.comparison is None for d in ledger_stage(PLANNED, {}, {}, force=False).values())
    unread = ledger_stage(PLANNED, DIGESTS, {"c": ClusterLedger(error="no answer")}, force=False)
    assert all(d.deploy and d.comparison.verdict is Verdict.unchecked for d in unread.values())
