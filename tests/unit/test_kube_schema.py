"""render/kube_schema.py: every object checked against the Kubernetes API schema of the cluster's version."""

from __future__ import annotations

from deployer.render.kube_schema import KubeSchemas


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
