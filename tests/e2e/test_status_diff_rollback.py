"""`deployer status`, `deployer diff` and `deployer rollback` end to end: the local cluster with its
real node running real JupyterHub pods, the real helm (server-side dry runs, `get manifest`,
`rollback --wait`) and real sops + age."""

from __future__ import annotations

import base64

import pytest

from tests.e2e.operate_repo import (CHART_REPO, FIRST_REVISION, GOOD_IMAGE, GOOD_TAG, UPGRADE_TAG, Repo, as_json, delete_namespaces,
                                    hub_values, make_age_key)

pytestmark = pytest.mark.e2e

OLD_PASSWORD = "diff-old-s3cret-1c9e2b"
NEW_PASSWORD = "diff-new-s3cret-7d4f0a"


def secret_values(password: str) -> str:
    return f"jupyterhub:\n  hub:\n    config:\n      DummyAuthenticator:\n        password: {password}\n"


@pytest.fixture(scope="module")
def fleet(local_cluster, hub_images, api_client, tmp_path_factory):
    work = tmp_path_factory.mktemp("operate")
    key, recipient = make_age_key(work)
    mp = pytest.MonkeyPatch()
    mp.setenv("SOPS_AGE_KEY_FILE", str(key))
    repo = Repo(work / "repo", local_cluster.cluster.layout.root, {
        "alpha": {"secret": True}, "beta": {}, "gamma": {}})
    repo.recipient = recipient
    repo.write_secret("alpha", secret_values(OLD_PASSWORD), recipient)
    alpha, gamma = repo.names["alpha"], repo.names["gamma"]
    # once: a first install is settled by deploy itself (the values jupyterhub generates at install)
    proc = repo.deploy(alpha, gamma, "--output", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    repo.first_deploy = {s["id"].split("/")[-1]: s for s in as_json(proc, 0)["steps"]}
    yield repo
    mp.undo()
    delete_namespaces(api_client, repo.names.values())


def diff(repo: Repo, *args: str):
    return repo.run("diff", "e2e", *args, "--chart-repo", str(CHART_REPO))


def test_status_shows_every_hub_with_revision_chart_helm_status_and_health(fleet):
    repo = fleet
    proc = repo.run("status", "e2e", "--output", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["hub"]: r for r in as_json(proc, 0)["hubs"]}
    alpha, beta = rows[repo.names["alpha"]], rows[repo.names["beta"]]
    assert alpha["revision"] == FIRST_REVISION and alpha["chart"] == "basehub" and alpha["chart_version"] == "0.1.0"
    assert alpha["helm_status"] == "deployed" and alpha["last_deployed"][:2] == "20"
    # the real JupyterHub answers behind the hub Service on the real node
    assert alpha["health"] == "healthy", alpha
    assert beta["revision"] is None and beta["helm_status"] == "not deployed" and beta["health"] == "not deployed"

    text = repo.run("status", "e2e")
    assert text.returncode == 0
    for column in ("cluster", "hub", "revision", "chart", "helm status", "last deployed", "health"):
        assert column in text.stdout
    assert "basehub 0.1.0" in text.stdout and "3 hub(s) in 1 cluster(s)" in text.stdout


def test_status_of_an_unknown_cluster_is_a_usage_error(fleet):
    proc = fleet.run("status", "nosuch")
    assert proc.returncode == 2 and "nosuch" in proc.stderr


def test_diff_right_after_a_first_install_is_clean(fleet):
    for short in ("alpha", "gamma"):
        step = fleet.first_deploy[fleet.names[short]]
        # jupyterhub's first rendering checksums tokens it generates twice in one render: deploy
        # applies the rendering the next deploy would make, so nothing is left for a diff
        name = fleet.names[short]
        assert step["details"]["settled"] == [f"Deployment {name}/hub", f"Deployment {name}/proxy"], step["details"]
        proc = diff(fleet, fleet.names[short])
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "no changes" in proc.stdout


def test_diff_of_changed_values_is_a_unified_diff_and_exits_2(fleet):
    repo = fleet
    values = repo.folder / "alpha.values.yaml"
    try:
        values.write_text(hub_values(tag=UPGRADE_TAG))
        proc = diff(repo, repo.names["alpha"])
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert f"--- live: Deployment {repo.names['alpha']}/hub" in proc.stdout
        assert f"-        image: {GOOD_IMAGE}:{GOOD_TAG}" in proc.stdout
        assert f"+        image: {GOOD_IMAGE}:{UPGRADE_TAG}" in proc.stdout
        report = as_json(diff(repo, repo.names["alpha"], "--output", "json"), 2)
        changes = report["hubs"][0]["changes"]
        # the jupyterhub chart keeps its values (the image tag too) in the Secret `hub` (values.yaml)
        assert report["changed"] and [c["object"] for c in changes] == [f"Deployment {repo.names['alpha']}/hub",
                                                                         f"Secret {repo.names['alpha']}/hub"]
    finally:
        values.write_text(hub_values())


def test_diff_shows_a_secret_as_changed_but_never_its_data(fleet):
    repo = fleet
    try:
        repo.write_secret("alpha", secret_values(NEW_PASSWORD), repo.recipient)
        proc = diff(repo, repo.names["alpha"])
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert f"rendered: Secret {repo.names['alpha']}/hub" in proc.stdout
        assert "-  values.yaml: <hidden>" in proc.stdout and "+  values.yaml: <hidden, changed>" in proc.stdout
        assert "values hidden" in proc.stdout
        js = diff(repo, repo.names["alpha"], "--output", "json")
        for text in (proc.stdout + proc.stderr, js.stdout + js.stderr):
            assert NEW_PASSWORD not in text and OLD_PASSWORD not in text
            for p in (NEW_PASSWORD, OLD_PASSWORD):
                assert base64.b64encode(p.encode()).decode()[:12] not in text
        secret = next(c for c in as_json(js, 2)["hubs"][0]["changes"] if c["secret"])
        assert secret["change"] == "changed"
    finally:
        repo.write_secret("alpha", secret_values(OLD_PASSWORD), repo.recipient)


def test_diff_of_a_hub_not_installed_yet_lists_everything_as_added(fleet):
    proc = diff(fleet, fleet.names["beta"], "--output", "json")
    assert proc.returncode == 2
    hub = as_json(proc, 2)["hubs"][0]
    assert not hub["installed"] and hub["changes"] and {c["change"] for c in hub["changes"]} == {"added"}


def test_diff_errors_exit_1(fleet):
    proc = diff(fleet, "nosuch")
    assert proc.returncode == 1 and "nosuch" in proc.stderr


def test_rollback_dry_run_then_default_previous_revision_then_unknown_revision(fleet, api_client):
    from kubernetes import client

    repo = fleet
    gamma = repo.names["gamma"]
    values = repo.folder / "gamma.values.yaml"
    values.write_text(hub_values(tag=UPGRADE_TAG))
    assert repo.deploy(gamma).returncode == 0  # revision 3, with the upgrade tag

    def image() -> str:
        deploy = client.AppsV1Api(api_client).read_namespaced_deployment("hub", gamma)
        return deploy.spec.template.spec.containers[0].image

    assert image() == f"{GOOD_IMAGE}:{UPGRADE_TAG}"
    proc = repo.run("rollback", "e2e", gamma, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "would roll back" in proc.stdout and "from revision 3 to revision 2" in proc.stdout
    assert image() == f"{GOOD_IMAGE}:{UPGRADE_TAG}"  # nothing changed

    proc = repo.run("rollback", "e2e", gamma, "--output", "json", "--timeout", "240")
    assert proc.returncode == 0, proc.stderr
    result = as_json(proc, 0)
    assert (result["from_revision"], result["to_revision"], result["new_revision"]) == (3, 2, 4)
    assert result["status"] == "deployed"
    assert image() == f"{GOOD_IMAGE}:{GOOD_TAG}"

    proc = repo.run("rollback", "e2e", gamma, "--revision", "1", "--timeout", "240")
    assert proc.returncode == 0 and "to revision 1" in proc.stdout and "now revision 5" in proc.stdout

    proc = repo.run("rollback", "e2e", gamma, "--revision", "42")
    assert proc.returncode == 2
    assert "no revision 42" in proc.stderr
    assert "existing revisions: 1 (superseded), 2 (superseded), 3 (superseded), 4 (superseded), 5 (deployed)" in proc.stderr
    values.write_text(hub_values())


def test_rollback_of_a_hub_never_deployed_says_so(fleet):
    proc = fleet.run("rollback", "e2e", fleet.names["beta"])
    assert proc.returncode == 1 and "no helm release" in proc.stderr and "Traceback" not in proc.stderr
