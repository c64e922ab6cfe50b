"""On the real local node, with the support stack's real monitoring (Prometheus with Kubernetes service
discovery, kube-state-metrics, Alertmanager, built here) and a real basehub hub deployed by `deployer`:

- `deployer usage` counts a user the test creates and makes active (its server started), from the hub's own
  /hub/metrics (the hub recounts active users every 5 s here: a value the test sets; JupyterHub's default
  is hourly);
- a hub broken for real (its Deployment's image set to one the node does not have: ErrImageNeverPull, the
  old pod gone with the Recreate strategy) makes `JupyterHubHubDown` fire, with the reason, in Prometheus,
  in Alertmanager, in `deployer health` and in `deployer status`; fixed, the alert resolves. The time from
  the hub's pods failing to the alert firing is printed (`ALERT-LATENCY {json}`, read by
  benchmarks/alert_latency.py): it includes the rule's `for:`, 15 s here, set through the support values
  as a cluster would (the chart's default is 5m).

One module-scoped deployment serves both tests; the session's local cluster is shared with the other e2e
tests (the support release is the cluster's one `support`).
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest

from tests.e2e.operate_repo import BAD_IMAGE, CHART_REPO, Repo, as_json, delete_namespaces, hub_values

FOR = "15s"  # the test's `for:` of JupyterHubHubDown (production default: 5m)
USAGE_INTERVAL = 5  # seconds between JupyterHub's counts of active users (default: 3600)


@pytest.fixture(scope="module")
def monitored(local_cluster, hub_images, api_client, tmp_path_factory):
    """The support stack (alert `for:` shortened by its values) and one hub, deployed by deployer."""
    values = hub_values() + ("    config:\n      PeriodicMetricsCollector:\n"
                             f"        active_users_update_interval: {USAGE_INTERVAL}\n")
    repo = Repo(tmp_path_factory.mktemp("alerts") / "repo", local_cluster.cluster.layout.root,
                {"watched": {"stage": "staging", "values": values}},
                support_extra="  helm_chart_values_files: [support.values.yaml]\n")
    (repo.folder / "support.values.yaml").write_text(
        f"alertRules:\n  for:\n    JupyterHubHubDown: {FOR}\n"
        # a receiver and a route (a webhook on a closed local port: Alertmanager loads it; sending fails, harmlessly)
        "alertRouting:\n  receivers:\n    oncall: {webhookUrl: 'http://127.0.0.1:9/alerts'}\n"
        "  routes:\n    - {receiver: oncall, matchers: ['severity=\"critical\"']}\n")
    started = time.monotonic()
    proc = repo.run("deploy-support", "e2e", "--chart-repo", str(CHART_REPO), "--timeout", "300", timeout=420)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    support_seconds = time.monotonic() - started
    proc = repo.deploy()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"\nsupport stack {support_seconds:.0f}s, hub {time.monotonic() - started - support_seconds:.0f}s")
    try:
        yield repo, repo.names["watched"]
    finally:
        delete_namespaces(api_client, [repo.names["watched"]])


@pytest.fixture
def kube(local_cluster):
    from deployer.adapters.kube import Kube

    with Kube(local_cluster.kubeconfig, timeout=15) as k:
        yield k


def prometheus_query(kube, query: str) -> list:
    resp = kube.service_get("support", "support-prometheus-server", 80, "/api/v1/query", {"query": query})
    assert resp.ok, resp.text()
    return resp.json()["data"]["result"]


def wait_for(what: str, check, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g}s"
        time.sleep(interval)


def hub_alerts(kube, hub: str) -> list:
    from deployer.run.alerts import read_alerts

    found = read_alerts(kube, 10)
    assert found.error is None, found.error
    return [a for a in found.for_hub(hub) if a.name == "JupyterHubHubDown"]


# --- usage ----------------------------------------------------------------------------------------


def test_usage_counts_a_user_created_and_active_with_a_running_server(monitored, kube, local_cluster, tmp_path):
    from deployer.adapters.jupyterhub import Http
    from deployer.adapters.port_forward import port_forward
    from deployer.adapters.process import ProcessRunner
    from deployer.plan.user_test_service import HUB_SECRET, PROXY_SERVICE, SERVICE_TOKEN_KEY
    from deployer.toolchain import find_tool

    repo, hub = monitored
    before = as_json(repo.run("usage", "e2e", hub, "--output", "json"), 0)["hubs"][0]
    assert before["ok"] and before["running_servers"] == 0, before
    service_token = kube.secret_value(hub, HUB_SECRET, SERVICE_TOKEN_KEY)
    user = "usage-e2e"
    with port_forward(ProcessRunner(), find_tool("kubectl"), local_cluster.kubeconfig, None, hub, PROXY_SERVICE,
                      tmp_path / "pf.log", 30) as base:
        http = Http(base, 20)
        wait_for("the proxy reaches the hub", lambda: http.call("GET", "/hub/api/", service_token).status == 200, 30)
        assert http.call("POST", f"/hub/api/users/{user}", service_token).status == 201
        try:
            answer = http.call("POST", f"/hub/api/users/{user}/tokens", service_token,
                               {"scopes": [f"servers!user={user}"], "expires_in": 600})
            token = answer.json()["token"]
            assert http.call("POST", f"/hub/api/users/{quote(user)}/server", token, {}).status in (201, 202)
            wait_for("the user's server is ready", lambda: (http.call("GET", f"/hub/api/users/{user}", token).json()
                                                            .get("servers", {}).get("", {}).get("ready")), 180)
            usage = wait_for("usage counts the user", lambda: (
                lambda h: h if h["active_users"]["24h"] and h["running_servers"] == 1 else None)(
                as_json(repo.run("usage", "e2e", hub, "--output", "json"), 0)["hubs"][0]), 60, interval=2)
            assert usage["active_users"]["24h"] == usage["active_users"]["7d"] == usage["active_users"]["30d"] == 1
            assert usage["total_users"] >= 1 and usage["error"] is None
            text = repo.run("usage", "e2e", hub)
            assert text.returncode == 0, text.stderr
            assert "1 hub(s) read: 1 active user(s) in 30 days, 1 server(s) running" in text.stdout
        finally:
            http.call("DELETE", f"/hub/api/users/{user}/server", service_token)
            wait_for("the server is stopped", lambda: http.call("DELETE", f"/hub/api/users/{user}",
                                                                service_token).status in (204, 404), 60, 2)


# --- an alert, fired by a broken hub, then resolved -------------------------------------------------


def test_a_broken_hub_fires_its_alert_everywhere_then_it_resolves(monitored, kube, api_client):
    from kubernetes import client

    repo, hub = monitored
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    query = f'kube_deployment_status_replicas_available{{namespace="{hub}", deployment="hub"}}'
    wait_for("Prometheus sees the hub available", lambda: [r for r in prometheus_query(kube, query)
                                                           if r["value"][1] == "1"], 180, 2)
    # a clean start: the hub Ready, and no alert about it left from its first start (deploy restarts the hub
    # once when it settles the tokens the chart generated)
    wait_for("no JupyterHubHubDown before the break", lambda: not hub_alerts(kube, hub), 180, 2)
    good = apps.read_namespaced_deployment("hub", hub).spec.template.spec.containers[0].image

    def set_image(image: str) -> None:
        apps.patch_namespaced_deployment("hub", hub, {"spec": {"template": {"spec": {"containers": [
            {"name": "hub", "image": image}]}}}})

    def hub_pods_ready() -> bool:
        return any(c.type == "Ready" and c.status == "True" for p in core.list_namespaced_pod(
            hub, label_selector="component=hub").items if p.metadata.deletion_timestamp is None
            for c in p.status.conditions or [])

    broken_at, broken_wall = time.monotonic(), time.time()
    set_image(f"{BAD_IMAGE}:1")
    wait_for("the hub's pods fail", lambda: not hub_pods_ready(), 120, 0.25)
    failed_at = time.monotonic()
    pending = wait_for("the alert is pending", lambda: hub_alerts(kube, hub), 180, 1)
    pending_at = time.monotonic()
    firing = wait_for("the alert fires", lambda: [a for a in hub_alerts(kube, hub) if a.state == "firing"], 180, 1)
    fired_at = time.monotonic()
    alert = firing[0]
    assert alert.severity == "critical" and alert.summary == f"e2e/{hub}: the hub is down (no hub pod available)"
    labels = dict(alert.labels)
    assert labels["cluster"] == "e2e" and labels["namespace"] == hub
    description = json.dumps([a for a in kube.service_get("support", "support-prometheus-server", 80,
                                                          "/api/v1/alerts").json()["data"]["alerts"]
                              if a["labels"].get("hub") == hub][0]["annotations"]["description"])
    assert "waits (ErrImageNeverPull)" in description, description
    # Prometheus handed it to Alertmanager
    am = wait_for("Alertmanager holds the alert", lambda: [
        a for a in kube.service_get("support", "support-alertmanager", 9093, "/api/v2/alerts").json()
        if a["labels"].get("alertname") == "JupyterHubHubDown" and a["labels"].get("hub") == hub], 60, 1)
    assert am[0]["labels"]["cluster"] == "e2e" and am[0]["status"]["state"] == "active"
    assert am[0]["receivers"] == [{"name": "oncall"}]  # routed by the cluster's alertRouting
    # deployer health and status show it
    health = as_json(repo.run("health", "e2e", hub, "--retries", "0", "--output", "json"), 1)
    # the hub's own alert; beside it, the scrape of the hub's /hub/metrics fails too (namespace = hub)
    shown = [(a["name"], a["state"]) for a in health["hubs"][0]["alerts"]]
    assert ("JupyterHubHubDown", "firing") in shown and {n for n, _ in shown} <= {"JupyterHubHubDown",
                                                                                   "PrometheusScrapeTargetDown"}
    text = repo.run("health", "e2e", hub, "--retries", "0")
    assert (f"    alert: FIRING JupyterHubHubDown (critical): e2e/{hub}: the hub is down (no hub pod available)"
            in text.stdout), text.stdout
    rows = {r["hub"]: r for r in as_json(repo.run("status", "e2e", "--no-sync", "--output", "json"), 0)["hubs"]}
    assert [a["name"] for a in rows[hub]["alerts"] if a["state"] == "firing"] == ["JupyterHubHubDown"]
    # fixed: the hub comes back and the alert resolves
    set_image(good)
    wait_for("the hub is ready again", hub_pods_ready, 180, 1)
    fixed_at = time.monotonic()
    wait_for("the alert resolves", lambda: not hub_alerts(kube, hub), 180, 1)
    resolved_at = time.monotonic()
    import datetime as dt

    active_at = dt.datetime.fromisoformat(alert.since.replace("Z", "+00:00")).timestamp()
    figures = {"for": FOR, "failed_after_break_s": round(failed_at - broken_at, 1),
               "prometheus_active_after_break_s": round(active_at - broken_wall, 1),
               "pending_after_failure_s": round(pending_at - failed_at, 1),
               "firing_after_failure_s": round(fired_at - failed_at, 1),
               "resolved_after_fix_s": round(resolved_at - fixed_at, 1)}
    print(f"\nALERT-LATENCY {json.dumps(figures)}")
    assert fired_at - failed_at >= 15  # the rule's `for:` is part of it
    assert pending  # seen pending before firing
