"""One module (deployer.plan.value_layers) decides a release's chart and its values layers, in
order; deploy, diff and render all take the values from it."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from deployer.checks.validate import load_valid_cluster
from deployer.config.models import TerraformBackend, TerraformConfig
from deployer.plan import value_layers as rv
from deployer.plan.release_spec import ReleaseChart, ReleaseSpec, cluster_release_spec
from deployer.plan.value_layers import LayerKind, LayerSources, layer_values, value_plan
from tests.repo_builder import make_cluster

REPO = Path(__file__).resolve().parents[3]  # the examples under config/clusters


def example(name: str, *, provisioned: bool = False):
    cluster = load_valid_cluster(REPO, name).model
    if provisioned:
        cluster = cluster.model_copy(update={"terraform": TerraformConfig(
            backend=TerraformBackend(type="local", config={}))})
    return cluster


def plan_of(cluster_name: str, hub: str | None, *, provisioned: bool = False, outputs=None):
    cluster = example(cluster_name, provisioned=provisioned)
    spec = cluster_release_spec(Path("config/clusters") / cluster_name, cluster, hub, None)
    return value_plan(spec, outputs)


def test_the_local_cluster_adds_a_layer_before_the_files_and_its_substitutions_after_them():
    plan = plan_of("local", "staging")
    assert plan.names == ["generated", "local cluster", "values #1 common.values.yaml",
                          "values #2 staging.values.yaml", "values #3 enc-staging.secret.values.yaml",
                          "local substitutions"]
    assert [layer.secret for layer in plan.layers] == [False, False, False, False, True, False]
    assert plan.files[2].path == Path("config/clusters/local/enc-staging.secret.values.yaml")
    assert plan_of("local", None).names == ["generated", "local cluster", "values #1 support.values.yaml"]


@pytest.mark.parametrize("cluster", ["example-gcp", "example-aws", "example-azure"])
def test_a_provisioned_cloud_cluster_has_the_terraform_outputs_layer_before_the_files(cluster):
    files = (["values #1 prod.values.yaml", "values #2 enc-prod.secret.values.yaml"] if cluster == "example-gcp"
             else ["values #1 prod.values.yaml"])
    assert plan_of(cluster, "prod", provisioned=True).names == ["generated", "terraform outputs", *files]
    assert plan_of(cluster, None, provisioned=True).names == ["generated", "terraform outputs",
                                                              "values #1 support.values.yaml"]
    # a cluster deployer does not provision (no `terraform:` block, nothing saved): no such layer
    assert plan_of(cluster, "prod").names == ["generated", *files]


def test_a_kubeconfig_cluster_has_the_generated_layer_and_its_files_only():
    assert plan_of("example-kubeconfig", "staging").names == ["generated", "values #1 staging.values.yaml"]
    assert plan_of("example-kubeconfig", None).names == ["generated", "values #1 support.values.yaml"]
    # outputs saved for it (its `terraform:` block since removed) are still layered, as before
    assert plan_of("example-kubeconfig", "staging", outputs={"bucket": "b"}).names == [
        "generated", "terraform outputs", "values #1 staging.values.yaml"]


def test_the_plan_names_the_chart_source():
    assert plan_of("example-gcp", "prod").chart == ReleaseChart("daskhub")
    cluster = example("example-gcp")
    spec = cluster_release_spec(Path("f"), cluster, "prod", {"daskhub": Path("/charts/daskhub")})
    assert value_plan(spec).chart == ReleaseChart("daskhub", folder=Path("/charts/daskhub"))
    from deployer.config.models import RemoteChart

    remote = ReleaseSpec("c/h", "h", "h", "c", RemoteChart(name="jupyterhub", repository="https://hub.jupyter.org/helm-chart/",
                                                              version="4.3.3"), None, ())
    assert value_plan(remote).chart == ReleaseChart("jupyterhub", repository="https://hub.jupyter.org/helm-chart/",
                                                    version="4.3.3")
    assert value_plan(remote).chart.remote


def test_layers_are_filled_in_order_and_the_last_one_wins(tmp_path):
    spec = ReleaseSpec("c/h", "h", "h", "c", "basehub", None, (Path("a.yaml"), Path("enc-b.secret.yaml")),
                       domain="h.example.org", domain_override=Path("enc-domain.secret.yaml"), hub="h",
                       provider="local", provisioned=True)
    files = {"a.yaml": {"who": "a", "a": 1}, "enc-b.secret.yaml": {"who": "b"},
             "enc-domain.secret.yaml": {"domain": "other.example.org"}}
    reads: list[str] = []

    def read(path: Path) -> dict:
        reads.append(path.name)
        return files[path.name]

    seen: list[dict] = []

    def substitute(below: dict) -> dict:  # the last layer sees every layer before it, merged
        seen.append(below)
        return {"who": "last", "held": below["who"]}

    sources = LayerSources(read, "basehub", ("jupyterhub",), {"who": "local", "local": True},
                           {"bucket": "b1"}, substitute)
    filled = layer_values(value_plan(spec, sources.cloud_outputs), sources)
    assert [(layer.kind, values) for layer, values in filled] == [
        (LayerKind.generated, {"global": {"hubName": "h", "clusterName": "c", "domain": "other.example.org"},
                               "jupyterhub": {"ingress": {"hosts": ["other.example.org"], "tls": [
                                   {"hosts": ["other.example.org"], "secretName": "https-auto-tls"}]}}}),
        (LayerKind.local, {"who": "local", "local": True}),
        (LayerKind.cloud, {"global": {"cloud": {"bucket": "b1"}}}),
        (LayerKind.values_file, {"who": "a", "a": 1}),
        (LayerKind.secret_file, {"who": "b"}),
        (LayerKind.local_last, {"who": "last", "held": "b"}),
    ]
    assert seen[0]["who"] == "b" and seen[0]["local"] is True and seen[0]["a"] == 1
    assert reads == ["enc-domain.secret.yaml", "a.yaml", "enc-b.secret.yaml"]
    merged = rv.release_values(spec, sources)
    assert merged["who"] == "last" and merged["a"] == 1 and merged["local"] is True
    assert merged["global"] == {"hubName": "h", "clusterName": "c", "domain": "other.example.org",
                                "cloud": {"bucket": "b1"}}


def test_a_hub_without_a_domain_gets_the_cluster_name_only():
    spec = ReleaseSpec("c/h", "h", "h", "c", "basehub", None, (), hub="h")
    filled = layer_values(value_plan(spec), LayerSources(lambda p: {}, "basehub", ("jupyterhub",)))
    assert [(layer.name, values) for layer, values in filled] == [("generated", {"global": {"clusterName": "c"}})]


def test_the_support_stack_gets_the_cluster_name_and_prometheus_labels_every_alert_with_it():
    spec = ReleaseSpec("c/support", "support", "support", "c", "support", None, ())
    filled = layer_values(value_plan(spec), LayerSources(lambda p: {}, "support", ("prometheus",)))
    assert [(layer.name, values) for layer, values in filled] == [("generated", {
        "global": {"clusterName": "c"},
        "prometheus": {"server": {"global": {"external_labels": {"cluster": "c"}}}}})]


# --- deploy, diff and render take the same layers ------------------------------------------------

REMOTE_CLUSTER = """\
name: c
provider: kubeconfig
kubeconfig:
  file: enc-kubeconfig.secret.yaml
