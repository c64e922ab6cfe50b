"""`deployer health` and `deploy --health-check` end to end on the real local node: real JupyterHub
pods (the hub image built here, the real jupyterhub 4.3.3 chart under basehub), reached through the
API server's real service proxy, the real helm."""

from __future__ import annotations

import base64

import pytest

from tests.e2e.operate_repo import BAD_IMAGE, FIRST_REVISION, GOOD_TAG, Repo, as_json, delete_namespaces, hub_values

pytestmark = pytest.mark.e2e

JUPYTERHUB_VERSION = "5.4.4"  # what the hub image built here runs (deployer/local/images/recipes.py)
HEALTH_TOKEN_KEY = "hub.services.deployer-health.apiToken"


@pytest.fixture(scope="module")
def fleet(local_cluster, hub_images, api_client, tmp_path_factory):
    """Hub `good` (a real JupyterHub, answering) and hub `broken` (a hub image that is not on the node:
    its pod waits in ErrImageNeverPull; the failed release kept with --no-rollback)."""
    work = tmp_path_factory.mktemp("health")
    repo = Repo(work / "repo", local_cluster.cluster.layout.root, {
        "good": {"values": hub_values()},
        "broken": {"values": hub_values(image=BAD_IMAGE)},
    })
    good, broken = repo.names["good"], repo.names["broken"]
    proc = repo.deploy(good)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = repo.deploy(broken, "--no-rollback", timeout="20")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    yield repo, good, broken
    delete_namespaces(api_client, [good, broken])


@pytest.fixture
def core(api_client):
    from kubernetes import client

    return client.CoreV1Api(api_client)


def hub(report: dict, name: str) -> dict:
    return next(h for h in report["hubs"] if h["hub"] == name)


def checks(h: dict) -> dict[str, dict]:
    return {c["name"]: c for c in h["checks"]}


def health_token(core, namespace: str) -> str:
    return base64.b64decode(core.read_namespaced_secret("hub", namespace).data[HEALTH_TOKEN_KEY]).decode()


def patch_secret(core, namespace: str, data: dict) -> None:
    """Change the hub's Secret behind helm's back (the running hub keeps the configuration it started with)."""
    core.patch_namespaced_secret("hub", namespace, {"data": {
        k: (None if v is None else base64.b64encode(v.encode()).decode()) for k, v in data.items()}})


