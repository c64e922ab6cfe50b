"""A cluster that `deployer provision` made on AWS: its support stack's outputs layer switches the cluster
autoscaler on with the IAM role terraform/aws made for it (and nothing for other clusters or charts)."""

from __future__ import annotations

from pathlib import Path

from deployer.plan.release_spec import ReleaseSpec
from deployer.plan.value_layers import LayerKind, LayerSources, layer_values, value_plan
from deployer.plan.computed_layers import support_cloud_values

OUTPUTS = {
    "cluster_name": "alpha-eks",
    "region": "us-west-2",
    "cluster_autoscaler_role_arn": "arn:aws:iam::123456789012:role/alpha-cluster-autoscaler",
    "cluster_autoscaler_service_account": {"namespace": "support", "name": "cluster-autoscaler"},
}


def test_the_autoscaler_role_output_switches_the_autoscaler_on_with_its_role_cluster_and_region():
    assert support_cloud_values(OUTPUTS) == {"cluster-autoscaler": {
        "enabled": True,
        "cloudProvider": "aws",
        "rbac": {"serviceAccount": {"name": "cluster-autoscaler", "annotations": {
            "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/alpha-cluster-autoscaler"}}},
        "autoDiscovery": {"clusterName": "alpha-eks"},
        "awsRegion": "us-west-2",
    }}


def test_outputs_without_an_autoscaler_role_add_nothing():
    assert support_cloud_values({"cluster_name": "g", "region": "europe-west1"}) == {}
    assert support_cloud_values({}) == {}


def _layers(spec: ReleaseSpec, chart: str):
    plan = value_plan(spec, OUTPUTS)
    filled = layer_values(plan, LayerSources(lambda p: {"cluster-autoscaler": {"enabled": False}}, chart,
                                             cloud_outputs=OUTPUTS))
    return {layer.kind: values for layer, values in filled}


def test_the_support_stack_gets_it_in_its_outputs_layer_and_its_own_file_can_turn_it_off():
    spec = ReleaseSpec("c/support", "support", "support", "c", "support", None, (Path("support.values.yaml"),),
                       provisioned=True)
    layers = _layers(spec, "support")
    cloud = layers[LayerKind.cloud]
    assert cloud["cluster-autoscaler"]["enabled"] is True
    assert cloud["global"]["cloud"]["cluster_autoscaler_role_arn"] == OUTPUTS["cluster_autoscaler_role_arn"]
    assert layers[LayerKind.values_file] == {"cluster-autoscaler": {"enabled": False}}  # layered after: it wins


def test_a_hub_gets_no_autoscaler_values():
    spec = ReleaseSpec("c/h", "h", "h", "c", "basehub", None, (), hub="h", provisioned=True)
    assert "cluster-autoscaler" not in _layers(spec, "basehub")[LayerKind.cloud]


def test_a_cost_monitoring_role_switches_cost_monitoring_on_with_it():
    role = "arn:aws:iam::123456789012:role/alpha-cost-monitoring"
    values = support_cloud_values({**OUTPUTS, "cost_monitoring_role_arn": role})
    assert values["jupyterhub-cost-monitoring"] == {
        "enabled": True, "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": role}}}
    assert values["cluster-autoscaler"]["enabled"] is True
    assert "jupyterhub-cost-monitoring" not in support_cloud_values({**OUTPUTS, "cost_monitoring_role_arn": None})
