"""The ledger's pure parts: records as labels, the comparison per release, the plan made from
it, the input digest, and drift between a release manifest and live objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.plan.ledger import (
    DIGEST_CHARS,
    L_CLUSTER,
    L_FORMAT,
    L_INPUTS,
    L_REVISION,
    ReleaseState,
    RecordProblem,
    Source,
    Verdict,
    compare,
    latest_revisions,
    plan_from_ledger,
    read_record,
    record_labels,
    recorded_elsewhere,
)

DIGEST = "a" * 64
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def labels(revision: int = 3, digest: str = DIGEST, cluster: str = "c1", version: str = "0.1.0") -> dict[str, str]:
    return record_labels(digest, Source(COMMIT, dirty=False), version, revision, cluster)


def state(revision: int = 3, status: str = "deployed", **kw) -> ReleaseState:
    return ReleaseState("hub1", "hub1", revision, status, {"owner": "helm", "name": "hub1", "status": status,
                                                          "version": str(revision), **kw})


def test_a_record_is_valid_labels_and_reads_back():
    made = record_labels(DIGEST, Source(COMMIT, dirty=True), "1.2.3+local.dirty", 7, "my cluster")
    import re

    for key, value in made.items():
        assert len(value) <= 63 and re.match(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", value), (key, value)
    record = read_record({**made, "owner": "helm"})
    assert record is not None
    assert (record.digest, record.commit, record.dirty, record.revision) == (DIGEST[:DIGEST_CHARS], COMMIT, True, 7)
    assert record.version == "1.2.3_local.dirty" and record.cluster == "my_cluster"
    assert record.source.describe() == "commit 0123456789ab with a dirty work tree"
    assert read_record({"owner": "helm", "name": "x"}) is None  # helm's own labels only: no record


def test_a_deploy_outside_git_records_no_commit():
    record = read_record(record_labels(DIGEST, Source(None), "0.1.0", 1, "c1"))
    assert record is not None and record.commit is None and record.source.describe() == "a folder outside git"


@pytest.mark.parametrize("change, message", [
    ({L_INPUTS: "xyz"}, "corrupt record: deployer/inputs='xyz' is not a digest"),
    ({L_REVISION: "three"}, "corrupt record: deployer/revision='three' is not a number"),
    ({L_FORMAT: "x"}, "corrupt record: label deployer/record-format='x' is not a number"),
    ({L_FORMAT: "2"}, "recorded by deployer 0.1.0 in record format 2, newer than this deployer's (1): "
                      "it cannot be compared; upgrade deployer"),
])
def test_corrupt_or_newer_records_say_why(change, message):
    with pytest.raises(RecordProblem) as e:
        read_record({**labels(), **change})
    assert str(e.value) == message


def test_a_record_missing_labels_is_corrupt():
    partial = {k: v for k, v in labels().items() if k != L_CLUSTER}
    with pytest.raises(RecordProblem, match=r"^corrupt record: label\(s\) deployer/cluster missing$"):
        read_record(partial)


def test_latest_revision_per_release_wins_and_non_release_secrets_are_ignored():
    items = [("ns1", {"name": "hub1", "version": "2", "status": "superseded"}),
             ("ns1", {"name": "hub1", "version": "10", "status": "deployed"}),
             ("ns1", {"name": "hub1", "version": "9", "status": "superseded"}),
             ("ns2", {"name": "hub1", "version": "1", "status": "failed"}),
             ("ns3", {"owner": "helm"})]
    got = latest_revisions(items)
    assert {k: (v.revision, v.status) for k, v in got.items()} == {("ns1", "hub1"): (10, "deployed"),
                                                                  ("ns2", "hub1"): (1, "failed")}


def verdict(st, digest=DIGEST, cluster="c1", ours="0.1.0"):
    c = compare("c1/hub1", digest, cluster, st, ours)
    return c.verdict, c.reason


def test_same_digest_on_a_deployed_revision_is_unchanged():
    v, reason = verdict(state(3, **labels(3)))
    assert v is Verdict.unchanged and reason == "unchanged since revision 3 (from commit 0123456789ab)"
    assert not compare("c1/hub1", DIGEST, "c1", state(3, **labels(3)), "0.1.0").planned


def test_each_reason_to_plan_is_its_own_verdict():
    assert verdict(None) == (Verdict.not_installed, "not installed in the cluster")
    assert verdict(state(3, **labels(3)), digest="b" * 64) == (
        Verdict.changed, "inputs differ from those deployed at revision 3 (from commit 0123456789ab)")
    assert verdict(state(4, "failed", **labels(4))) == (Verdict.not_deployed, "last revision 4 is failed")
    assert verdict(state(4, "pending-upgrade", **labels(4)))[1] == "last revision 4 is pending-upgrade"
    assert verdict(state(2)) == (Verdict.unrecorded, "nothing recorded: revision 2 was not deployed by deployer "
                                                     "(by hand, or by a deployer without the ledger)")
    # a hand-made `helm upgrade` copies the labels of the revision before
    assert verdict(state(4, **labels(3))) == (
        Verdict.stale, "revision 4 was not made by deployer (it recorded revision 3): a helm upgrade or rollback by hand")
    assert verdict(state(3, **labels(3, cluster="other"))) == (
        Verdict.foreign, "revision 3 holds a record of cluster `other`, not `c1`")
    assert verdict(state(3, **{**labels(3), L_INPUTS: "zz"})) == (
        Verdict.unusable, "revision 3: corrupt record: deployer/inputs='zz' is not a digest")


def test_a_record_from_a_newer_deployer_is_compared_and_noted():
    c = compare("c1/hub1", DIGEST, "c1", state(3, **labels(3, version="0.10.0")), "0.9.1")
    assert c.verdict is Verdict.unchanged
    assert c.notes == ("recorded by deployer 0.10.0, newer than this deployer 0.9.1",)


def _inputs(tmp_path: Path):
    from deployer.config.models import Cluster
    from deployer.plan.release_inputs import Snapshot, release_inputs

    folder = tmp_path / "config" / "clusters" / "c1"
    folder.mkdir(parents=True)
    (folder / "cluster.yaml").write_text(
        "name: c1\nprovider: local\nsupport:\n  helm_chart_values_files: [support.values.yaml]\nhubs:\n"
        "- name: s1\n  domain: s1.test\n  helm_chart: basehub\n  stage: staging\n  helm_chart_values_files: [a.values.yaml]\n"
        "- name: p1\n  domain: p1.test\n  helm_chart: basehub\n  stage: prod\n  helm_chart_values_files: [a.values.yaml]\n")
    (folder / "support.values.yaml").write_text("x: 1\n")
    (folder / "a.values.yaml").write_text("a: 1\nb: [1, 2]\n")
    from deployer.config.yamlload import load_yaml

    cluster = Cluster.model_validate(load_yaml((folder / "cluster.yaml").read_text(), positions=False).data)
    chart = tmp_path / "helm-charts" / "basehub"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("name: basehub\nversion: 0.1.0\n")

    def snap():
        return release_inputs(Snapshot.of_folder(tmp_path, {"c1": cluster}, {"basehub": chart}))

    return folder, snap


def test_the_digest_ignores_comments_and_key_order_but_not_values(tmp_path):
    from deployer.plan.release_inputs import release_digest

    folder, snap = _inputs(tmp_path)
    before = release_digest(snap()["c1/s1"])
    (folder / "a.values.yaml").write_text("# a comment\nb: [1, 2]\na: 1\n")
    assert release_digest(snap()["c1/s1"]) == before
    (folder / "a.values.yaml").write_text("a: 2\nb: [1, 2]\n")
    assert release_digest(snap()["c1/s1"]) != before
    assert len(before) == 64


def test_a_plan_from_the_ledger_has_the_json_of_a_plan_between_commits(tmp_path):
    from deployer.plan.ledger import Comparison

    _, snap = _inputs(tmp_path)
    inputs = snap()
    comparisons = {
        "c1/support": Comparison("c1/support", Verdict.unchanged, "unchanged since revision 2"),
        "c1/s1": Comparison("c1/s1", Verdict.changed, "inputs differ from those deployed at revision 3"),
        "c1/p1": Comparison("c1/p1", Verdict.unchecked, "could not check the cluster: no answer"),
    }
    changes = {"c1/s1": ["since 0123456789ab: changed values #1 config/clusters/c1/a.values.yaml"]}
    plan = plan_from_ledger(inputs, comparisons, changes, [], "0123456789abcdef", {"c1/s1": "d" * 64})
    data = plan.to_json()
    assert set(data) >= {"base", "head", "support_jobs", "staging_jobs", "prod_jobs", "removals", "counts"}
    assert data["support_jobs"] == [] and data["unchanged"] == ["c1/support"]
    (s1,) = data["staging_jobs"]
    assert s1["reasons"] == ["inputs differ from those deployed at revision 3",
                             "since 0123456789ab: changed values #1 config/clusters/c1/a.values.yaml"]
    assert s1["digest"] == "d" * 64  # what a deploy records (render/digest.py)
    (p1,) = data["prod_jobs"]
    assert p1["reasons"] == ["could not check the cluster: no answer"]
    assert data["unchecked"] == [{"id": "c1/p1", "cluster": "c1", "reason": "could not check the cluster: no answer"}]
    # deploy --plan reads it unchanged
    from deployer.plan.deploy_order import PlanFile

    assert [j.hub for j in PlanFile.model_validate(data).staging_jobs] == ["s1"]


def test_releases_recorded_in_the_cluster_but_gone_from_the_repository_are_removals():
    states = latest_revisions([
        ("old", {"name": "old", "version": "1", "status": "deployed", **labels(1)}),
        ("s1", {"name": "s1", "version": "1", "status": "deployed", **labels(1)}),
        ("byhand", {"name": "byhand", "version": "1", "status": "deployed"}),
        ("x", {"name": "y", "version": "1", "status": "deployed", **labels(1, cluster="other")}),
    ])
    gone = recorded_elsewhere("c1", states, {"c1/s1"})
    assert gone == [{"id": "c1/old", "cluster": "c1", "kind": "hub", "hub": "old",
                     "reason": "in the cluster (recorded by deployer), not in the repository"}]
