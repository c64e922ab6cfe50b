"""Our charts with their real upstream dependencies (from the chart repository ../shared/charts),
checked with the real helm.

`helm lint` and `helm template` need no cluster (rendered for Kubernetes 1.34, the local cluster's
version); the last tests install the charts on the local cluster and wait for every Deployment to
become Ready (they need a real node).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from deployer.adapters.charts import PreparedChart, helm_home_env, prepare_chart
from deployer.adapters.process import Completed, ProcessRunner
from tests.conftest import REPO, missing, require_chart_repo, require_tool

pytestmark = pytest.mark.e2e

CHARTS = REPO / "helm-charts"
KUBE = "1.34.0"  # the local cluster's version
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
        result = self.run("template", release, chart.path, "--namespace", release, "--kube-version", KUBE, *extra,
                          values=values)
        assert result.ok, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def helm(tmp_path_factory) -> Helm:
    return Helm(require_tool("helm"), tmp_path_factory.mktemp("helm-work"))


@pytest.fixture(scope="module")
def prepared(helm) -> dict[str, PreparedChart]:
    return {
        name: prepare_chart(CHARTS / name, work_dir=helm.work / "charts", chart_repo=require_chart_repo(),
                            runner=helm.runner, helm=helm.binary)
        for name in ("basehub", "daskhub", "support")
    }


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict], kind: str, name: str) -> dict:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {[d['metadata']['name'] for d in find(docs, kind)]}"
    return found[0]


def hub_values(docs: list[dict]) -> dict:
    """The jupyterhub chart's values as the hub reads them (the Secret `hub`, key values.yaml)."""
    return yaml.safe_load(base64.b64decode(one(docs, "Secret", "hub")["data"]["values.yaml"]))


def secret_text(secret: dict) -> str:
    return "\n".join(base64.b64decode(v).decode() for v in (secret.get("data") or {}).values())


# --- lint -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["basehub", "daskhub", "support"])
def test_each_chart_passes_helm_lint_strict_with_its_real_dependencies(helm, prepared, name):
    values = {"basehub": generated_values()} if name == "daskhub" else generated_values() if name == "basehub" else {}
    result = helm.run("lint", "--strict", "--kube-version", KUBE, prepared[name].path, values=[values])
    assert result.ok, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(("name", "minimum"), [("basehub", "1.28"), ("daskhub", "1.28"), ("support", "1.25")])
def test_each_chart_declares_the_kubernetes_version_its_dependencies_need(helm, prepared, name, minimum):
    # helm checks only the top chart's kubeVersion: without it, 1.20 renders and the install fails later
    assert yaml.safe_load((CHARTS / name / "Chart.yaml").read_text())["kubeVersion"] == f">={minimum}.0-0"
    values = {"basehub": generated_values()} if name == "daskhub" else generated_values() if name == "basehub" else {}
    old = helm.run("template", "x", prepared[name].path, "--kube-version", "1.20.2", values=[values])
    assert not old.ok
    assert f"Error: chart requires kubeVersion: >={minimum}.0-0 which is incompatible with Kubernetes v1.20.2" \
        in old.stderr
    assert helm.run("template", "x", prepared[name].path, "--kube-version", KUBE, values=[values]).ok


def test_basehub_depends_on_jupyterhub_4_3_3():
    deps = {d["name"]: str(d["version"]) for d in yaml.safe_load((CHARTS / "basehub" / "Chart.yaml").read_text())["dependencies"]}
    assert deps == {"jupyterhub": "4.3.3", "dask-gateway": "2026.3.0", "jupyterhub-home-nfs": "1.2.1-0.dev.git.1.h1c81b4b",
                    "binderhub-service": "0.1.0-0.dev.git.336.hca79dc0",
                    "jupyterhub-groups-exporter": "1.1.1-0.dev.git.133.hd9f9ccc"}


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
    values = hub_values(docs)
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] == 3600
    singleuser = values["singleuser"]
    assert singleuser["cpu"]["guarantee"] > 0 and singleuser["memory"]["guarantee"] == "1G"
    assert (singleuser["image"]["name"], singleuser["image"]["tag"]) == ("quay.io/jupyter/scipy-notebook", "2025-04-14")


