"""`deployer grafana deploy-dashboards` and deploy annotations end to end: the token decrypted by
the real sops + age from enc-grafana-token.secret.yaml, the real helm and the local cluster (a real node running the hub) for
the deploy, and for Grafana a real HTTP server of ours implementing its documented API (a real Grafana
cannot run here)."""

from __future__ import annotations

import pytest

from tests.e2e.operate_repo import FIRST_REVISION, Repo, as_json, delete_namespaces, encrypt, make_age_key
from tests.grafana_standin import GrafanaStandin

pytestmark = pytest.mark.e2e

TOKEN = "glsa_e2e-grafana-token-9f2c71"


@pytest.fixture
def setup(local_cluster, hub_images, api_client, tmp_path, monkeypatch):
    key, recipient = make_age_key(tmp_path)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    with GrafanaStandin(TOKEN) as grafana:
        repo = Repo(tmp_path / "repo", local_cluster.cluster.layout.root, {"staging": {}},
                    support_extra=f"  grafana_url: {grafana.url}\n")
        token_file = repo.folder / "enc-grafana-token.secret.yaml"
        token_file.write_text(f"grafana_token: {TOKEN}\n")
        encrypt(token_file, recipient)
        yield repo, grafana
    delete_namespaces(api_client, repo.names.values())


def test_deploy_dashboards_with_the_sops_token_from_the_cluster_folder(setup):
    repo, grafana = setup
    assert repo.run("validate", "e2e").returncode == 0  # the token file and grafana_url are valid config
    proc = repo.run("grafana", "deploy-dashboards", "e2e", "--output", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = as_json(proc, 0)
    assert result["folder_uid"] == "deployer-jupyterhub"
    assert sorted(d["uid"] for d in result["dashboards"]) == result["in_folder"] == sorted(grafana.state.dashboards)
    assert TOKEN not in proc.stdout + proc.stderr
    again = repo.run("grafana", "deploy-dashboards", "e2e")
    assert again.returncode == 0 and "(version 2)" in again.stdout


def test_each_deploy_posts_an_annotation(setup):
    repo, grafana = setup
    hub = repo.names["staging"]
    proc = repo.deploy("--output", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    step = as_json(proc, 0)["steps"][0]
    assert step["details"]["grafana_annotation"] == "posted"
    (a,) = grafana.state.annotations
    assert a["tags"] == ["deployer", "deploy", "e2e", hub]
    assert f"e2e/{hub} revision {FIRST_REVISION}" in a["text"] and "basehub 0.1.0" in a["text"]


def test_an_annotation_failure_is_reported_but_does_not_fail_the_deploy(setup):
    repo, grafana = setup
    grafana.state.token = "rotated-token-the-repo-does-not-have"
    proc = repo.deploy("--output", "json")
    assert proc.returncode == 0
    assert as_json(proc, 0)["steps"][0]["details"]["grafana_annotation"].startswith("failed:")
    assert TOKEN not in proc.stdout + proc.stderr


def test_without_a_token_file_deploy_dashboards_says_what_to_do(setup):
    repo, grafana = setup
    (repo.folder / "enc-grafana-token.secret.yaml").unlink()
    proc = repo.run("grafana", "deploy-dashboards", "e2e")
    assert proc.returncode == 1 and "no Grafana token" in proc.stderr and "grafana_token" in proc.stderr
