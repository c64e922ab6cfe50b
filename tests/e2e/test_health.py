"""`deployer health` and `deploy --health-check` end to end: the local cluster (real API server,
controller-manager, simulated node), the real helm, the API server's real service proxy, and a
real HTTP server of ours standing in for the hub process in a network namespace (see standin.py)."""

from __future__ import annotations

import pytest

from tests.e2e.operate_repo import BAD_IMAGE, Repo, as_json, hub_values
from tests.e2e.standin import NetnsHost, StandinHub, require_netns

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fleet(local_cluster, api_client, tmp_path_factory):
    """Hub `good` (pods Ready, our stand-in answering behind its Service) and hub `broken`
    (image the simulated node cannot pull; the failed release kept with --no-rollback)."""
    require_netns()
    work = tmp_path_factory.mktemp("health")
    repo = Repo(work / "repo", local_cluster.cluster.layout.root, {
        "good": {"values": hub_values()},
        "broken": {"values": hub_values(image=BAD_IMAGE)},
    })
    good, broken = repo.names["good"], repo.names["broken"]
    proc = repo.deploy(good)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = repo.deploy(broken, "--no-rollback", timeout="5")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    with NetnsHost() as host:
        standin = StandinHub(host, api_client, good, work)
        standin.start(["deployer-health"])
        standin.put_behind_service()
        yield repo, good, broken, standin


def hub(report: dict, name: str) -> dict:
    return next(h for h in report["hubs"] if h["hub"] == name)


def checks(h: dict) -> dict[str, dict]:
    return {c["name"]: c for c in h["checks"]}


def test_a_working_hub_is_healthy_through_the_api_servers_service_proxy(fleet):
    repo, good, broken, standin = fleet
    before = len(standin.requests())
    proc = repo.run("health", "e2e", good, "--output", "json", "--retries", "2", "--interval", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    h = hub(as_json(proc), good)
    assert h["healthy"] and h["attempts"] == 1
    c = checks(h)
    assert c["pods"]["ok"] and c["pods"]["message"] == "2/2 pods ready"  # hub and proxy
    assert c["health"]["ok"] and "hub:8081/hub/health answered 200" in c["health"]["message"]
    assert c["api"]["ok"] and h["version"] == "5.2.1"
    assert c["services"]["ok"] and "deployer-health" in c["services"]["message"]
    # the requests really reached our server, through the API server
    seen = standin.requests()[before:]
    assert [r["path"] for r in seen] == ["/hub/health", "/hub/api/", "/hub/api/services"]
    assert seen[-1]["token_given"] and not seen[0]["token_given"]
    assert standin.token() not in proc.stdout + proc.stderr


def test_an_unpullable_image_is_named_as_the_reason_not_a_timeout(fleet):
    repo, good, broken, standin = fleet
    proc = repo.run("health", "e2e", broken, "--output", "json", "--retries", "1", "--interval", "0.5")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    h = hub(as_json(proc), broken)
    assert not h["healthy"] and h["attempts"] == 2  # bounded: the first try and one retry
    pulls = [r for r in h["reasons"] if r["code"] == "image-pull"]
    assert pulls and BAD_IMAGE in pulls[0]["message"] and "ImagePullBackOff" in pulls[0]["message"] + "ErrImagePull"
    assert pulls[0]["subject"].startswith("pod/hub-")
    assert any(r["code"] == "event" and "Failed to pull image" in r["message"] or "Back-off" in r["message"]
               for r in h["reasons"])
    assert not checks(h)["pods"]["ok"] and checks(h)["health"]["ok"] is False
    assert "no ready endpoints" in checks(h)["health"]["message"]

    text = repo.run("health", "e2e", broken, "--retries", "0")
    assert text.returncode == 1
    assert "UNHEALTHY" in text.stdout and "cannot be pulled" in text.stdout and BAD_IMAGE in text.stdout


def test_a_service_the_hub_does_not_list_fails_the_check(fleet):
    repo, good, broken, standin = fleet
    try:
        standin.start(["some-other-service"])
        proc = repo.run("health", "e2e", good, "--output", "json", "--retries", "0")
        assert proc.returncode == 1
        c = checks(hub(as_json(proc), good))
        assert c["services"]["ok"] is False
        assert "does not list service(s) deployer-health" in c["services"]["message"]
        assert "some-other-service" in c["services"]["message"]
    finally:
        standin.start(["deployer-health"])


def test_a_wrong_token_is_refused_and_never_shown(fleet):
    repo, good, broken, standin = fleet
    try:
        standin.start(["deployer-health"], token="a-token-the-hub-does-not-know")
        proc = repo.run("health", "e2e", good, "--output", "json", "--retries", "0")
        assert proc.returncode == 1
        c = checks(hub(as_json(proc), good))
        assert c["services"]["ok"] is False and "403" in c["services"]["message"]
        assert standin.token() not in proc.stdout + proc.stderr
    finally:
        standin.start(["deployer-health"])


def test_every_hub_by_default_and_exit_1_when_any_is_unhealthy(fleet):
    repo, good, broken, standin = fleet
    proc = repo.run("health", "e2e", "--output", "json", "--retries", "0")
    assert proc.returncode == 1
    report = as_json(proc)
    assert not report["ok"]
    assert {h["hub"]: h["healthy"] for h in report["hubs"]} == {good: True, broken: False}


def test_an_unknown_hub_is_a_usage_error_naming_the_known_ones(fleet):
    repo, good, broken, standin = fleet
    proc = repo.run("health", "e2e", "nosuch")
    assert proc.returncode == 2
    assert "nosuch" in proc.stderr and good in proc.stderr and "Traceback" not in proc.stderr


def test_deploy_health_check_fails_an_unhealthy_hub_and_the_canary_gate_holds_prod(local_cluster, api_client, tmp_path):
    require_netns()
    repo = Repo(tmp_path / "repo", local_cluster.cluster.layout.root, {
        "staging": {"stage": "staging"}, "prod": {"stage": "prod"}})
    staging, prod = repo.names["staging"], repo.names["prod"]
    assert repo.deploy().returncode == 0
    with NetnsHost() as host:
        standin = StandinHub(host, api_client, staging, tmp_path)
        standin.start(["deployer-health"])
        standin.put_behind_service()
        with standin.following_rollouts():
            # staging answers (the stand-in), prod has nothing behind its Service
            proc = repo.deploy("--health-check", "--force", "--output", "json")
            steps = {s["id"].split("/", 1)[1]: s for s in as_json(proc)["steps"]}
            assert proc.returncode == 1
            assert steps[staging]["state"] == "succeeded", steps[staging]["message"]
            assert steps[staging]["details"]["health"]["healthy"]
            assert steps[staging]["message"].endswith("; healthy")
            assert steps[prod]["state"] == "failed"
            assert "the hub is unhealthy" in steps[prod]["message"]
            assert "no ready endpoints" in steps[prod]["message"]
            assert steps[prod]["details"]["revision"] == 2  # deployed, and kept: health does not roll back

            # now staging stops answering: it fails, and prod is not even deployed
            standin.stop()
            proc = repo.deploy("--health-check", "--force", "--output", "json")
            steps = {s["id"].split("/", 1)[1]: s for s in as_json(proc)["steps"]}
            assert proc.returncode == 1
            assert steps[staging]["state"] == "failed" and "unhealthy" in steps[staging]["message"]
            assert steps[prod]["state"] == "skipped" and staging in steps[prod]["message"]
