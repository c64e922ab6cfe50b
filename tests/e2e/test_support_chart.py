"""The support chart with its real dependencies (../shared/charts), rendered by the real helm, offline.

- nginx-ingress 2.4.4's schema refers to Kubernetes definitions on the internet: prepared by deployer it
  is checked all the same with no network, and the raw chart shows why that preparation is needed;
- no key is accepted and ignored: for every key the support schema accepts (walked, not listed), a
  change of its value changes the rendered objects, or `validate` refuses it;
- what its own templates render (autoscaler from provision outputs, calico, device plugins, core dumps,
  the Prometheus auth Secret, cost monitoring, Fluent Bit), and the local cluster's layer over it.
"""

from __future__ import annotations

import copy
import json
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from deployer.adapters.charts import PreparedChart, helm_home_env, prepare_chart
from deployer.adapters.process import Completed, ProcessRunner
from deployer.plan.computed_layers import support_cloud_values
from deployer.plan.values_merge import merge_values
from deployer.plan.values_path import dig
from tests.conftest import REPO, require_chart_repo, require_tool

pytestmark = pytest.mark.e2e

CHART = REPO / "helm-charts" / "support"
KUBE = "1.34.0"
# no network for helm, for certain: any download it tried would go to a closed port
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
CERT_MANAGER_API = ("--api-versions", "cert-manager.io/v1")
STDOUT_OUTPUT = "[OUTPUT]\n    Name stdout\n    Match *\n"


class Helm:
    def __init__(self, binary: Path, work: Path) -> None:
        self.binary = binary
        self.work = work
        self.runner = ProcessRunner()

    def run(self, *args: Any, values: Optional[dict] = None, timeout: float = 120) -> Completed:
        argv: list[Any] = [self.binary, *args]
        if values is not None:
            argv += ["--values", "-"]
        return self.runner.run(argv, timeout=timeout, env={**helm_home_env(self.work), **OFFLINE},
                               input=yaml.safe_dump(values) if values is not None else None)

    def template(self, chart: Path, values: dict, *extra: str) -> Completed:
        return self.run("template", "support", chart, "--namespace", "support", "--kube-version", KUBE,
                        *extra, values=values)