def test_a_working_hub_is_healthy_through_the_api_servers_service_proxy(fleet, core):
    repo, good, broken = fleet
    proc = repo.run("health", "e2e", good, "--output", "json", "--retries", "2", "--interval", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    h = hub(as_json(proc, 0), good)
    assert h["healthy"] and h["attempts"] == 1
    c = checks(h)
    assert c["pods"]["ok"] and c["pods"]["message"] == "2/2 pods ready"  # hub and proxy
    assert c["health"]["ok"] and c["health"]["message"] == "hub:8081/hub/health answered 200"
    # JupyterHub itself answered: the version its API reports is the one in the image built here
    assert c["api"]["ok"] and h["version"] == JUPYTERHUB_VERSION
    assert c["services"]["ok"] and "deployer-health" in c["services"]["message"]
    assert health_token(core, good) not in proc.stdout + proc.stderr


def test_an_image_not_on_the_node_is_named_as_the_reason_not_a_timeout(fleet):
    """The real node never pulls (pull policy Never): the kubelet's reason is ErrImageNeverPull (the
    simulated node said ImagePullBackOff/ErrImagePull for a registry it could not reach)."""
    repo, good, broken = fleet
    proc = repo.run("health", "e2e", broken, "--output", "json", "--retries", "1", "--interval", "0.5")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    h = hub(as_json(proc, 1), broken)
    assert not h["healthy"] and h["attempts"] == 2  # bounded: the first try and one retry
    pulls = [r for r in h["reasons"] if r["code"] == "image-pull"]
    assert pulls and pulls[0]["message"].startswith(
        f"container hub: image {BAD_IMAGE}:{GOOD_TAG} is not on the node and its pull policy is Never, "
        "so it is never pulled (ErrImageNeverPull)"), pulls
    assert pulls[0]["subject"].startswith("pod/hub-")
    assert any(r["code"] == "event" and "ErrImageNeverPull" in r["message"] for r in h["reasons"]), h["reasons"]
    assert not checks(h)["pods"]["ok"] and checks(h)["health"]["ok"] is False
    assert "no ready endpoints" in checks(h)["health"]["message"]

    text = repo.run("health", "e2e", broken, "--retries", "0")
    assert text.returncode == 1
    assert "UNHEALTHY" in text.stdout and "is not on the node" in text.stdout and BAD_IMAGE in text.stdout


def test_a_service_the_hub_does_not_list_fails_the_check(fleet, core):
    """The Secret names a service (its token key) that the running hub was never configured with."""
    repo, good, broken = fleet
    try:
        patch_secret(core, good, {"hub.services.ghost-e2e.apiToken": "a-token-for-a-service-the-hub-lacks"})
        proc = repo.run("health", "e2e", good, "--output", "json", "--retries", "0")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        c = checks(hub(as_json(proc, 1), good))
        assert c["services"]["ok"] is False
        assert "does not list service(s) ghost-e2e" in c["services"]["message"]
        assert "deployer-health" in c["services"]["message"]  # what the real hub does list
    finally:
        patch_secret(core, good, {"hub.services.ghost-e2e.apiToken": None})


def test_a_wrong_token_is_refused_and_never_shown(fleet, core):
    repo, good, broken = fleet
    real = health_token(core, good)
    wrong = "a-token-the-hub-does-not-know-1f9e"
    try:
        patch_secret(core, good, {HEALTH_TOKEN_KEY: wrong})
        proc = repo.run("health", "e2e", good, "--output", "json", "--retries", "0")
        assert proc.returncode == 1
        c = checks(hub(as_json(proc, 1), good))
        assert c["services"]["ok"] is False and "403" in c["services"]["message"], c["services"]
        assert wrong not in proc.stdout + proc.stderr and real not in proc.stdout + proc.stderr
    finally:
        patch_secret(core, good, {HEALTH_TOKEN_KEY: real})
    again = repo.run("health", "e2e", good, "--output", "json", "--retries", "0")
    assert again.returncode == 0, again.stdout + again.stderr


def test_every_hub_by_default_and_exit_1_when_any_is_unhealthy(fleet):
    repo, good, broken = fleet
    proc = repo.run("health", "e2e", "--output", "json", "--retries", "0")
    assert proc.returncode == 1
    report = as_json(proc, 1)
    assert not report["ok"]
    assert {h["hub"]: h["healthy"] for h in report["hubs"]} == {good: True, broken: False}


def test_an_unknown_hub_is_a_usage_error_naming_the_known_ones(fleet):
    repo, good, broken = fleet
    proc = repo.run("health", "e2e", "nosuch")
    assert proc.returncode == 2
    assert "nosuch" in proc.stderr and good in proc.stderr and "Traceback" not in proc.stderr


def _expect_status(repo: Repo, name: str, status: int) -> None:
    """cluster.yaml: hub `name`'s health endpoint is expected to answer `status` (a real answer of 200
    then fails the check: the hub is unhealthy while its pods are Ready)."""
    path = repo.folder / "cluster.yaml"
    text = path.read_text()
    block = f"- name: {name}\n"
    text = text.replace(block, f"{block}  uptime_check:\n    expected_status: {status}\n")
    path.write_text(text)


@pytest.fixture
def canary(local_cluster, hub_images, api_client, tmp_path):
    repo = Repo(tmp_path / "repo", local_cluster.cluster.layout.root, {
        "staging": {"stage": "staging"}, "prod": {"stage": "prod"}})
    yield repo
    delete_namespaces(api_client, repo.names.values())


def test_deploy_health_check_fails_an_unhealthy_hub_and_the_canary_gate_holds_prod(canary):
    repo = canary
    staging, prod = repo.names["staging"], repo.names["prod"]
    _expect_status(repo, prod, 418)  # prod's real JupyterHub answers 200: unhealthy by its own check
    first = repo.deploy()
    assert first.returncode == 0, first.stdout + first.stderr
    proc = repo.deploy("--health-check", "--force", "--output", "json")
    steps = {s["id"].split("/", 1)[1]: s for s in as_json(proc, 1)["steps"]}
    assert proc.returncode == 1
    assert steps[staging]["state"] == "succeeded", steps[staging]["message"]
    assert steps[staging]["details"]["health"]["healthy"]
    assert steps[staging]["message"].endswith("; healthy")
    assert steps[prod]["state"] == "failed"
    assert "the hub is unhealthy" in steps[prod]["message"]
    assert "hub:8081/hub/health answered 200, expected 418" in steps[prod]["message"], steps[prod]["message"]
    assert steps[prod]["details"]["revision"] == FIRST_REVISION + 1  # deployed, and kept: health does not roll back

    # now staging fails its check too: it fails, and prod is not even deployed
    _expect_status(repo, staging, 418)
    proc = repo.deploy("--health-check", "--force", "--output", "json")
    steps = {s["id"].split("/", 1)[1]: s for s in as_json(proc, 1)["steps"]}
    assert proc.returncode == 1
    assert steps[staging]["state"] == "failed" and "unhealthy" in steps[staging]["message"]
    assert steps[prod]["state"] == "skipped" and staging in steps[prod]["message"]
