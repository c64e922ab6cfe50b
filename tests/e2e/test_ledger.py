"""The ledger end to end: records written by deploy on the local cluster, read back by
`plan-upgrade --against cluster`, `deploy` (skipping unchanged releases) and `status` (in sync,
out of date, drifted). Real helm, real API server.

Which tests need pods to become Ready (the simulated node makes them so; a real node needs the
images): every test that deploys with `helm --wait` and expects success, i.e. all but the checks
of an unreachable cluster. None of the comparisons themselves read pod state.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import output_json, require_tool
from tests.e2e.operate_repo import BAD_IMAGE, CHART_REPO, FIRST_REVISION, UPGRADE_TAG, Repo, as_json, delete_namespaces, hub_values
from tests.git_repo import commit, git

pytestmark = pytest.mark.e2e

@pytest.fixture
def fleet(local_cluster, hub_images, api_client, tmp_path) -> Repo:
    """Two hubs (staging `s`, prod `p`) of cluster `e2e`, in a git repository."""
    repo = Repo(tmp_path / "repo", local_cluster.cluster.layout.root,
                {"s": {"stage": "staging"}, "p": {"stage": "prod"}})
    git(repo.root, "init", "-q", "-b", "main")
    commit(repo.root, "first")
    yield repo
    delete_namespaces(api_client, repo.names.values())


def plan(repo: Repo, *args: str) -> dict:
    proc = repo.run("plan-upgrade", "--against", "cluster", "--output", "json", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return as_json(proc, 0)


def jobs(data: dict) -> dict[str, list[str]]:
    return {j["id"]: j["reasons"] for key in ("support_jobs", "staging_jobs", "prod_jobs") for j in data[key]}


def deploy_json(repo: Repo, *args: str, timeout: str = "240",
                expect: int = 0) -> tuple[subprocess.CompletedProcess, dict]:
    proc = repo.run("deploy", repo.cluster, *args, "--chart-repo", str(CHART_REPO), "--timeout", timeout,
                    "--output", "json")
    return proc, as_json(proc, expect)


def by_hub(report: dict) -> dict[str, dict]:
    return {s["id"].split("/", 1)[1]: s for s in report["steps"]}


def history(local_cluster, release: str) -> list[dict]:
    helm = require_tool("helm")
    out = subprocess.run([str(helm), "history", release, "-n", release, "-o", "json"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "KUBECONFIG": str(local_cluster.kubeconfig)})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def release_labels(api_client, namespace: str, release: str, revision: int) -> dict[str, str]:
    from kubernetes import client

    secret = client.CoreV1Api(api_client).read_namespaced_secret(f"sh.helm.release.v1.{release}.v{revision}", namespace)
    return dict(secret.metadata.labels or {})


def status_rows(repo: Repo) -> dict[str, dict]:
    proc = repo.run("status", repo.cluster, "--no-health", "--output", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {r["hub"]: r for r in as_json(proc, 0)["hubs"]}


def test_deploy_records_digest_commit_and_version_on_the_revision_it_makes(fleet, api_client):
    repo = fleet
    s, p = repo.names["s"], repo.names["p"]
    head = git(repo.root, "rev-parse", "HEAD")
    proc, report = deploy_json(repo)
    assert proc.returncode == 0, proc.stderr
    # the record is on the revision deploy made last (a first install settles into FIRST_REVISION)
    assert by_hub(report)[s]["details"]["revision"] == FIRST_REVISION
    labels = release_labels(api_client, s, s, FIRST_REVISION)
    assert labels["deployer/commit"] == head and labels["deployer/dirty"] == "false"
    assert labels["deployer/revision"] == str(FIRST_REVISION) and labels["deployer/cluster"] == "e2e"
    from deployer import __version__

    assert labels["deployer/version"] == __version__
    # the digest recorded is the one plan-upgrade computes for the same inputs
    (folder := repo.folder / "s.values.yaml").write_text(hub_values(tag=UPGRADE_TAG))
    data = plan(repo)
    job = next(j for j in data["staging_jobs"] if j["hub"] == s)
    folder.write_text(hub_values())
    data = plan(repo)
    assert data["staging_jobs"] == [] and data["prod_jobs"] == [] and sorted(data["unchanged"]) == sorted(
        [f"e2e/{s}", f"e2e/{p}"])
    assert job["digest"][:40] != labels["deployer/inputs"]
    between = subprocess.run([sys.executable, "-m", "deployer", "--root", str(repo.root), "plan-upgrade",
                              "--changed-files", str(folder), "--output", "json"], capture_output=True, text=True,
                             timeout=120)
    assert output_json(between, 0)["staging_jobs"][0]["digest"][:40] == labels["deployer/inputs"]


def test_a_second_deploy_of_an_unchanged_fleet_changes_no_revision_unless_forced(fleet, local_cluster):
    repo = fleet
    s, p = repo.names["s"], repo.names["p"]
    proc, _ = deploy_json(repo)
    assert proc.returncode == 0, proc.stderr
    proc, report = deploy_json(repo)
    assert proc.returncode == 0, proc.stderr
    steps = by_hub(report)
    assert steps[s]["state"] == steps[p]["state"] == "unchanged"
    assert steps[s]["message"].startswith(f"unchanged since revision {FIRST_REVISION} (from commit ")
    assert report["counts"]["unchanged"] == 2 and report["ok"] is True
    assert [r["revision"] for r in history(local_cluster, s)] == list(range(1, FIRST_REVISION + 1))
    assert [r["revision"] for r in history(local_cluster, p)] == list(range(1, FIRST_REVISION + 1))
    text = repo.deploy()
    assert text.returncode == 0, text.stderr
    assert "unchanged" in text.stdout and "ok: 2 unchanged in" in text.stdout
    proc, report = deploy_json(repo, s, "--force")
    assert proc.returncode == 0, proc.stderr
    assert by_hub(report)[s]["state"] == "succeeded" and by_hub(report)[s]["details"]["revision"] == FIRST_REVISION + 1
    assert "deployed anyway (--force)" in by_hub(report)[s]["details"]["ledger"]


def test_a_run_interrupted_after_the_support_stack_plans_the_hubs_next(local_cluster, hub_images, api_client,
                                                                      tmp_path):
    """The CI failure of 2i2c-org/infrastructure#8630: a run stops after the support stack; the
    next plan, made against the cluster, still has the hubs."""
    repo = Repo(tmp_path / "repo", local_cluster.cluster.layout.root,
                {"s": {"stage": "staging", "values": hub_values(image=BAD_IMAGE)}, "p": {"stage": "prod"}},
                support_extra="  helm_chart_values_files: [support.values.yaml]\n")
    (repo.folder / "support.values.yaml").write_text("grafana:\n  adminUser: admin\n")
    git(repo.root, "init", "-q", "-b", "main")
    commit(repo.root, "first")
    s, p = repo.names["s"], repo.names["p"]
    def job(kind: str, hub, stage, chart: str) -> dict:
        return {"id": f"e2e/{hub or 'support'}", "cluster": "e2e", "kind": kind, "hub": hub, "stage": stage,
                "chart": chart, "reasons": ["new"]}

    # a plan file as `plan-upgrade --output json` writes it (its schema is checked)
    full = {"version": 1, "base": "a", "head": "b",
            "support_jobs": [job("support", None, None, "support")],
            "staging_jobs": [job("hub", s, "staging", "basehub")],
            "prod_jobs": [job("hub", p, "prod", "basehub")], "removals": [],
            "counts": {"support": 1, "staging": 1, "prod": 1, "removals": 0}}
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(full))
    run = subprocess.Popen([sys.executable, "-m", "deployer", "--root", str(repo.root), "deploy", "--plan",
                            str(plan_file), "--chart-repo", str(CHART_REPO), "--timeout", "120", "--force"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not _pending(api_client, s):
            assert run.poll() is None, run.communicate()
            time.sleep(0.3)
        assert _pending(api_client, s), "the staging hub should be mid-upgrade (support deployed before it)"
    finally:
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=90)
    assert run.returncode == 130, out + err
    data = plan(repo)
    planned = jobs(data)
    assert "e2e/support" not in planned and "e2e/support" in data["unchanged"]
    # helm, interrupted, marks the revision failed (or is killed first, leaving it pending)
    assert planned[f"e2e/{s}"] in (["last revision 1 is failed"], ["last revision 1 is pending-install"]), planned
    assert planned[f"e2e/{p}"] == ["not installed in the cluster"]
    rows = status_rows(repo)
    assert rows["support"]["kind"] == "support" and rows["support"]["sync"] == "in sync", rows["support"]
    assert rows[p]["sync"] == "not deployed"


def _pending(api_client, namespace: str) -> bool:
    from kubernetes import client

    try:
        items = client.CoreV1Api(api_client).list_namespaced_secret(namespace, label_selector="owner=helm").items
    except client.ApiException:
        return False
    return any((i.metadata.labels or {}).get("status", "").startswith("pending") for i in items)


def test_a_hand_made_helm_upgrade_shows_out_of_date_and_is_planned(fleet, local_cluster):
    repo = fleet
    s = repo.names["s"]
    proc, _ = deploy_json(repo, s)
    assert proc.returncode == 0, proc.stderr
    assert status_rows(repo)[s]["sync"] == "in sync"
    helm = require_tool("helm")
    charts = sorted((p for p in repo.charts_dir.glob("basehub-*/basehub") if (p / "Chart.yaml").is_file()),
                    key=lambda p: p.stat().st_mtime)
    assert charts, "the deploy prepared basehub"
    by_hand = subprocess.run([str(helm), "upgrade", s, str(charts[-1]), "-n", s, "--reuse-values",
                              "--set", "jupyterhub.custom.byHand=yes"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "KUBECONFIG": str(local_cluster.kubeconfig)})
    assert by_hand.returncode == 0, by_hand.stderr
    row = status_rows(repo)[s]
    assert row["sync"] == "out of date"
    first, by_hand = FIRST_REVISION, FIRST_REVISION + 1
    assert row["sync_detail"].startswith(f"revision {by_hand} was not made by deployer (it recorded revision {first})")
    assert jobs(plan(repo))[f"e2e/{s}"] == [
        f"revision {by_hand} was not made by deployer (it recorded revision {first}): a helm upgrade or rollback by hand"]
    proc, report = deploy_json(repo, s)  # and deploy puts the repository's values back
    assert by_hub(report)[s]["state"] == "succeeded" and by_hub(report)[s]["details"]["revision"] == by_hand + 1


def test_kubectl_edit_of_the_hub_deployment_shows_drifted_naming_the_objects(fleet, api_client):
    from kubernetes import client

    repo = fleet
    s, p = repo.names["s"], repo.names["p"]
    proc, _ = deploy_json(repo)
    assert proc.returncode == 0, proc.stderr
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    apps.patch_namespaced_deployment("hub", s, {"spec": {"template": {"spec": {"containers": [
        {"name": "hub", "image": "edited/by-hand:1"}]}}}})
    secret = core.read_namespaced_secret("hub", s)
    key = sorted(secret.data)[0]
    core.patch_namespaced_secret("hub", s, {"data": {key: "ZWRpdGVkLWJ5LWhhbmQtdmFsdWU="}})
    proc = repo.run("status", repo.cluster, "--no-health", "--output", "json")
    rows = {r["hub"]: r for r in as_json(proc, 0)["hubs"]}
    assert rows[p]["sync"] == "in sync" and rows[p]["drifted"] == []
    assert rows[s]["sync"] == "drifted"
    assert sorted(rows[s]["drifted"]) == [f"Deployment {s}/hub (spec.template.spec.containers[0].image)",
                                          f"Secret {s}/hub (data.{key})"]
    assert "edited-by-hand-value" not in proc.stdout and "ZWRpdGVkLWJ5LWhhbmQtdmFsdWU=" not in proc.stdout
    text = repo.run("status", repo.cluster, "--no-health")
    assert f"drifted: Deployment {s}/hub" in text.stdout.replace("\n", " ") or "drifted" in text.stdout
    # drift is not a change of the repository: the plan does not deploy it, `deploy --force` does
    assert f"e2e/{s}" not in jobs(plan(repo))
    proc, report = deploy_json(repo, s, "--force")
    assert proc.returncode == 0, proc.stderr
    assert status_rows(repo)[s]["sync"] == "in sync"


def test_a_failed_release_is_planned_again_and_deployed_by_the_next_deploy(fleet, local_cluster):
    repo = fleet
    s = repo.names["s"]
    proc, _ = deploy_json(repo, s)
    assert proc.returncode == 0, proc.stderr
    (repo.folder / "s.values.yaml").write_text(hub_values(image=BAD_IMAGE))
    proc, report = deploy_json(repo, s, "--no-rollback", timeout="20", expect=1)
    assert proc.returncode == 1 and by_hub(report)[s]["state"] == "failed"
    (repo.folder / "s.values.yaml").write_text(hub_values())  # back to what the first deploy runs
    failed = FIRST_REVISION + 1
    assert jobs(plan(repo))[f"e2e/{s}"] == [f"last revision {failed} is failed"]
    assert status_rows(repo)[s]["sync"] == "out of date"
    proc, report = deploy_json(repo, s)
    assert proc.returncode == 0, proc.stderr
    assert by_hub(report)[s]["state"] == "succeeded" and by_hub(report)[s]["details"]["revision"] == failed + 1
    # a failure rolled back by deploy is planned again too: the rollback is not a deployer revision
    (repo.folder / "s.values.yaml").write_text(hub_values(image=BAD_IMAGE))
    proc, report = deploy_json(repo, s, timeout="20", expect=1)
    assert proc.returncode == 1 and by_hub(report)[s]["details"]["rolled_back_to"] == failed + 1
    assert jobs(plan(repo))[f"e2e/{s}"][0] == (f"revision {failed + 3} was not made by deployer (it recorded revision "
                                               f"{failed + 1}): a helm upgrade or rollback by hand")


def test_the_reason_names_the_inputs_changed_since_the_recorded_commit(fleet):
    repo = fleet
    s, p = repo.names["s"], repo.names["p"]
    proc, _ = deploy_json(repo)
    assert proc.returncode == 0, proc.stderr
    recorded = git(repo.root, "rev-parse", "HEAD")
    (repo.folder / "s.values.yaml").write_text(hub_values(tag=UPGRADE_TAG))
    commit(repo.root, "new tag")
    data = plan(repo)
    assert list(jobs(data)) == [f"e2e/{s}"]
    assert jobs(data)[f"e2e/{s}"] == [
        f"inputs differ from those deployed at revision {FIRST_REVISION} (from commit {recorded[:12]})",
        f"since {recorded[:12]}: changed values #1 config/clusters/e2e/s.values.yaml"]
    assert data["unchanged"] == [f"e2e/{p}"] and data["against"] == "cluster"
    # a recorded commit that is not in the repository (history rewritten): said, and still planned
    shutil.rmtree(repo.root / ".git")
    git(repo.root, "init", "-q", "-b", "main")
    commit(repo.root, "rewritten")
    assert jobs(plan(repo))[f"e2e/{s}"][1] == (
        f"recorded commit {recorded[:12]} is not in this repository: the changed inputs cannot be named")


def test_corrupt_and_newer_records_are_planned_with_a_clear_reason(fleet, api_client):
    from kubernetes import client

    repo = fleet
    s, p = repo.names["s"], repo.names["p"]
    proc, _ = deploy_json(repo)
    assert proc.returncode == 0, proc.stderr
    core = client.CoreV1Api(api_client)
    last = FIRST_REVISION  # the record the plan reads is the newest revision's
    core.patch_namespaced_secret(f"sh.helm.release.v1.{s}.v{last}", s, {"metadata": {"labels": {"deployer/inputs": "zz"}}})
    core.patch_namespaced_secret(f"sh.helm.release.v1.{p}.v{last}", p,
                                 {"metadata": {"labels": {"deployer/record-format": "7", "deployer/version": "9.0.0"}}})
    planned = jobs(plan(repo))
    assert planned[f"e2e/{s}"] == [f"revision {last}: corrupt record: deployer/inputs='zz' is not a digest"]
    assert planned[f"e2e/{p}"] == [f"revision {last}: recorded by deployer 9.0.0 in record format 7, newer than this "
                                   "deployer's (1): it cannot be compared; upgrade deployer"]
    proc, report = deploy_json(repo)  # deploy does not skip them either
    assert {st["state"] for st in report["steps"]} == {"succeeded"}


def test_an_unreachable_cluster_is_planned_and_says_it_was_not_checked(tmp_path):
    repo = Repo(tmp_path / "repo", tmp_path / "no-such-cluster", {"s": {"stage": "staging"}})
    s = repo.names["s"]
    proc = repo.run("plan-upgrade", "--against", "cluster", "--output", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = as_json(proc, 0)
    (unchecked,) = data["unchecked"]
    assert unchecked["id"] == f"e2e/{s}" and unchecked["reason"].startswith("could not check the cluster: ")
    assert jobs(data)[f"e2e/{s}"] == [unchecked["reason"]]
    text = repo.run("plan-upgrade", "--against", "cluster")
    assert "1 NOT CHECKED (planned anyway: e2e could not be read)" in text.stdout
    assert "Traceback" not in text.stderr