def test_a_hub_brings_its_own_user_image(helm, prepared):
    own = {"jupyterhub": {"singleuser": {"image": {"name": "quay.io/example/our-image", "tag": "2025.05.01"}}}}
    docs = helm.template(prepared["basehub"], values=[generated_values(), own])
    assert hub_values(docs)["singleuser"]["image"]["name"] == "quay.io/example/our-image"
    assert one(docs, "ConfigMap", "deployer-hub-info")["data"]["singleuserImage"] == "quay.io/example/our-image:2025.05.01"


def test_the_hub_image_from_values_reaches_the_hub_deployment(helm, prepared):
    values = {"jupyterhub": {"hub": {"image": {"name": "quay.io/example/hub", "tag": "9.9.9"}}}}
    docs = helm.template(prepared["basehub"], values=[generated_values(), values])
    hub = one(docs, "Deployment", "hub")
    assert hub["spec"]["replicas"] == 1  # the real jupyterhub chart runs exactly one hub
    assert hub["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/example/hub:9.9.9"
    labels = hub["spec"]["template"]["metadata"]["labels"]
    assert {"app": "jupyterhub", "component": "hub", "release": "staging"}.items() <= labels.items()


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"jupyterhub": {"hub": {"replicas": 2}}}, "Additional property replicas is not allowed"),
        ({"jupyterhub": {"singleuser": {"image": {"name": 42}}}}, "jupyterhub.singleuser.image.name"),
        ({"jupyterhub": {"singleuser": {"image": {"tag": 2024.1}}}}, "jupyterhub.singleuser.image.tag"),
        ({"jupyterhub": {"cull": {"timeout": "an hour"}}}, "jupyterhub.cull.timeout"),
        ({"jupyterhbu": {"hub": {}}}, "jupyterhbu"),
    ],
)
def test_values_that_break_the_schema_make_helm_template_fail_with_a_schema_error(helm, prepared, bad, where):
    result = helm.run("template", "staging", prepared["basehub"].path, "--kube-version", KUBE,
                      values=[generated_values(), bad])
    assert not result.ok
    assert "don't meet the specifications of the schema" in result.stderr
    assert where in result.stderr


