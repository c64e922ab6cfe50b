"""Grafana dashboards and annotations through our Grafana adapter, against a real HTTP server of ours
that implements the documented Grafana API endpoints deployer uses (tests/grafana_standin.py):
a real Grafana cannot be installed on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployer.adapters.grafana import Grafana, GrafanaError
from deployer.config.models import Cluster
from deployer.run.grafana import FOLDER_UID, deploy_dashboards, grafana_url, load_dashboards
from tests.grafana_standin import GrafanaStandin

TOKEN = "glsa_test-token-5b0e7c3d9a"


@pytest.fixture
def grafana():
    with GrafanaStandin(TOKEN) as server:
        yield server


def test_dashboards_are_ours_pinned_with_unique_deterministic_uids():
    dashboards = load_dashboards()
    uids = [d["uid"] for d in dashboards]
    assert len(dashboards) >= 3 and len(set(uids)) == len(uids)
    assert all(uid.startswith("deployer-jupyterhub-") and len(uid) <= 40 for uid in uids)
    again = load_dashboards()
    assert [d["uid"] for d in again] == uids  # same files, same UIDs, every time
    text = json.dumps(dashboards)
    # grouped by the kube-state-metrics labels the support chart exports
    assert "label_hub_jupyter_org_username" in text and "label_component" in text
    assert all(d.get("panels") for d in dashboards)


def test_deploy_dashboards_creates_the_folder_and_overwrites_on_rerun(grafana):
    client = Grafana(grafana.url, TOKEN)
    first = deploy_dashboards(client, "c1")
    assert FOLDER_UID in grafana.state.folders
    assert sorted(grafana.state.dashboards) == sorted(d.uid for d in first.dashboards) == first.in_folder
    assert {d.version for d in first.dashboards} == {1}
    assert all(d.url.startswith(grafana.url + "/d/") for d in first.dashboards)
    second = deploy_dashboards(client, "c1")
    assert {d.version for d in second.dashboards} == {2}  # overwritten in place, not duplicated
    assert len(grafana.state.dashboards) == len(first.dashboards)
    assert len(grafana.state.folders) == 1
    assert all(d["folderUid"] == FOLDER_UID for d in grafana.state.dashboards.values())


def test_a_folder_renamed_in_grafana_is_renamed_back(grafana):
    client = Grafana(grafana.url, TOKEN)
    deploy_dashboards(client, "c1")
    grafana.state.folders[FOLDER_UID]["title"] = "someone renamed it"
    deploy_dashboards(client, "c1")
    assert grafana.state.folders[FOLDER_UID]["title"] == "JupyterHub (deployer)"


def test_annotation_is_posted_with_tags(grafana):
    Grafana(grafana.url, TOKEN).annotate("deployer: c1/staging revision 3", ["deployer", "deploy", "c1", "staging"],
                                         1_700_000_000_000)
    (a,) = grafana.state.annotations
    assert a["tags"] == ["deployer", "deploy", "c1", "staging"] and a["time"] == 1_700_000_000_000
    assert "revision 3" in a["text"]


def test_a_refused_token_is_a_clear_error_without_the_token(grafana):
    client = Grafana(grafana.url, "glsa_wrong-token-000000")
    with pytest.raises(GrafanaError) as err:
        deploy_dashboards(client, "c1")
    assert err.value.status == 401 and "refused" in err.value.message and "renew" in (err.value.hint or "")
    assert "glsa_wrong-token-000000" not in err.value.message + (err.value.hint or "")


def test_an_unreachable_grafana_is_a_clear_error():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(GrafanaError) as err:
        Grafana(f"http://127.0.0.1:{port}", TOKEN, timeout=3).ensure_folder("x", "y")
    assert "cannot connect" in err.value.message or "no answer" in err.value.message


def test_not_an_http_url_is_refused():
    with pytest.raises(GrafanaError):
        Grafana("grafana.example.org", TOKEN)


def _cluster(support: dict) -> Cluster:
    return Cluster.model_validate({"name": "c1", "provider": "local", "support": support, "hubs": []})


def test_grafana_url_explicit_then_root_url_then_ingress_host(tmp_path: Path):
    assert grafana_url(_cluster({"grafana_url": "https://g.example.org/"}), tmp_path) == "https://g.example.org"
    (tmp_path / "support.values.yaml").write_text(
        "grafana:\n  ingress:\n    hosts: [grafana.c1.example.org]\n")
    assert grafana_url(_cluster({"helm_chart_values_files": ["support.values.yaml"]}), tmp_path) == \
        "https://grafana.c1.example.org"
    (tmp_path / "more.values.yaml").write_text(
        "grafana:\n  grafana.ini:\n    server:\n      root_url: https://grafana.other.org/\n")
    assert grafana_url(_cluster({"helm_chart_values_files": ["support.values.yaml", "more.values.yaml"]}),
                       tmp_path) == "https://grafana.other.org"
    # a secret values file is never decrypted just to find a URL
    assert grafana_url(_cluster({"helm_chart_values_files": ["enc-support.secret.values.yaml"]}), tmp_path) is None