hubs:
- name: staging
  domain: staging.c.example.org
  helm_chart:
    name: basehub
    repository: https://charts.example.org/
    version: 1.0.0
  helm_chart_values_files:
  - staging.values.yaml
"""


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A cluster whose hub has a remote chart (nothing to prepare) and saved provision outputs."""
    monkeypatch.delenv("DEPLOYER_STATE_DIR", raising=False)
    make_cluster(tmp_path, "c", ["staging"], provider="kubeconfig", cluster_text=REMOTE_CLUSTER)
    from deployer.plan.terraform_plan import work_dir

    outputs = work_dir(tmp_path, "c", os.environ) / "outputs.json"
    outputs.parent.mkdir(parents=True)
    outputs.write_text(json.dumps({"outputs": {"bucket": "b1", "hub_role_arns": {"staging": "arn:x"}}}))
    return tmp_path


@pytest.fixture
def plans(monkeypatch):
    """Every call of THE layer order, by release id."""
    seen: list[tuple[str, tuple[str, ...]]] = []
    real = rv.value_plan

    def spy(spec, cloud_outputs=None):
        plan = real(spec, cloud_outputs)
        seen.append((spec.id, tuple(plan.names)))
        return plan

    monkeypatch.setattr(rv, "value_plan", spy)
    return seen


class FakeHelm:
    def __init__(self) -> None:
        from deployer.adapters.process import Redactor

        self.redactor = Redactor()
        self.sent: dict[str, dict] = {}

    async def upgrade_install(self, release, chart, values, **kw):
        self.sent["deploy"] = values
        return {"version": 1, "info": {"status": "deployed"}, "chart": {"metadata": {"version": "1.0.0"}}}

    async def render(self, release, chart, values, **kw):
        self.sent["diff"] = values
        return []

    async def manifest(self, release, namespace, timeout=60):
        return []

    async def user_values(self, release, namespace, revision=None, timeout=60):
        return {}


def _deploy_values(root: Path, helm: FakeHelm) -> dict:
    """What `deploy` hands helm (its ReleaseDeployer, built as run/deploy.py builds it)."""
    from deployer.config.charts import known_charts
    from deployer.plan.deploy_order import plan_hubs
    from deployer.run.engine import StepContext, StepResult
    from deployer.render.inputs import ValuesReader, ready_release, release_spec, saved_outputs
    from deployer.run.release import DeployOptions, ReleaseDeployer

    cluster = load_valid_cluster(root, "c").model
    spec = release_spec(root, cluster, plan_hubs(cluster, None)[0], known_charts(root))
    options = DeployOptions()
    ready = ready_release(spec, ValuesReader(None, saved_outputs(root, "c")), options.charts, None,  # type: ignore[arg-type]
                          Path("helm"))
    deployer = ReleaseDeployer(helm, options)
    ctx = StepContext(StepResult(spec.id, spec.id, ""), lambda r: None)
    outcome = asyncio.run(deployer.deploy(ready, ctx))
    assert outcome.message == "revision 1 deployed"
    return helm.sent["deploy"]