def docs(result: Completed) -> list[dict]:
    assert result.ok, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def find(objs: list[dict], kind: str, name: Optional[str] = None) -> list[dict]:
    return [d for d in objs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(objs: list[dict], kind: str, name: str) -> dict:
    found = find(objs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {[d['metadata']['name'] for d in find(objs, kind)]}"
    return found[0]


@pytest.fixture(scope="module")
def helm(tmp_path_factory) -> Helm:
    return Helm(require_tool("helm"), tmp_path_factory.mktemp("support-helm"))


@pytest.fixture(scope="module")
def support(helm) -> PreparedChart:
    return prepare_chart(CHART, work_dir=helm.work / "charts", chart_repo=require_chart_repo(), runner=helm.runner,
                         helm=helm.binary)


# --- nginx-ingress's schema, offline ------------------------------------------------------------


def test_the_raw_nginx_ingress_chart_cannot_be_rendered_offline(helm, tmp_path):
    """Why deployer prepares it: helm fetches the schema's remote $refs before rendering anything."""
    archive = require_chart_repo() / "nginx-ingress-2.4.4.tgz"
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path, filter="data")
    result = helm.run("template", "x", tmp_path / "nginx-ingress", "--kube-version", KUBE)
    assert not result.ok
    assert "kubernetes-json-schema/master/v1.35.1/_definitions.json" in result.stderr


def test_the_prepared_nginx_ingress_schema_has_no_remote_reference_and_still_checks_values(helm, support):
    schema_file = support.path / "charts" / "nginx-ingress" / "values.schema.json"
    text = schema_file.read_text()
    assert "https://raw.githubusercontent.com" not in text and '"$ref": "http' not in text
    assert "io.k8s.api.core.v1.Volume" in json.loads(text)["definitions"]
    assert docs(helm.template(support.path, {}))  # renders with helm's network cut off
    # a value checked through a formerly remote definition (Volume -> HostPathVolumeSource.path: string)
    bad = {"nginx-ingress": {"controller": {"volumes": [{"name": "v", "hostPath": {"path": 3}}]}}}
    result = helm.template(support.path, bad)
    assert not result.ok
    assert "controller.volumes.0.hostPath.path" in result.stderr and "Expected: string" in result.stderr
    # and one checked by the chart's own part of the schema
    result = helm.template(support.path, {"nginx-ingress": {"controller": {"replicaCount": "two"}}})
    assert not result.ok and "controller.replicaCount" in result.stderr


# --- what the chart renders ---------------------------------------------------------------------


def test_defaults_render_nginx_ingress_as_the_default_class_cert_manager_prometheus_grafana(helm, support):
    objs = docs(helm.template(support.path, {}))
    one(objs, "Deployment", "support-nginx-ingress-controller")
    ingress_class = one(objs, "IngressClass", "nginx")
    assert ingress_class["spec"]["controller"] == "nginx.org/ingress-controller"
    assert ingress_class["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"] == "true"
    config = one(objs, "ConfigMap", "support-nginx-ingress")["data"]
    assert config["proxy-read-timeout"] == "3600s" and config["client-max-body-size"] == "256m"
    one(objs, "Deployment", "support-cert-manager")
    one(objs, "Deployment", "support-prometheus-server")
    one(objs, "DaemonSet", "disable-coredumps")
    datasources = yaml.safe_load(one(objs, "ConfigMap", "support-grafana")["data"]["datasources.yaml"])
    assert datasources["datasources"][0]["url"] == "http://support-prometheus-server"
    assert find(objs, "Deployment", "support-aws-cluster-autoscaler") == []  # off unless asked for
    assert find(objs, "Secret", "prometheus-auth") == []  # no credentials given


def test_prometheus_service_name_does_not_depend_on_the_release_name(helm, support):
    result = helm.run("template", "monitoring", support.path, "--namespace", "monitoring", "--kube-version", KUBE,
                      values={})
    one(docs(result), "Service", "support-prometheus-server")


def test_the_cluster_issuer_renders_only_where_the_cert_manager_api_is_served(helm, support):
    assert find(docs(helm.template(support.path, {})), "ClusterIssuer") == []
    values = {"letsencrypt": {"clusterIssuer": {"contactEmail": "ops@example.org"}}}
    issuer = one(docs(helm.template(support.path, values, *CERT_MANAGER_API)), "ClusterIssuer", "letsencrypt-prod")
    assert issuer["spec"]["acme"]["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert issuer["spec"]["acme"]["email"] == "ops@example.org"
    assert issuer["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["ingressClassName"] == "nginx"


def test_grafana_gets_an_ingress_with_tls_when_hosts_are_given_and_none_otherwise(helm, support):
    objs = docs(helm.template(support.path, {"grafana": {"ingress": {"hosts": ["grafana.example.org"]}}}))
    ingress = one(objs, "Ingress", "support-grafana")
    assert ingress["spec"]["tls"] == [{"hosts": ["grafana.example.org"], "secretName": "grafana.example.org-tls"}]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    # nginx-ingress refuses a second Ingress for the host: cert-manager's challenge edits this one
    assert ingress["metadata"]["annotations"]["acme.cert-manager.io/http01-edit-in-place"] == "true"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    [rule] = ingress["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    port = one(objs, "Service", "support-grafana")["spec"]["ports"][0]["port"]
    assert backend == {"name": "support-grafana", "port": {"number": port}}
    # the corpus' form: its own tls list is used as given
    tls = [{"secretName": "grafana-tls", "hosts": ["grafana.example.org"]}]
    values = {"grafana": {"ingress": {"hosts": ["grafana.example.org"], "tls": tls}}}
    given = docs(helm.template(support.path, values))
    assert one(given, "Ingress", "support-grafana")["spec"]["tls"] == tls
    assert find(docs(helm.template(support.path, {})), "Ingress") == []
    off = {"grafana": {"ingress": {"enabled": False, "hosts": ["grafana.example.org"]}}}
    assert find(docs(helm.template(support.path, off)), "Ingress") == []


def test_the_schema_rejects_a_malformed_allowlist_entry(helm, support):
    result = helm.template(support.path, {"prometheus": {"kube-state-metrics": {"metricLabelsAllowlist": ["app"]}}})
    assert not result.ok and "metricLabelsAllowlist" in result.stderr


def test_provision_outputs_give_an_autoscaler_with_its_role_cluster_and_region(helm, support):
    outputs = {"cluster_name": "alpha-eks", "region": "eu-west-1",
               "cluster_autoscaler_role_arn": "arn:aws:iam::123456789012:role/alpha-cluster-autoscaler",
               "cluster_autoscaler_service_account": {"namespace": "support", "name": "cluster-autoscaler"}}
    objs = docs(helm.template(support.path, support_cloud_values(outputs)))
    deployment = one(objs, "Deployment", "support-aws-cluster-autoscaler")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "cluster-autoscaler"
    container = pod["containers"][0]
    assert "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/alpha-eks" \
        in container["command"]
    assert {"name": "AWS_REGION", "value": "eu-west-1"} in container["env"]
    account = one(objs, "ServiceAccount", "cluster-autoscaler")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": outputs["cluster_autoscaler_role_arn"]}


def test_an_autoscaler_switched_on_with_nothing_to_discover_is_refused_with_the_keys(helm, support):
    result = helm.template(support.path, {"cluster-autoscaler": {"enabled": True}})
    assert not result.ok
    assert ("cluster-autoscaler.enabled is true but neither cluster-autoscaler.autoDiscovery.clusterName nor "
            ".autoscalingGroups is set") in result.stderr


def test_the_corpus_autoscaler_settings_render_an_autoscaler_for_that_cluster(helm, support):
    values = {"cluster-autoscaler": {"enabled": True, "autoDiscovery": {"clusterName": "bnext-bio"},
                                     "awsRegion": "us-west-2"}}
    container = one(docs(helm.template(support.path, values)), "Deployment",
                    "support-aws-cluster-autoscaler")["spec"]["template"]["spec"]["containers"][0]
    assert any(a.endswith("k8s.io/cluster-autoscaler/bnext-bio") for a in container["command"])


def test_prometheus_auth_secret_is_made_from_the_credentials_and_required_when_switched_on(helm, support):
    objs = docs(helm.template(support.path, {"prometheusAuthSecret": {"username": "u", "password": "p"}}))
    assert one(objs, "Secret", "prometheus-auth")["data"] == {"username": "dQ==", "password": "cA=="}
    off = docs(helm.template(support.path, {"prometheusAuthSecret": {"enabled": False, "username": "u",
                                                                     "password": "p"}}))
    assert find(off, "Secret", "prometheus-auth") == []
    result = helm.template(support.path, {"prometheusAuthSecret": {"enabled": True}})
    assert not result.ok and "prometheusAuthSecret.enabled is true but" in result.stderr


def test_fluent_bit_needs_its_outputs(helm, support):
    result = helm.template(support.path, {"fluent-bit": {"enabled": True}})
    assert not result.ok and "fluent-bit.config.outputs is empty" in result.stderr
    objs = docs(helm.template(support.path, {"fluent-bit": {"enabled": True, "config": {"outputs": STDOUT_OUTPUT}}}))
    conf = one(objs, "ConfigMap", "fluent-bit")["data"]["fluent-bit.conf"]
    assert "Name kubernetes_events" in conf and "Name stdout" in conf
    assert one(objs, "Deployment", "fluent-bit")["spec"]["replicas"] == 1


def test_the_local_layer_runs_the_monitoring_stack_from_local_images_with_the_charts_own_jobs(helm, support):
    from deployer.local.images import image_refs
    from deployer.local.layers import support_values

    refs = image_refs()
    objs = docs(helm.template(support.path, support_values(refs, hubs=["staging"]).values))
    images = sorted({c["image"] for d in objs for c in _containers(d)})
    assert images == sorted(refs[n] for n in ("prometheus", "kube-state-metrics", "node-exporter", "alertmanager"))
    server = one(objs, "Deployment", "support-prometheus-server")["spec"]["template"]["spec"]["containers"][0]
    assert "--web.config.file=/etc/config/web.yml" in server["args"]
    config = one(objs, "ConfigMap", "support-prometheus-server")["data"]
    prometheus_yml = yaml.safe_load(config["prometheus.yml"])
    jobs = [j["job_name"] for j in prometheus_yml["scrape_configs"]]
    # the chart's own kubernetes_sd jobs (Prometheus is built here with Kubernetes service discovery)
    assert {"kubernetes-api-servers", "kubernetes-nodes", "kubernetes-nodes-cadvisor", "kubernetes-service-endpoints",
            "kubernetes-pods", "prometheus"} <= set(jobs)
    assert "kubernetes_sd_configs" in config["prometheus.yml"]
    assert prometheus_yml["global"]["scrape_interval"] == "15s"
    assert prometheus_yml["alerting"]["alertmanagers"][0]["kubernetes_sd_configs"] == [{"role": "pod"}]
    node_exporter = one(objs, "DaemonSet", "support-prometheus-node-exporter")["spec"]["template"]["spec"]
    assert (node_exporter["hostNetwork"], node_exporter["hostPID"]) == (True, True)
    assert yaml.safe_load(config["web.yml"]) == {}


def _containers(doc: dict) -> list[dict]:
    spec = (doc.get("spec") or {}).get("template", {}).get("spec") or (doc["spec"] if doc["kind"] == "Pod" else {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def test_alert_routing_becomes_alertmanagers_configuration_in_a_secret(helm, support):
    values = {"alertRouting": {"receivers": {"oncall": {"webhookUrl": "https://hooks.example.org/a"},
                                             "chat": {"webhookUrl": "https://chat.example.org/b", "sendResolved": False}},
                               "receiver": "chat",
                               "routes": [{"receiver": "oncall", "matchers": ['severity="critical"'], "continue": True}]}}
    objs = docs(helm.template(support.path, values))
    config = yaml.safe_load(one(objs, "Secret", "support-alertmanager-config")["stringData"]["alertmanager.yml"])
    assert config == {
        "receivers": [{"name": "null"},
                      {"name": "chat", "webhook_configs": [{"url": "https://chat.example.org/b", "send_resolved": False}]},
                      {"name": "oncall", "webhook_configs": [{"url": "https://hooks.example.org/a", "send_resolved": True}]}],
        "route": {"receiver": "chat", "group_by": ["alertname", "cluster", "hub"], "group_wait": "30s",
                  "group_interval": "5m", "repeat_interval": "4h",
                  "routes": [{"receiver": "oncall", "matchers": ['severity="critical"'], "continue": True}]}}
    pod = one(objs, "StatefulSet", "support-alertmanager")["spec"]["template"]["spec"]
    assert {"name": "config", "secret": {"secretName": "support-alertmanager-config"}} in pod["volumes"]


def test_alert_rules_reach_prometheus_with_for_set_per_cluster_or_not_at_all(helm, support):
    objs = docs(helm.template(support.path, {"alertRules": {"for": {"JupyterHubHubDown": "2m"}}}))
    rules = one(objs, "ConfigMap", "support-alert-rules")["data"]
    assert sorted(rules) == ["jupyterhub.yml", "nodes.yml", "prometheus.yml", "volumes.yml"]
    jupyterhub = {r["alert"]: r for r in yaml.safe_load(rules["jupyterhub.yml"])["groups"][0]["rules"]}
    assert jupyterhub["JupyterHubHubDown"]["for"] == "2m" and jupyterhub["JupyterHubProxyDown"]["for"] == "5m"
    server = one(objs, "Deployment", "support-prometheus-server")["spec"]["template"]["spec"]
    mounts = {m["mountPath"] for c in server["containers"] for m in c.get("volumeMounts", [])}
    assert "/etc/support-alert-rules" in mounts
    config = yaml.safe_load(one(objs, "ConfigMap", "support-prometheus-server")["data"]["prometheus.yml"])
    assert "/etc/support-alert-rules/*.yml" in config["rule_files"]
    off = docs(helm.template(support.path, {"alertRules": {"enabled": False}}))
    assert one(off, "ConfigMap", "support-alert-rules").get("data") in (None, {})


# --- every key changes what is rendered, or is refused ------------------------------------------

# Everything the chart's own templates can render, switched on, so that a key below a switch matters.
ALL_ON: dict = {
    "global": {"clusterName": "walk"},
    "cluster-autoscaler": {"enabled": True, "autoDiscovery": {"clusterName": "walk"}, "awsRegion": "us-west-2"},
    "calico": {"enabled": True},
    "nvidiaDevicePlugin": {"aws": {"enabled": True}, "azure": {"enabled": True}},
    "disableCoredumps": {"enabled": True},
    "prometheusAuthSecret": {"username": "u", "password": "p"},
    "prometheusStorageClass": {"gke": {"enabled": True}},
    "clusterEntrypoint": {"targetController": "nginx-ingress"},
    "copyfail": {"enabled": True},
    "dirtyfrag": {"enabled": True},
    "jupyterhub-cost-monitoring": {"enabled": True, "prometheusAuth": {"enabled": True, "username": "u",
                                                                        "password": "p"}},
    "fluent-bit": {"enabled": True, "config": {"outputs": STDOUT_OUTPUT}},
    "grafana": {"adminPassword": "fixed", "ingress": {"hosts": ["grafana.example.org"]}},
    "alertRouting": {"receivers": {"oncall": {"webhookUrl": "https://hooks.example.org/walk"}}},
}

# Values for schema nodes whose type alone does not say what a meaningful change is.
SPECIAL: dict[str, list[Any]] = {
    "global": [{"clusterName": "other"}],
    "prometheus.kube-state-metrics.metricLabelsAllowlist": [["pods=[app]"]],
    "prometheus.server.retention": ["30d"],
    "letsencrypt.clusterIssuer.contactEmail": ["ops@example.org"],
    "letsencrypt.clusterIssuer.server": ["https://acme-staging-v02.api.letsencrypt.org/directory"],
    "prometheusStorageClass.gke.name": ["standard-retain"],
    "clusterEntrypoint": [None],
    "fluent-bit.config.outputs": ["[OUTPUT]\n    Name null\n"],
    "grafana.datasources": [{"walk.yaml": {"apiVersion": 1, "datasources": [{"name": "walk", "type": "loki"}]}}],
    "alertRouting.receivers": [{"walk": {"webhookUrl": "https://hooks.example.org/other", "sendResolved": False}}],
    "alertRouting.receiver": ["oncall"],
    "alertRouting.routes": [[{"receiver": "oncall", "matchers": ['severity="critical"'], "continue": True}]],
    "alertRouting.groupWait": ["1m"],
    "alertRouting.groupInterval": ["1m"],
    "alertRouting.repeatInterval": ["1h"],
    # each alert's `for:` (the schema names every alert the chart ships)
    **{f"alertRules.for.{alert}": ["1m"] for alert in json.loads((CHART / "values.schema.json").read_text())[
        "properties"]["alertRules"]["properties"]["for"]["properties"]},
}


def _type_candidates(path: str, schema: dict, current: Any) -> list[Any]:
    """Values that differ from `current` and fit `schema`."""
    if path in SPECIAL:
        return SPECIAL[path]
    if "const" in schema:
        return [not schema["const"]] if isinstance(schema["const"], bool) else []
    if "enum" in schema:
        return [v for v in schema["enum"] if v != current]
    types = schema.get("type", [])
    types = types if isinstance(types, list) else [types]
    out: list[Any] = []
    if "boolean" in types:
        out += [v for v in (True, False) if v is not current]
    if "null" in types and current is not None:
        out.append(None)
    if "integer" in types:
        out.append((current if isinstance(current, int) else 1) + 2)
    if "string" in types:
        out.append(f"{current or 'walk'}-changed")
    if "array" in types:
        items = schema.get("items", {})
        if items.get("type") == "object":
            out.append([*(current or []), {"name": "WALK", "value": "x", "key": "walk", "operator": "Exists"}])
        else:
            out.append([*(current or []), "walk"])
    if "object" in types and "properties" not in schema:
        extra = schema.get("additionalProperties")
        out.append({**(current or {}), "walk": ({"cpu": "1m"} if path.endswith("resources") else "walk")
                    if extra in (None, True) or extra.get("type") != "string" else "walk"})
    return out


def _leaves(schema: dict, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], dict]]:
    """Every node of the schema that takes a value of its own (a node with `properties` is walked into)."""
    props = schema.get("properties")
    if props is None or ".".join(path) in SPECIAL:
        return [(path, schema)]
    out = []
    for key, sub in props.items():
        out += _leaves(sub, (*path, key))
    return out


def _with(values: dict, path: tuple[str, ...], value: Any) -> dict:
    out = copy.deepcopy(values)
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return out


def _refused_by_validate(tmp_path: Path, values: dict, provider: str = "aws") -> bool:
    from deployer.checks.support_values import check_support_values, schema_keys
    from deployer.config.file_reader import FileReader

    path = tmp_path / "support.values.yaml"
    path.write_text(yaml.safe_dump(values))
    problems = check_support_values(provider, [FileReader(tmp_path).read(path)], schema_keys(CHART) or {})
    return any(p.severity == "error" for p in problems)  # a warning refuses nothing


def test_every_key_the_support_schema_accepts_changes_the_rendered_objects_or_is_refused(helm, support, tmp_path):
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    base_values = ALL_ON
    base = helm.template(support.path, base_values, *CERT_MANAGER_API)
    assert base.ok, base.stderr
    assert base.stdout == helm.template(support.path, base_values, *CERT_MANAGER_API).stdout  # deterministic
    leaves = _leaves(schema)
    assert len(leaves) > 60  # walked from the schema, not listed here

    def judge(leaf: tuple[tuple[str, ...], dict]) -> Optional[str]:
        path, node = leaf
        dotted = ".".join(path)
        current = dig(merge_values(defaults, base_values), path)
        candidates = _type_candidates(dotted, node, current)
        if not candidates:
            return f"{dotted}: no value to change it to (add one to SPECIAL)"
        tried = []
        for value in candidates:
            values = _with(base_values, path, value)
            if _refused_by_validate(tmp_path / dotted.replace("/", "_"), values):
                return None
            result = helm.template(support.path, values, *CERT_MANAGER_API)
            if result.ok and result.stdout != base.stdout:
                return None
            tried.append(f"{value!r} -> {'same objects' if result.ok else result.stderr.strip().splitlines()[-1]}")
        return f"{dotted}: " + "; ".join(tried)

    for leaf in leaves:
        (tmp_path / ".".join(leaf[0]).replace("/", "_")).mkdir()
    with ThreadPoolExecutor(4) as pool:
        ignored = [r for r in pool.map(judge, leaves) if r]
    assert ignored == [], "keys accepted and ignored:\n" + "\n".join(ignored)


def test_the_walk_sees_validate_refuse_a_provider_mismatch(tmp_path):
    assert _refused_by_validate(tmp_path, {"cluster-autoscaler": {"enabled": True}}, provider="gcp")
    assert not _refused_by_validate(tmp_path, {"cluster-autoscaler": {"enabled": True}}, provider="aws")


# --- the corpus -------------------------------------------------------------------------------------

CORPUS = REPO.parent / "shared" / "corpus" / "2i2c"


def test_every_support_stack_of_the_corpus_renders_clean(tmp_path):
    """The 20 clusters' support stacks (14 ask for a cluster autoscaler, most for calico and the NVIDIA
    plugin, one for cost monitoring): validate's checks, helm template, the Kubernetes API schemas."""
    import time

    from deployer.checks.validate import validate
    from deployer.plan.deploy_order import plan_support
    from deployer.render.renderer import RenderOptions, Renderer, kubernetes_version

    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    started = time.monotonic()
    validation = validate(CORPUS)
    support_errors = [p for p in validation.report.errors if p.file.endswith("support.values.yaml")
                      or "support" in p.file.rsplit("/", 1)[-1]]
    assert support_errors == []
    renderer = Renderer(CORPUS, RenderOptions(work_dir=tmp_path / "charts", chart_repo=require_chart_repo()),
                        ProcessRunner(), require_tool("helm"))
    jobs = [(d.model, p) for d in validation.docs for p in plan_support(d.model)]
    assert len(jobs) == 20
    with ThreadPoolExecutor(4) as pool:
        rendered = list(pool.map(lambda j: renderer.render(j[0], j[1], kubernetes_version(j[0])), jobs))
    errors = [(r.id, p.code, p.message) for r in rendered for p in r.problems if p.severity == "error"]
    assert errors == []
    # what the corpus does give and nothing reads: 11 clusters put `auth.github` beside `grafana.ini`, where the
    # grafana chart (no values schema) never looks, so their Grafana has no GitHub login; said, not dropped
    warnings = {(r.cluster, p.code, p.message.split("`")[1]) for r in rendered for p in r.problems
                if p.severity == "warning"}
    assert {w[1:] for w in warnings} == {("subchart-value-unread", "grafana.auth.github")}
    assert len(warnings) == 11
    autoscalers = sorted(r.cluster for r in rendered
                         if any(o.kind == "Deployment" and o.name == "support-aws-cluster-autoscaler" for o in r.objects))
    assert len(autoscalers) == 14 and "bnext-bio" in autoscalers
    cost = [r.cluster for r in rendered if any(o.name == "jupyterhub-cost-monitoring" and o.kind == "Deployment"
                                               for o in r.objects)]
    assert cost == ["earthscope"]
    print(f"20 corpus support stacks rendered clean in {time.monotonic() - started:.1f}s")


def test_validate_refuses_an_autoscaler_on_a_gcp_corpus_cluster_naming_file_line_key_and_fix(tmp_path):
    import shutil
    import subprocess
    import sys

    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    root = tmp_path / "fleet"
    shutil.copytree(CORPUS / "config" / "clusters" / "2i2c-uk", root / "config" / "clusters" / "2i2c-uk")
    values = root / "config" / "clusters" / "2i2c-uk" / "support.values.yaml"
    lines = len(values.read_text().splitlines())
    with values.open("a") as f:
        f.write("cluster-autoscaler:\n  enabled: true\n  autoDiscovery:\n    clusterName: uk\n")
    proc = subprocess.run([sys.executable, "-m", "deployer", "--root", str(root), "validate", "2i2c-uk"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "config/clusters/2i2c-uk/support.values.yaml" in proc.stdout
    assert f"{lines + 2}:3  error   support: `cluster-autoscaler.enabled: true` on a gcp cluster  " \
           "[cluster-autoscaler-not-needed]" in proc.stdout
    assert "hint: gcp scales node pools itself" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_an_autoscaler_switched_on_whose_chart_the_repository_lacks_is_refused_naming_file_key_and_fix(tmp_path):
    """A chart repository without cluster-autoscaler: a support stack that leaves it off renders; one that
    switches it on is refused (never rendered without it), naming the values file and the switch."""
    import shutil
    import subprocess
    import sys

    repo = tmp_path / "charts"
    repo.mkdir()
    for archive in require_chart_repo().glob("*.tgz"):
        if not archive.name.startswith("cluster-autoscaler-"):
            shutil.copy(archive, repo)
    helm = require_tool("helm")
    assert ProcessRunner().run([helm, "repo", "index", repo], timeout=120).ok
    root = tmp_path / "fleet"
    folder = root / "config" / "clusters" / "alpha"
    folder.mkdir(parents=True)
    (folder / "cluster.yaml").write_text("name: alpha\nprovider: kubeconfig\nkubeconfig:\n  file: enc-kubeconfig.yaml\n"
                                         "support:\n  helm_chart_values_files: [support.values.yaml]\nhubs: []\n")
    (folder / "enc-kubeconfig.yaml").write_text("sops: {}\n")
    values = folder / "support.values.yaml"

    def render() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "deployer", "--root", str(root), "render", "alpha",
                               "--chart-repo", str(repo)], capture_output=True, text=True, timeout=300)

    values.write_text("grafana: {}\n")
    off = render()
    assert off.returncode == 0, off.stdout + off.stderr
    values.write_text("cluster-autoscaler:\n  enabled: true\n  autoDiscovery: {clusterName: alpha}\n")
    on = render()
    assert on.returncode == 1, on.stdout + on.stderr
    assert "[switched-on-chart-missing]" in on.stderr
    assert "`cluster-autoscaler.enabled` (set in support.values.yaml) switches on cluster-autoscaler" in on.stderr
    assert "Traceback" not in on.stderr