def test_the_jupyterhub_chart_keeps_hub_config_in_a_secret_not_a_configmap(helm, prepared):
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
    assert info["daskGatewayTraefik"] == "traefik-dask-staging-dask-gateway"
    assert hub_values(docs)["singleuser"]["image"]["name"] == "pangeo/pangeo-notebook"
    gateway_info = one(docs, "ConfigMap", "deployer-dask-gateway-info")["data"]
    assert gateway_info["proxyAddress"] == "gateway://traefik-dask-staging-dask-gateway:80"

    # the gateway authenticates with the token JupyterHub generated for its service
    assert "hub.services.dask-gateway.apiToken" in one(docs, "Secret", "hub")["data"]
    gateway = one(docs, "Deployment", "api-dask-staging-dask-gateway")
    env = {e["name"]: e for e in gateway["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == \
        {"name": "hub", "key": "hub.services.dask-gateway.apiToken"}
    assert one(docs, "Service", "traefik-dask-staging-dask-gateway")["spec"]["type"] == "ClusterIP"


CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "IngressClass", "StorageClass",
                  "PersistentVolume", "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}


def test_two_daskhubs_of_one_cluster_create_no_common_cluster_scoped_object(helm, prepared):
    def cluster_scoped(release: str) -> set[tuple[str, str]]:
        docs = helm.template(prepared["daskhub"], values=[{"basehub": generated_values(release)}], release=release)
        return {(d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] in CLUSTER_SCOPED}

    first, second = cluster_scoped("dask-a"), cluster_scoped("dask-b")
    assert ("ClusterRole", "controller-dask-a-dask-gateway") in first
    assert ("ClusterRole", "traefik-dask-b-dask-gateway") in second
    assert first & second == set()


def test_each_daskhubs_traefik_watches_only_its_own_routes(helm, prepared):
    for release in ("dask-a", "dask-b"):
        docs = helm.template(prepared["daskhub"], values=[{"basehub": generated_values(release)}], release=release)
        traefik = one(docs, "Deployment", f"traefik-{release}-dask-gateway")
        args = traefik["spec"]["template"]["spec"]["containers"][0]["args"]
        selector = [a for a in args if a.startswith("--providers.kubernetescrd.labelselector=")]
        assert selector == [f"--providers.kubernetescrd.labelselector=gateway.dask.org/instance={release}-dask-gateway"]
        route = find(docs, "IngressRoute")[0]
        assert route["metadata"]["labels"]["gateway.dask.org/instance"] == f"{release}-dask-gateway"


def test_user_servers_may_reach_their_gateways_traefik_on_port_8000(helm, prepared):
    docs = helm.template(prepared["daskhub"], values=[{"basehub": generated_values("dask-a")}], release="dask-a")
    policy = one(docs, "NetworkPolicy", "singleuser-to-dask-gateway")["spec"]
    assert policy["policyTypes"] == ["Egress"]
    assert policy["podSelector"]["matchLabels"] == {"component": "singleuser-server", "release": "dask-a"}
    [rule] = policy["egress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    # the rule selects exactly the gateway's traefik pods, on the port their container listens on
    traefik = one(docs, "Deployment", "traefik-dask-a-dask-gateway")["spec"]["template"]
    assert rule["to"][0]["podSelector"]["matchLabels"].items() <= traefik["metadata"]["labels"].items()
    ports = [p["containerPort"] for p in traefik["spec"]["containers"][0]["ports"]]
    assert 8000 in ports
    # the user servers really carry the labels the policy selects
    singleuser_labels = hub_values(docs)["singleuser"]
    assert singleuser_labels is not None
    server_policy = one(docs, "NetworkPolicy", "singleuser")["spec"]["podSelector"]["matchLabels"]
    assert server_policy == {"component": "singleuser-server", "release": "dask-a"} | \
        {k: v for k, v in server_policy.items() if k not in ("component", "release")}


def test_basehub_has_no_gateway_unless_switched_on(helm, prepared):
    docs = helm.template(prepared["basehub"], values=[generated_values()])
    assert [d for d in docs if "dask-gateway" in d["metadata"]["name"]] == []
    assert "daskGatewayTraefik" not in one(docs, "ConfigMap", "deployer-hub-info")["data"]
    on = helm.template(prepared["basehub"], values=[generated_values(), {"dask-gateway": {"enabled": True}}])
    one(on, "Deployment", "api-staging-dask-gateway")


# --- NFS home directories ---------------------------------------------------------------------------


def test_nfs_home_directories_render_a_volume_and_claim_for_the_share(helm, prepared):
    nfs = {"nfs": {"enabled": True, "pv": {"enabled": True, "serverIP": "10.100.0.5", "baseShareName": "/homes/",
                                             "mountOptions": ["soft", "vers=4.1"]}}}
    docs = helm.template(prepared["basehub"], values=[generated_values(), nfs])
    pv = one(docs, "PersistentVolume", "staging-home-nfs")["spec"]
    assert pv["nfs"] == {"server": "10.100.0.5", "path": "/homes/staging"}
    assert pv["mountOptions"] == ["soft", "vers=4.1"]
    assert pv["accessModes"] == ["ReadWriteMany"] and pv["persistentVolumeReclaimPolicy"] == "Retain"
    claim = one(docs, "PersistentVolumeClaim", "home-nfs")["spec"]
    assert claim["volumeName"] == "staging-home-nfs" and claim["storageClassName"] == ""
    info = one(docs, "ConfigMap", "deployer-hub-info")["data"]
    assert (info["nfsHome"], info["nfsSharedMountPath"]) == ("true", "/home/jovyan/shared")


def test_nfs_share_name_override_and_no_nfs_by_default(helm, prepared):
    nfs = {"nfs": {"enabled": True, "pv": {"enabled": True, "serverIP": "fs-1.efs.example", "shareNameOverride": "prod"}},
           "jupyterhub-home-nfs": {"enabled": False}}
    docs = helm.template(prepared["basehub"], values=[generated_values(), nfs])
    assert one(docs, "PersistentVolume", "staging-home-nfs")["spec"]["nfs"] == {"server": "fs-1.efs.example",
                                                                                 "path": "/prod"}
    assert find(docs, "Service", "storage-quota-home-nfs") == []  # the in-cluster server is off
    plain = helm.template(prepared["basehub"], values=[generated_values()])
    assert find(plain, "PersistentVolume") == [] and find(plain, "PersistentVolumeClaim", "home-nfs") == []
    assert find(plain, "Deployment", "storage-quota-home-nfs") == []
    assert one(plain, "ConfigMap", "deployer-hub-info")["data"]["nfsHome"] == "false"


def test_nfs_homes_run_the_in_cluster_server_and_address_it_by_its_service(helm, prepared):
    nfs = {"nfs": {"enabled": True, "pv": {"enabled": True}},
           "jupyterhub-home-nfs": {"gke": {"enabled": True, "volumeId": "projects/p/zones/z/disks/d"},
                                   "quotaEnforcer": {"config": {"QuotaManager": {"hard_quota": 5}}}}}
    docs = helm.template(prepared["basehub"], values=[generated_values(), nfs])
    assert one(docs, "PersistentVolume", "staging-home-nfs")["spec"]["nfs"] == {
        "server": "storage-quota-home-nfs.staging.svc.cluster.local", "path": "/staging"}
    assert one(docs, "Service", "storage-quota-home-nfs")["spec"]["ports"][0]["port"] == 2049
    one(docs, "Deployment", "storage-quota-home-nfs")
    disk = one(docs, "PersistentVolume", "staging-storage-quota-home-nfs")["spec"]["csi"]
    assert disk["volumeHandle"] == "projects/p/zones/z/disks/d"
    # the server's own disk claim and basehub's claim of the share never share a name
    assert {c["metadata"]["name"] for c in find(docs, "PersistentVolumeClaim")} == {"home-nfs", "storage-quota-home-nfs",
                                                                          "hub-db-dir"}
    # homes' sizes are reported by default
    one(docs, "Deployment", "shared-dirsize-metrics")


def test_nfs_without_a_server_fails_with_a_message_naming_the_key(helm, prepared):
    result = helm.run("template", "staging", prepared["basehub"].path, "--kube-version", KUBE,
                      values=[generated_values(), {"nfs": {"enabled": True, "pv": {"enabled": True}},
                                                   "jupyterhub-home-nfs": {"enabled": False}}])
    assert not result.ok
    assert ("nfs.pv.serverIP is required when nfs.enabled and nfs.pv.enabled are true and the in-cluster NFS server "
            "is off (jupyterhub-home-nfs.enabled: false)") in result.stderr


def test_the_share_creator_mounts_the_servers_root_and_creates_the_hubs_folder(helm, prepared):
    nfs = {"nfs": {"enabled": True, "pv": {"enabled": True, "serverIP": "10.0.0.5", "baseShareName": "/homes/"},
                   "shareCreator": {"enabled": True}}, "jupyterhub-home-nfs": {"enabled": False}}
    job = one(helm.template(prepared["basehub"], values=[generated_values(), nfs]), "Job", "nfs-share-creator")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "server-root", "nfs": {"server": "10.0.0.5", "path": "/homes/"}}]
    assert pod["containers"][0]["env"] == [{"name": "SHARE", "value": "/homes/staging"}]


@pytest.mark.parametrize("cloud,annotation", [
    ({"roleArn": "arn:aws:iam::1:role/h"}, {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/h"}),
    ({"serviceAccountEmail": "h@p.iam.gserviceaccount.com"}, {"iam.gke.io/gcp-service-account": "h@p.iam.gserviceaccount.com"}),
    ({"clientId": "00000000-1111"}, {"azure.workload.identity/client-id": "00000000-1111"}),
])
def test_the_users_service_account_carries_the_hubs_cloud_identity(helm, prepared, cloud, annotation):
    values = {"global": {"cloud": {"hub": {**cloud, "serviceAccountName": "user-sa"}}},
              "userServiceAccount": {"annotations": {"example.org/extra": "x"}}}
    docs = helm.template(prepared["basehub"], values=[generated_values(), values])
    account = one(docs, "ServiceAccount", "user-sa")
    assert account["metadata"]["annotations"] == {**annotation, "example.org/extra": "x"}
    info = one(docs, "ConfigMap", "deployer-hub-info")["data"]
    assert info["userServiceAccount"] == "user-sa"
    assert info.get("userPodLabels", "") == ("azure.workload.identity/use=true" if "clientId" in cloud else "")


def test_a_binderhub_without_an_image_registry_fails_naming_the_key(helm, prepared):
    result = helm.run("template", "staging", prepared["basehub"].path, "--kube-version", KUBE,
                      values=[generated_values(), {"binderhub-service": {"enabled": True}}])
    assert not result.ok
    assert "set binderhub-service.config.BinderHub.image_prefix" in result.stderr
    ok = helm.template(prepared["basehub"], values=[generated_values(), {"binderhub-service": {
        "enabled": True, "config": {"BinderHub": {"image_prefix": "quay.io/org/hub-"}}}}])
    assert one(ok, "ConfigMap", "deployer-hub-info")["data"]["binderUrl"] == "http://binderhub:8090"
    one(ok, "Deployment", "binderhub")


def test_node_placeholders_keep_spare_user_nodes(helm, prepared):
    docs = helm.template(prepared["basehub"], values=[generated_values(),
                                                      {"nodePlaceholder": {"enabled": True, "replicas": 2}}])
    placeholder = one(docs, "Deployment", "node-placeholder")["spec"]
    assert placeholder["replicas"] == 2
    assert placeholder["template"]["spec"]["nodeSelector"] == {"hub.jupyter.org/node-purpose": "user"}


def test_the_dictionary_form_of_extra_volumes_passes_jupyterhub_4_3(helm, prepared):
    storage = {"jupyterhub": {"singleuser": {"storage": {
        "extraVolumes": {"01-scratch": {"name": "scratch", "emptyDir": {"sizeLimit": "15Gi"}}},
        "extraVolumeMounts": {"01-scratch": {"name": "scratch", "mountPath": "/tmp"}}}}}}
    docs = helm.template(prepared["basehub"], values=[generated_values(), storage])
    assert hub_values(docs)["singleuser"]["storage"]["extraVolumes"]["01-scratch"]["name"] == "scratch"


def test_daskhub_refuses_hub_values_that_are_not_nested_under_basehub(helm, prepared):
    result = helm.run("template", "dask", prepared["daskhub"].path, "--kube-version", KUBE, values=[generated_values()])
    assert not result.ok
    assert "schema" in result.stderr and "jupyterhub" in result.stderr


def test_daskhub_checks_basehub_values_with_basehubs_schema(helm, prepared):
    bad = {"basehub": {"jupyterhub": {"cull": {"timeout": "an hour"}}}}
    result = helm.run("template", "dask", prepared["daskhub"].path, "--kube-version", KUBE, values=[bad])
    assert not result.ok
    assert "basehub" in result.stderr and "jupyterhub.cull.timeout" in result.stderr


# --- on the local cluster -------------------------------------------------------------------------


def _deployments_ready(api_client, namespace: str) -> dict[str, int]:
    from kubernetes import client

    apps = client.AppsV1Api(api_client)
    return {d.metadata.name: d.status.ready_replicas or 0 for d in apps.list_namespaced_deployment(namespace).items}


def require_kubernetes(api_client, minimum: tuple[int, int], what: str) -> None:
    """The real charts need a current cluster with a node that runs pods (the 1.34 local cluster)."""
    from kubernetes import client

    info = client.VersionApi(api_client).get_code()
    version = (int(info.major), int("".join(c for c in info.minor if c.isdigit())))
    if version < minimum:
        missing(f"a local cluster of Kubernetes >= {minimum[0]}.{minimum[1]} with a real node for {what} "
                f"(this one runs {info.git_version})")


def test_basehub_and_daskhub_become_ready_on_the_local_cluster(helm, prepared, local_cluster, hub_images, api_client,
                                                              namespace):
    """On the real node, with the local values layer (images built here; dask-gateway, the user scheduler
    and the pre-puller switched off: no images for them here). What is proven: both charts install with
    their real dependencies and their hub and proxy become Ready side by side. What is not: the dask
    gateway's own pods (api, controller, traefik) running, which needs images this machine cannot build."""
    require_kubernetes(api_client, (1, 28), "jupyterhub 4.3.3")
    from deployer.local.chart_defaults import chart_defaults
    from deployer.local.layers import hub_values, last_layer
    from deployer.plan.values_merge import merge_values

    kubeconfig = str(local_cluster.kubeconfig)
    installed: list[tuple[str, str]] = []
    try:
        for chart, release, values in (
            ("basehub", "hub", generated_values(namespace)),
            ("daskhub", "dask", {"basehub": generated_values(namespace)}),
        ):
            # one release per namespace, as deployer does; the second goes into a sibling namespace
            ns = namespace if chart == "basehub" else f"{namespace}-dask"
            # the local layers as deploy makes them: before the hub's values, and the last one over them all
            below = merge_values(values, hub_values(hub_images, chart=chart).values)
            layer = last_layer(merge_values(chart_defaults(prepared[chart].path), below), hub_images, chart)
            off = [o.component for o in layer.switched_off]
            # dask-gateway is on in daskhub's defaults only: basehub's is off already, so not listed
            assert ("basehub.dask-gateway.enabled" in off) is (chart == "daskhub"), off
            installed.append((release, ns))
            result = helm.run("upgrade", "--install", release, prepared[chart].path, "--namespace", ns,
                              "--create-namespace", "--wait", "--timeout", "240s", "--kubeconfig", kubeconfig,
                              values=[below, layer.values], timeout=300)
            assert result.ok, result.stderr
            ready = _deployments_ready(api_client, ns)
            assert set(ready) == {"hub", "proxy"}  # no user-scheduler, no gateway: switched off by the layer
            assert all(count >= 1 for count in ready.values()), ready
        # both hubs run at once
        assert all(_deployments_ready(api_client, ns) == {"hub": 1, "proxy": 1} for _, ns in installed)
    finally:
        from kubernetes import client

        for release, ns in installed:
            helm.run("uninstall", release, "--namespace", ns, "--kubeconfig", kubeconfig, timeout=120)
            if ns != namespace:
                client.CoreV1Api(api_client).delete_namespace(ns)


def test_support_installs_its_objects_and_no_issuer_before_the_crds_are_served(helm, prepared, scratch_cluster):
    """On an API-server-only Kubernetes 1.34 the real support chart installs its objects, and its
    ClusterIssuer waits for a later deploy, when cert-manager's CRDs are served (that render is tested
    in test_support_cluster_issuer_renders_only_where_cert_manager_api_is_served). What cannot be
    shown on this machine: the pods becoming Ready and the issuer's creation, which goes through
    cert-manager's webhook — nginx-ingress, cert-manager, Grafana and kube-state-metrics have no image
    buildable here (the local cluster's layer switches them off and names them). The support chart's own
    renderings are tested offline in test_support_chart.py."""
    up = scratch_cluster.up()
    assert up.status.healthy, up.status
    kubeconfig = up.status.kubeconfig
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=kubeconfig)
    require_kubernetes(api, (1, 22), "cert-manager v1.17.2")
    try:
        # --no-hooks: hook Jobs would wait for pods, and no pod runs on an API-server-only cluster
        result = helm.run("upgrade", "--install", "support", prepared["support"].path, "--namespace", "support",
                          "--create-namespace", "--no-hooks", "--timeout", "120s", "--kubeconfig", kubeconfig,
                          timeout=180)
        assert result.ok, result.stderr
        deployments = {d.metadata.name for d in client.AppsV1Api(api).list_namespaced_deployment("support").items}
        assert {"support-nginx-ingress-controller", "support-cert-manager", "support-prometheus-server",
                "support-kube-state-metrics", "support-grafana"} <= deployments
        issuers = client.CustomObjectsApi(api).list_cluster_custom_object(
            "cert-manager.io", "v1", "clusterissuers")["items"]
        assert [i["metadata"]["name"] for i in issuers] == []  # the CRD arrived with this very render
    finally:
        api.close()


def test_dask_clusters_carry_the_users_identity_and_need_its_account(helm, prepared):
    on = {"dask-gateway": {"enabled": True}}
    docs = helm.template(prepared["basehub"], values=[generated_values(), on])
    config = one(docs, "ConfigMap", "api-staging-dask-gateway")["data"]
    assert config["dask_gateway_config.py"].count("user-sa") == 2  # schedulers and workers
    result = helm.run("template", "staging", prepared["basehub"].path, "--kube-version", KUBE,
                      values=[generated_values(), on, {"userServiceAccount": {"enabled": False}}])
    assert not result.ok
    assert ("dask-gateway.gateway.backend.scheduler.extraPodConfig.serviceAccountName is user-sa, which "
            "userServiceAccount.enabled: false does not create") in result.stderr