def test_deploy_and_diff_hand_helm_the_same_layers_saved_outputs_included(repo, plans):
    from deployer.run.cluster_connection import ClusterConnection
    from deployer.run.diff import run_diff
    from deployer.run.release import DeployOptions

    deploy_helm, diff_helm = FakeHelm(), FakeHelm()
    deployed = _deploy_values(repo, deploy_helm)
    cluster = load_valid_cluster(repo, "c").model
    conn = ClusterConnection(repo, cluster, None, None, None, helm_binary=Path("helm"),  # type: ignore[arg-type]
                             _helm=diff_helm)
    [diff] = run_diff(conn, None, DeployOptions(work_dir=repo / ".deployer" / "charts"))
    assert diff.error == "" and diff.installed
    layers = ("generated", "terraform outputs", "values #1 staging.values.yaml")
    assert plans == [("c/staging", layers), ("c/staging", layers)]
    assert diff_helm.sent["diff"] == deployed
    assert deployed["global"]["cloud"] == {"bucket": "b1", "hub_role_arns": {"staging": "arn:x"},
                                           "hub": {"roleArn": "arn:x"}}
    assert deployed["jupyterhub"]["custom"] == {"name": "staging"}


def test_render_hands_helm_template_the_values_deploy_hands_helm_upgrade(repo, plans):
    from deployer.plan.deploy_order import plan_hubs
    from deployer.render.renderer import Renderer, RenderOptions

    deployed = _deploy_values(repo, FakeHelm())

    class Runner:
        inputs: list[str] = []

        def run(self, args, *, timeout, env=None, input=None):
            from deployer.adapters.process import Completed

            self.inputs.append(input)
            return Completed(tuple(str(a) for a in args), 1, "", "Error: stop here", 0.0)

    runner = Runner()
    cluster = load_valid_cluster(repo, "c").model
    renderer = Renderer(repo, RenderOptions(work_dir=repo / ".deployer" / "charts", schemas=False), runner,  # type: ignore[arg-type]
                        Path("helm"))
    rendered = renderer.render(cluster, plan_hubs(cluster, None)[0], "1.31")
    assert [p.code for p in rendered.problems] == ["template-failed"]
    assert [layers for _, layers in plans] == [("generated", "terraform outputs", "values #1 staging.values.yaml")] * 2
    assert json.loads(runner.inputs[0]) == deployed


# --- plan-upgrade compares the layers' order; the ledger digests the layers' data ----------------


def _inputs(root: Path, clusters: dict):
    from deployer.config.charts import known_charts
    from deployer.plan.release_inputs import Snapshot, release_inputs

    return release_inputs(Snapshot.of_folder(root, clusters, known_charts(root)))


def test_two_orders_of_the_layers_give_two_digests_and_the_plan_names_the_order(tmp_path, monkeypatch):
    from deployer.plan import release_inputs as upgrade
    from deployer.plan.changed_releases import _reasons
    from deployer.plan.release_inputs import release_digest

    make_cluster(tmp_path, "c", ["staging"], provider="local")
    clusters = {"c": load_valid_cluster(tmp_path, "c").model}
    before = _inputs(tmp_path, clusters)
    real = upgrade.value_plan

    def files_before_the_local_layer(spec, cloud_outputs=None):
        plan = real(spec, cloud_outputs)
        local = [layer for layer in plan.layers if layer.kind is LayerKind.local]
        return rv.ValuePlan(plan.release, plan.chart, (plan.layers[0], *plan.files, *local), plan.cluster, plan.hub,
                            plan.domain, plan.domain_override)

    monkeypatch.setattr(upgrade, "value_plan", files_before_the_local_layer)
    after = _inputs(tmp_path, clusters)
    assert sorted(after) == ["c/staging", "c/support"]
    for rid in after:
        assert release_digest(before[rid]) != release_digest(after[rid])
        assert _reasons(before[rid], after[rid]) == ["changed value layers"]


def test_a_cluster_given_a_terraform_block_replans_for_its_outputs_layer(tmp_path):
    from deployer.plan.changed_releases import _reasons

    make_cluster(tmp_path, "c", ["staging", "prod"], provider="kubeconfig")
    cluster = load_valid_cluster(tmp_path, "c").model
    before = _inputs(tmp_path, {"c": cluster})
    provisioned = cluster.model_copy(update={"terraform": TerraformConfig(backend=TerraformBackend(type="local"))})
    after = _inputs(tmp_path, {"c": provisioned})
    assert {rid: _reasons(before[rid], after[rid]) for rid in after} == {
        "c/prod": ["changed value layers"], "c/staging": ["changed value layers"],
        "c/support": ["changed value layers"]}
    assert _reasons(before["c/prod"], _inputs(tmp_path, {"c": cluster})["c/prod"]) == []
