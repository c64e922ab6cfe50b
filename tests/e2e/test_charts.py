"""Our charts, prepared with the offline chart mirror, checked with the real helm.

`helm lint` and `helm template` need no cluster; the last tests install the charts on the
local Kubernetes 1.20 cluster and wait for every Deployment to become Ready.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from deployer.adapters.charts import PreparedChart, helm_home_env, prepare_chart
from deployer.adapters.process import Completed, ProcessRunner
from tests.conftest import REPO, require_corpus, require_tool

pytestmark = pytest.mark.e2e

CHARTS = REPO / "helm-charts"
MIRROR = CHARTS / "mirror"
DOMAIN = "staging.hub.example.org"


def generated_values(hub: str = "staging", cluster: str = "local", domain: str = DOMAIN) -> dict:
    """What deployer layers first for a basehub hub."""
    return {
        "jupyterhub": {"ingress": {"hosts": [domain], "tls": [{"hosts": [domain], "secretName": "https-auto-tls"}]}},
        "global": {"hubName": hub, "clusterName": cluster},
    }


class Helm:
    def __init__(self, binary: Path, work: Path) -> None:
        self.binary = binary
        self.work = work
        self.runner = ProcessRunner()
        self._files = 0

    def values_file(self, data: dict) -> Path:
        self._files += 1
        path = self.work / f"values-{self._files}.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    def run(self, *args: str | Path, values: list[dict] = (), timeout: float = 120) -> Completed:
        argv: list[str | Path] = [self.binary, *args]
        for data in values:
            argv += ["-f", self.values_file(data)]
        return self.runner.run(argv, timeout=timeout, env=helm_home_env(self.work))

    def template(self, chart: PreparedChart, *extra: str, values: list[dict] = (), release: str = "staging") -> list[dict]:
        result = self.run("template", release, chart.path, "--namespace", release, *extra, values=values)
        assert result.ok, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def helm(tmp_path_factory) -> Helm:
    return Helm(require_tool("helm"), tmp_path_factory.mktemp("helm-work"))


@pytest.fixture(scope="module")
def prepared(helm) -> dict[str, PreparedChart]:
    return {
        name: prepare_chart(CHARTS / name, work_dir=helm.work / "charts", mirror=MIRROR,
                            runner=helm.runner, helm=helm.binary)
        for name in ("basehub", "daskhub", "support")
    }


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict], kind: str, name: str) -> dict:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {[d['metadata']['name'] for d in find(docs, kind)]}"
    return found[0]


def secret_text(secret: dict) -> str:
    return "\n".join(base64.b64decode(v).decode() for v in (secret.get("data") or {}).values())


# --- lint -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["basehub", "daskhub", "support"])
def test_each_chart_passes_helm_lint_strict_with_the_mirror(helm, prepared, name):
    values = {"basehub": generated_values()} if name == "daskhub" else generated_values() if name == "basehub" else {}
    result = helm.run("lint", "--strict", prepared[name].path, values=[values])
    assert result.ok, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_mirror_charts_have_the_pinned_names_and_versions_and_say_they_are_stand_ins():
    pinned = {}
    for chart in ("basehub", "daskhub", "support"):
        for dep in yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())["dependencies"]:
            if not dep["repository"].startswith("file://"):
                pinned[dep["name"]] = str(dep["version"])
    stand_ins = {p.name: yaml.safe_load((p / "Chart.yaml").read_text()) for p in MIRROR.iterdir() if p.is_dir()}
    assert set(stand_ins) == set(pinned)
    for name, meta in stand_ins.items():
        assert meta["name"] == name
        assert str(meta["version"]) == pinned[name], name
        assert "Stand-in for" in meta["description"] and "not the real chart" in meta["description"]
        assert not (MIRROR / name / "values.schema.json").exists(), "stand-ins accept any value"


# --- basehub --------------------------------------------------------------------------------------


def test_basehub_with_generated_values_has_a_tls_ingress_for_the_domain_with_the_cert_manager_annotation(helm, prepared):
    docs = helm.template(prepared["basehub"], values=[generated_values()])

    ingress = one(docs, "Ingress", "jupyterhub")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [DOMAIN]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "proxy-public", "port": {"name": "http"}}
    assert ingress["spec"]["tls"] == [{"hosts": [DOMAIN], "secretName": "https-auto-tls"}]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    # TLS ends at the ingress: the proxy needs no load balancer of its own
    assert one(docs, "Service", "proxy-public")["spec"]["type"] == "ClusterIP"


def test_basehub_hub_info_configmap_names_the_hub_and_its_health_urls(helm, prepared):
    docs = helm.template(prepared["basehub"], values=[generated_values("staging", "local")])
    info = one(docs, "ConfigMap", "deployer-hub-info")["data"]
    assert info["hubName"] == "staging"
    assert info["clusterName"] == "local"
    assert info["domain"] == DOMAIN
    assert info["healthUrl"] == f"https://{DOMAIN}/hub/health"
    assert info["internalHealthUrl"] == "http://hub.staging.svc:8081/hub/health"
    hub = one(docs, "Deployment", "hub")
    probe = hub["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    assert probe["path"] == "/hub/health"
    assert one(docs, "Service", "hub")["spec"]["ports"][0]["port"] == 8081


def test_basehub_defaults_cull_idle_servers_and_guarantee_resources(helm, prepared):
    docs = helm.template(prepared["basehub"], values=[generated_values()])
    config = one(docs, "ConfigMap", "hub")["data"]
    cull = yaml.safe_load(config["cull.yaml"])
    assert cull["enabled"] is True and "--timeout=3600" in cull["args"]
    singleuser = yaml.safe_load(config["singleuser.yaml"])
    assert singleuser["cpu"]["guarantee"] > 0 and singleuser["memory"]["guarantee"] == "1G"
    assert singleuser["image"] == "quay.io/jupyter/scipy-notebook:2025-04-14"


def test_a_hub_brings_its_own_user_image(helm, prepared):
    own = {"jupyterhub": {"singleuser": {"image": {"name": "quay.io/example/our-image", "tag": "2025.05.01"}}}}
    docs = helm.template(prepared["basehub"], values=[generated_values(), own])
    assert yaml.safe_load(one(docs, "ConfigMap", "hub")["data"]["singleuser.yaml"])["image"] == \
        "quay.io/example/our-image:2025.05.01"
    assert one(docs, "ConfigMap", "deployer-hub-info")["data"]["singleuserImage"] == "quay.io/example/our-image:2025.05.01"


def test_hub_replicas_and_images_from_values_reach_the_hub_deployment(helm, prepared):
    values = {"jupyterhub": {"hub": {"replicas": 2, "image": {"name": "quay.io/example/hub", "tag": "9.9.9"}}}}
    docs = helm.template(prepared["basehub"], values=[generated_values(), values])
    hub = one(docs, "Deployment", "hub")
    assert hub["spec"]["replicas"] == 2
    assert hub["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/example/hub:9.9.9"
    labels = hub["spec"]["template"]["metadata"]["labels"]
    assert {"app": "jupyterhub", "component": "hub", "release": "staging"}.items() <= labels.items()


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"jupyterhub": {"hub": {"replicas": "two"}}}, "jupyterhub.hub.replicas"),
        ({"jupyterhub": {"singleuser": {"image": {"name": 42}}}}, "jupyterhub.singleuser.image.name"),
        ({"jupyterhub": {"singleuser": {"image": {"tag": 2024.1}}}}, "jupyterhub.singleuser.image.tag"),
        ({"jupyterhub": {"cull": {"timeout": "an hour"}}}, "jupyterhub.cull.timeout"),
        ({"jupyterhbu": {"hub": {}}}, "jupyterhbu"),
    ],
)
def test_values_that_break_the_schema_make_helm_template_fail_with_a_schema_error(helm, prepared, bad, where):
    result = helm.run("template", "staging", prepared["basehub"].path, values=[generated_values(), bad])
    assert not result.ok
    assert "don't meet the specifications of the schema" in result.stderr
    assert where in result.stderr


def test_the_jupyterhub_stand_in_keeps_hub_config_in_a_secret_not_a_configmap(helm, prepared):
    secret_value = "not-a-real-client-secret-5f1c2a"
    values = {"jupyterhub": {"hub": {"config": {"GitHubOAuthenticator": {"client_secret": secret_value}}}}}
    docs = helm.template(prepared["basehub"], values=[generated_values(), values])

    hub_secret = one(docs, "Secret", "hub")
    stored = yaml.safe_load(base64.b64decode(hub_secret["data"]["values.yaml"]))
    assert stored["hub"]["config"]["GitHubOAuthenticator"]["client_secret"] == secret_value
    assert "hub.config.JupyterHub.cookie_secret" in hub_secret["data"]
    for doc in docs:
        if doc["kind"] != "Secret":
            assert secret_value not in json.dumps(doc), f"{doc['kind']} {doc['metadata']['name']} holds the secret"


# --- daskhub --------------------------------------------------------------------------------------


@pytest.mark.parametrize("global_at", ["under basehub", "top level"])
def test_daskhub_renders_hub_values_nested_under_basehub(helm, prepared, global_at):
    generated = generated_values("dask-staging", "local")
    values = {"basehub": generated} if global_at == "under basehub" else \
        {"basehub": {"jupyterhub": generated["jupyterhub"]}, "global": generated["global"]}
    own = {"basehub": {"jupyterhub": {"singleuser": {"image": {"name": "pangeo/pangeo-notebook", "tag": "2025.01.10"}}}}}
    docs = helm.template(prepared["daskhub"], values=[values, own], release="dask-staging")

    assert [r["host"] for r in one(docs, "Ingress", "jupyterhub")["spec"]["rules"]] == [DOMAIN]
    info = one(docs, "ConfigMap", "deployer-hub-info")["data"]
    assert (info["hubName"], info["clusterName"]) == ("dask-staging", "local")
    singleuser = yaml.safe_load(one(docs, "ConfigMap", "hub")["data"]["singleuser.yaml"])
    assert singleuser["image"] == "pangeo/pangeo-notebook:2025.01.10"
    assert singleuser["extraEnv"]["DASK_GATEWAY__ADDRESS"] == "http://proxy-public/services/dask-gateway"

    # the gateway authenticates with the token JupyterHub generated for its service
    assert "hub.services.dask-gateway.apiToken" in one(docs, "Secret", "hub")["data"]
    gateway = one(docs, "Deployment", "api-dask-gateway")
    env = {e["name"]: e for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == \
        {"name": "hub", "key": "hub.services.dask-gateway.apiToken"}
    assert one(docs, "Service", "traefik-dask-gateway")["spec"]["type"] == "ClusterIP"


def test_daskhub_refuses_hub_values_that_are_not_nested_under_basehub(helm, prepared):
    result = helm.run("template", "dask", prepared["daskhub"].path, values=[generated_values()])
    assert not result.ok
    assert "schema" in result.stderr and "jupyterhub" in result.stderr


def test_daskhub_checks_basehub_values_with_basehubs_schema(helm, prepared):
    bad = {"basehub": {"jupyterhub": {"hub": {"replicas": "two"}}}}
    result = helm.run("template", "dask", prepared["daskhub"].path, values=[bad])
    assert not result.ok
    assert "basehub" in result.stderr and "jupyterhub.hub.replicas" in result.stderr


# --- support --------------------------------------------------------------------------------------


def test_support_renders_prometheus_grafana_with_its_datasource_and_the_kube_state_metrics_allowlist(helm, prepared):
    docs = helm.template(prepared["support"], release="support")

    prometheus = one(docs, "Service", "support-prometheus-server")
    assert prometheus["spec"]["ports"][0]["port"] == 80
    one(docs, "Deployment", "support-prometheus-server")

    grafana_config = one(docs, "ConfigMap", "support-grafana")["data"]
    datasources = yaml.safe_load(grafana_config["datasources.yaml"])["datasources"]
    assert datasources == [{
        "name": "prometheus", "type": "prometheus", "uid": "prometheus", "access": "proxy",
        "url": "http://support-prometheus-server", "isDefault": True, "editable": False,
    }]
    one(docs, "Deployment", "support-grafana")

    ksm = one(docs, "Deployment", "support-kube-state-metrics")
    args = ksm["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--metric-labels-allowlist=pods=[app,component,hub.jupyter.org/username]" in args

    one(docs, "Deployment", "support-ingress-nginx-controller")
    one(docs, "Deployment", "support-cert-manager")
    assert one(docs, "IngressClass", "nginx")["spec"]["controller"] == "k8s.io/ingress-nginx"


def test_prometheus_service_name_does_not_depend_on_the_release_name(helm, prepared):
    docs = helm.template(prepared["support"], release="monitoring")
    one(docs, "Service", "support-prometheus-server")


def test_support_cluster_issuer_renders_only_where_cert_manager_api_is_served(helm, prepared):
    without = helm.template(prepared["support"], release="support")
    assert find(without, "ClusterIssuer") == []

    values = {"letsencrypt": {"clusterIssuer": {"contactEmail": "ops@example.org"}}}
    docs = helm.template(prepared["support"], "--api-versions", "cert-manager.io/v1", values=[values], release="support")
    issuer = one(docs, "ClusterIssuer", "letsencrypt-prod")
    assert issuer["spec"]["acme"]["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert issuer["spec"]["acme"]["email"] == "ops@example.org"
    assert issuer["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["ingressClassName"] == "nginx"


def test_support_schema_rejects_a_malformed_allowlist_entry(helm, prepared):
    bad = {"prometheus": {"kube-state-metrics": {"metricLabelsAllowlist": ["app,component"]}}}
    result = helm.run("template", "support", prepared["support"].path, values=[bad])
    assert not result.ok
    assert "metricLabelsAllowlist" in result.stderr


# --- the corpus -----------------------------------------------------------------------------------


def _corpus_jobs(root: Path) -> Iterator[tuple[str, str, list[Path], dict]]:
    for cluster_file in sorted((root / "config" / "clusters").glob("*/cluster.yaml")):
        cluster = yaml.safe_load(cluster_file.read_text())
        folder = cluster_file.parent

        def plain(files):  # encrypted files are left out: there is no key for them here
            return [folder / f for f in files or [] if "enc-" not in f and "secret" not in f]

        support = (cluster.get("support") or {}).get("helm_chart_values_files")
        if support:
            yield f"{cluster['name']}/support", "support", plain(support), {}
        for hub in cluster.get("hubs") or []:
            chart = hub.get("helm_chart")
            if chart not in ("basehub", "daskhub") or hub.get("chart_override"):
                continue
            generated = generated_values(hub["name"], cluster["name"], hub["domain"])
            yield (f"{cluster['name']}/{hub['name']}", chart, plain(hub.get("helm_chart_values_files")),
                   {"basehub": generated} if chart == "daskhub" else generated)


@pytest.mark.corpus
def test_the_plain_values_of_every_corpus_hub_and_support_stack_pass_our_schemas(helm, prepared):
    root = require_corpus()
    jobs = list(_corpus_jobs(root))
    assert len(jobs) > 100

    def render(job):
        label, chart, files, generated = job
        args = ["template", label.split("/")[1], prepared[chart].path, "-f", helm.values_file(generated)]
        for f in files:
            args += ["-f", f]
        result = helm.run(*args)
        return None if result.ok else f"{label}: {result.stderr.strip()[:300]}"

    with ThreadPoolExecutor(4) as pool:
        failures = [f for f in pool.map(render, jobs) if f]
    assert failures == []


# --- on the local cluster -------------------------------------------------------------------------


def _deployments_ready(api_client, namespace: str) -> dict[str, int]:
    from kubernetes import client

    apps = client.AppsV1Api(api_client)
    return {d.metadata.name: d.status.ready_replicas or 0 for d in apps.list_namespaced_deployment(namespace).items}


def test_basehub_and_daskhub_become_ready_on_the_local_cluster(helm, prepared, local_cluster, api_client, namespace):
    kubeconfig = str(local_cluster.kubeconfig)
    for chart, release, values in (
        ("basehub", "hub", generated_values(namespace)),
        ("daskhub", "dask", {"basehub": generated_values(namespace)}),
    ):
        # one release per namespace, as deployer does; the second goes into a sibling namespace
        ns = namespace if chart == "basehub" else f"{namespace}-dask"
        result = helm.run("upgrade", "--install", release, prepared[chart].path, "--namespace", ns,
                          "--create-namespace", "--wait", "--timeout", "120s", "--kubeconfig", kubeconfig,
                          values=[values], timeout=180)
        try:
            assert result.ok, result.stderr
            ready = _deployments_ready(api_client, ns)
            expected = {"hub", "proxy"} | ({"api-dask-gateway", "traefik-dask-gateway"} if chart == "daskhub" else set())
            assert set(ready) == expected
            assert all(count >= 1 for count in ready.values()), ready
        finally:
            helm.run("uninstall", release, "--namespace", ns, "--kubeconfig", kubeconfig, timeout=120)
            if ns != namespace:
                from kubernetes import client

                client.CoreV1Api(api_client).delete_namespace(ns)


def test_support_becomes_ready_and_adds_its_cluster_issuer_on_the_second_deploy(helm, prepared, scratch_cluster):
    # its own cluster: CRDs, the IngressClass and the ClusterIssuer are cluster-wide
    up = scratch_cluster.up()
    assert up.status.healthy, up.status
    kubeconfig = up.status.kubeconfig
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=kubeconfig)
    try:
        for attempt in (1, 2):
            result = helm.run("upgrade", "--install", "support", prepared["support"].path, "--namespace", "support",
                              "--create-namespace", "--wait", "--timeout", "120s", "--kubeconfig", kubeconfig,
                              timeout=180)
            assert result.ok, f"deploy {attempt}: {result.stderr}"
            ready = _deployments_ready(api, "support")
            assert ready == {name: 1 for name in (
                "support-ingress-nginx-controller", "support-cert-manager", "support-prometheus-server",
                "support-kube-state-metrics", "support-grafana")}
            issuers = client.CustomObjectsApi(api).list_cluster_custom_object(
                "cert-manager.io", "v1", "clusterissuers")["items"]
            names = [i["metadata"]["name"] for i in issuers]
            # first deploy: the CRD arrives with cert-manager, too late for this render
            assert names == ([] if attempt == 1 else ["letsencrypt-prod"])
    finally:
        api.close()
