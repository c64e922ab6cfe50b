"""Every PromQL expression of every dashboard (deployer/dashboards/*.json), run against the live Prometheus
of the local fleet: the support stack deployed by `deployer deploy-support` (Prometheus 3.16 built here
with Kubernetes service discovery running the chart's own scrape jobs, kube-state-metrics,
node-exporter, Alertmanager), a hub deployed by `deployer deploy`, and a user server started on it.
Each expression, with the dashboard's variables filled for that hub and user, must parse and return at
least one series, unless its panel's description says it is empty when idle. Reached through the
port-forward adapter, as a user's Grafana would reach Prometheus through its Service."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass

import pytest

from tests.conftest import SHARED_CHARTS, require_tool
from tests.e2e.operate_repo import GOOD_IMAGE, GOOD_TAG, delete_namespaces

pytestmark = pytest.mark.e2e

CHART_REPO = SHARED_CHARTS
USER = "dashuser"  # no character KubeSpawner escapes: the pod label is the name itself
EMPTY_WHEN_IDLE = "empty when idle"  # a panel whose description says this may return no series
DATA_DEADLINE = 150.0  # seconds for a fresh Prometheus to hold what every query needs (15 s scrapes)


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    expr: str
    may_be_empty: bool


def dashboard_queries(hub: str, user: str) -> list[Query]:
    """Every panel target and every `label_values` variable of every dashboard, variables filled."""
    from deployer.run.grafana import load_dashboards

    def fill(expr: str) -> str:
        for name, value in (("hub", hub), ("user", user)):
            expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
        assert "$" not in expr.replace("$1", "").replace("$2", ""), f"an unfilled variable in {expr}"
        return expr

    out = []
    for d in load_dashboards():
        def walk(panels):
            for p in panels:
                idle = EMPTY_WHEN_IDLE in (p.get("description") or "").lower()
                for t in p.get("targets", []):
                    if t.get("expr"):
                        out.append(Query(d["title"], p.get("title", "?"), fill(t["expr"]), idle))
                walk(p.get("panels", []))

        walk(d.get("panels", []))
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") != "query":
                continue
            q = v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query", "")
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q.strip(), re.S)
            assert m, f"{d['title']}: variable {v['name']}: not a label_values query: {q}"
            # the variable's values: the selector's series, each carrying the label
            out.append(Query(d["title"], f"variable ${v['name']}",
                             f"count by ({m.group(2)}) ({fill(m.group(1))})", False))
    return out


def prometheus_query(base: str, expr: str) -> tuple[int, dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.fixture(scope="module")
def monitored_fleet(local_cluster, hub_images, api_client, tmp_path_factory):
    """The support stack and one hub, deployed by deployer itself; the hub's namespace goes afterwards
    (the support release stays for the session's other tests, as after `deployer deploy-support`)."""
    import os
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("dash") / "repo"
    folder = root / "config" / "clusters" / "e2e"
    folder.mkdir(parents=True)
    hub = f"dash-{uuid.uuid4().hex[:6]}"
    (folder / "cluster.yaml").write_text(
        f"name: e2e\nprovider: local\nlocal:\n  state_dir: {local_cluster.cluster.layout.root}\n"
        "support:\n  helm_chart_values_files: [support.values.yaml]\n"
        f"hubs:\n- name: {hub}\n  domain: {hub}.e2e.test\n  helm_chart: basehub\n  stage: staging\n"
        "  helm_chart_values_files: [hub.values.yaml]\n")
    (folder / "support.values.yaml").write_text("grafana:\n  adminUser: admin\n")
    (folder / "hub.values.yaml").write_text(
        f"jupyterhub:\n  hub:\n    image:\n      name: {GOOD_IMAGE}\n      tag: \"{GOOD_TAG}\"\n")

    def deployer(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "deployer", "--root", str(root), *args, "--chart-repo",
                               str(CHART_REPO), "--timeout", "300"], capture_output=True, text=True, timeout=700,
                              env=dict(os.environ))

    started = time.monotonic()
    support = deployer("deploy-support", "e2e")
    assert support.returncode == 0, support.stdout + support.stderr
    print(f"\ndeploy-support (monitoring stack): {time.monotonic() - started:.1f}s")
    try:
        deployed = deployer("deploy", "e2e")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield {"hub": hub, "work": root.parent}
    finally:
        delete_namespaces(api_client, [hub])


@pytest.fixture(scope="module")
def user_server(local_cluster, monitored_fleet):
    """A real user server on the hub, started through the hub's API as a user's browser would."""
    from deployer.adapters.jupyterhub import Http
    from deployer.adapters.kube import Kube
    from deployer.adapters.port_forward import port_forward
    from deployer.adapters.process import ProcessRunner
    from deployer.plan.user_test_service import HUB_SECRET, PROXY_SERVICE, SERVICE_TOKEN_KEY

    hub, work = monitored_fleet["hub"], monitored_fleet["work"]
    with Kube(local_cluster.kubeconfig, timeout=15) as kube:
        token = kube.secret_value(hub, HUB_SECRET, SERVICE_TOKEN_KEY)
    assert token
    with port_forward(ProcessRunner(), require_tool("kubectl"), local_cluster.kubeconfig, None, hub, PROXY_SERVICE,
                      work / "pf-proxy.log", timeout=30) as base:
        http = Http(base, timeout=30)
        assert http.call("POST", f"/hub/api/users/{USER}", token).status in (201, 409)
        assert http.call("POST", f"/hub/api/users/{USER}/server", token).status in (201, 202)
        deadline = time.monotonic() + 240
        while True:
            user = http.call("GET", f"/hub/api/users/{USER}", token).json()
            if (user.get("servers") or {}).get("", {}).get("ready"):
                break
            assert time.monotonic() < deadline, user
            time.sleep(2)
    yield USER


