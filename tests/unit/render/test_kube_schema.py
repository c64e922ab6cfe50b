"""render/kube_schema.py: rendered objects against the Kubernetes API schemas of the cluster's version
(render, and deploy --dry-run), with resource quantities checked as the API server parses them (the
bundled schemas accept any string)."""

from __future__ import annotations

import pytest

from deployer.render.kube_schema import KubeSchemas, check_objects


def deployment(memory="1Gi", host_network=False) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hub"},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}},
                                  "spec": {"hostNetwork": host_network,
                                           "containers": [{"name": "hub", "image": "x",
                                                           "resources": {"limits": {"memory": memory}}}]}}}}


@pytest.fixture(scope="module")
def schemas():
    return KubeSchemas("1.34")


@pytest.mark.parametrize("memory", ["1Gi", "512Mi", "500m", "1.5", "2e3", "1E", 3, 0.5, "+1k", ".5Gi"])
def test_a_valid_quantity_passes(schemas, memory):
    assert schemas.check(deployment(memory=memory)) == (True, [])


@pytest.mark.parametrize("memory", ["abc", "1 Gi", "1GB", "Gi", "1.2.3", "", "1Gii", "--1"])
def test_a_quantity_the_api_server_would_refuse_is_a_finding(schemas, memory):
    checked, findings = schemas.check(deployment(memory=memory))
    assert checked
    assert [f.message for f in findings] == [
        f"spec.template.spec.containers.0.resources.limits.memory: {memory!r} is not a Kubernetes quantity "
        "(e.g. 512Mi, 2Gi, 500m, 1.5)"]


def test_check_objects_counts_and_names_each_problem(schemas):
    checked, skipped, problems = check_objects(
        [deployment(host_network="x"), deployment(memory="abc"),
         {"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware", "metadata": {"name": "m"}}], schemas)
    assert (checked, skipped) == (2, 1)
    assert problems == [
        "Deployment hub: spec.template.spec.hostNetwork: 'x' is not of type 'boolean', 'null'",
        "Deployment hub: spec.template.spec.containers.0.resources.limits.memory: 'abc' is not a Kubernetes quantity "
        "(e.g. 512Mi, 2Gi, 500m, 1.5)"]


def _pod(**spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


def test_a_valid_object_passes_and_a_wrong_type_is_found_naming_the_field():
    schemas = KubeSchemas("1.34")
    assert schemas.check(_pod()) == (True, [])
    checked, findings = schemas.check(_pod(hostNetwork="x"))
    assert checked and len(findings) == 1
    assert "hostNetwork" in findings[0].message and not findings[0].unknown_api


def test_an_api_the_version_does_not_serve_is_found_and_a_custom_resource_is_not_checked():
    schemas = KubeSchemas("1.34")
    checked, findings = schemas.check({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy",
                                       "metadata": {"name": "x"}, "spec": {}})
    assert checked and [f.unknown_api for f in findings] == [True]
    assert findings[0].message == "policy/v1beta1 PodSecurityPolicy is not served by Kubernetes 1.34"
    assert schemas.check({"apiVersion": "example.org/v1", "kind": "Thing", "metadata": {"name": "t"}}) == (False, [])


def test_a_value_too_long_to_show_is_left_out_whole_never_cut(schemas):
    secret = "S3cr3t-" + "x9Q" * 80  # a 247-character password where a boolean belongs
    (finding,) = schemas.check(deployment(host_network=secret))[1]
    assert secret[:20] not in finding.message and "x9Qx9Q" not in finding.message
    assert finding.message == ("spec.template.spec.hostNetwork: (a str of 249 characters, not shown) is not of type "
                               "'boolean', 'null'")