def test_every_dashboard_query_returns_series_for_a_real_hub_and_user(local_cluster, monitored_fleet, user_server):
    from deployer.adapters.port_forward import port_forward
    from deployer.adapters.process import ProcessRunner

    queries = dashboard_queries(monitored_fleet["hub"], user_server)
    assert len(queries) >= 20
    with port_forward(ProcessRunner(), require_tool("kubectl"), local_cluster.kubeconfig, None, "support",
                      "support-prometheus-server", monitored_fleet["work"] / "pf-prometheus.log", timeout=30) as base:
        deadline = time.monotonic() + DATA_DEADLINE
        started = time.monotonic()
        while True:
            refused, empty = [], []
            for q in queries:
                status, doc = prometheus_query(base, q.expr)
                if status != 200 or doc.get("status") != "success":
                    refused.append(f"{q.dashboard} / {q.panel}: {doc.get('error', status)}\n    {q.expr}")
                elif not doc["data"]["result"] and not q.may_be_empty:
                    empty.append(f"{q.dashboard} / {q.panel}: no series\n    {q.expr}")
            assert not refused, "queries Prometheus refused:\n" + "\n".join(refused)
            if not empty or time.monotonic() > deadline:
                break
            time.sleep(5)
        print(f"\n{len(queries)} dashboard queries answered with series {time.monotonic() - started:.0f}s after "
              "the user server was ready")
    assert not empty, "queries that returned nothing:\n" + "\n".join(empty)


def test_the_charts_own_kubernetes_sd_jobs_find_every_target_and_all_are_up(local_cluster, monitored_fleet):
    """Service discovery against the local API server: the API server, the kubelet and its cAdvisor,
    kube-state-metrics, node-exporter and the hub, all found by the chart's kubernetes_sd jobs and up."""
    from deployer.adapters.port_forward import port_forward
    from deployer.adapters.process import ProcessRunner

    hub = monitored_fleet["hub"]
    with port_forward(ProcessRunner(), require_tool("kubectl"), local_cluster.kubeconfig, None, "support",
                      "support-prometheus-server", monitored_fleet["work"] / "pf-targets.log", timeout=30) as base:
        deadline = time.monotonic() + 90
        while True:
            with urllib.request.urlopen(f"{base}/api/v1/targets?state=active", timeout=20) as r:
                targets = json.loads(r.read())["data"]["activeTargets"]
            jobs = {}
            for t in targets:
                key = t["labels"]["job"] + ("/" + t["labels"].get("service", "") if "service" in t["labels"] else "")
                jobs.setdefault(key, []).append(t["health"])
            want = {"prometheus", "kubernetes-api-servers", "kubernetes-nodes", "kubernetes-nodes-cadvisor",
                    "kubernetes-service-endpoints/support-kube-state-metrics",
                    "kubernetes-service-endpoints/support-prometheus-node-exporter",
                    "kubernetes-service-endpoints/hub"}
            down = {k: v for k, v in jobs.items() if k in want and v != ["up"] * len(v)}
            # and the hub's own /hub/metrics, as a query sees it (every series of its `up` at 1)
            status, doc = prometheus_query(base, f'up{{job="kubernetes-service-endpoints",namespace="{hub}",'
                                                 'service="hub"}')
            hub_up = [r["value"][1] for r in doc.get("data", {}).get("result", [])]
            if want <= set(jobs) and not down and hub_up and set(hub_up) == {"1"}:
                break
            assert time.monotonic() < deadline, (sorted(want - set(jobs)), down, hub_up,
                                                 [t.get("lastError") for t in targets if t["health"] != "up"])
            time.sleep(3)
        status, doc = prometheus_query(base, f'jupyterhub_running_servers{{namespace="{hub}"}}')
        assert status == 200 and doc["data"]["result"], doc  # the hub's own /hub/metrics


def test_alertmanager_is_running_and_prometheus_discovers_it(local_cluster, monitored_fleet):
    from deployer.adapters.port_forward import port_forward
    from deployer.adapters.process import ProcessRunner

    with port_forward(ProcessRunner(), require_tool("kubectl"), local_cluster.kubeconfig, None, "support",
                      "support-prometheus-server", monitored_fleet["work"] / "pf-am.log", timeout=30) as base:
        deadline = time.monotonic() + 60
        while True:
            with urllib.request.urlopen(f"{base}/api/v1/alertmanagers", timeout=20) as r:
                active = json.loads(r.read())["data"]["activeAlertmanagers"]
            if active:
                break
            assert time.monotonic() < deadline, "Prometheus discovered no Alertmanager"
            time.sleep(3)
    assert active[0]["url"].endswith("/api/v2/alerts")
    with port_forward(ProcessRunner(), require_tool("kubectl"), local_cluster.kubeconfig, None, "support",
                      "support-alertmanager", monitored_fleet["work"] / "pf-am2.log", timeout=30,
                      remote_port=9093) as am:
        with urllib.request.urlopen(f"{am}/api/v2/status", timeout=20) as r:
            assert json.loads(r.read())["versionInfo"]["version"] == "0.25.0"

