"""Drift between a release manifest and the live objects (plan/drift.py)."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from deployer.plan.drift import ReleasePayloadError, decode_release, differences, object_drift, release_drift

# --- drift ------------------------------------------------------------------------------------

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hub", "labels": {"app": "j"}},
              "spec": {"replicas": 1, "template": {"spec": {"containers": [
                  {"name": "hub", "image": "hub:1", "resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}},
                   "env": []}]}}}}


def live_of(doc: dict, **changes) -> dict:
    live = json.loads(json.dumps(doc))
    live["metadata"].update(namespace="ns", uid="u", resourceVersion="9", annotations={"deployment.kubernetes.io/revision": "1"})
    c = live["spec"]["template"]["spec"]["containers"][0]
    c.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
    c["resources"]["requests"].update(cpu="500m", memory="1073741824")
    del c["env"]
    live["status"] = {"replicas": 1}
    for path, value in changes.items():
        target = live
        *parents, last = path.split("__")
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        target[last] = value
    return live


def test_defaults_and_canonical_quantities_are_not_drift():
    assert object_drift(DEPLOYMENT, live_of(DEPLOYMENT), "ns") is None


def test_an_edited_image_and_replicas_are_drift_named_by_field():
    live = live_of(DEPLOYMENT, spec__replicas=3)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "hub:2"
    drift = object_drift(DEPLOYMENT, live, "ns")
    assert drift is not None and drift.key == "Deployment ns/hub"
    assert drift.fields == ("spec.replicas", "spec.template.spec.containers[0].image")
    assert drift.describe() == "Deployment ns/hub (spec.replicas, spec.template.spec.containers[0].image)"


def test_a_deleted_object_and_a_removed_label_are_drift():
    live = live_of(DEPLOYMENT)
    live["metadata"]["labels"] = {}
    assert object_drift(DEPLOYMENT, live, "ns").fields == ("metadata.labels.app",)
    assert release_drift([DEPLOYMENT], {}, "ns")[0].fields == ("deleted",)


def test_a_changed_list_length_is_drift():
    assert differences({"a": [1, 2]}, {"a": [1, 2, 3]}) == ["a"]


def test_a_secret_is_compared_by_value_and_reported_by_key_name_only():
    desired = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hub"}, "type": "Opaque",
               "stringData": {"password": "hunter2-very-secret"}, "data": {"token": base64.b64encode(b"t0k3n").decode()}}
    same = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hub", "namespace": "ns"}, "type": "Opaque",
            "data": {"password": base64.b64encode(b"hunter2-very-secret").decode(), "token": base64.b64encode(b"t0k3n").decode()}}
    assert object_drift(desired, same, "ns") is None
    edited = json.loads(json.dumps(same))
    edited["data"]["password"] = base64.b64encode(b"changed-by-hand-2").decode()
    drift = object_drift(desired, edited, "ns")
    assert drift is not None and drift.fields == ("data.password",)
    shown = drift.describe()
    for secret in ("hunter2", "changed-by-hand", base64.b64encode(b"hunter2-very-secret").decode()[:8]):
        assert secret not in shown


def test_a_helm_release_record_decodes_and_garbage_is_refused():
    release = {"name": "hub1", "version": 2, "manifest": "kind: ConfigMap\nmetadata:\n  name: x\n"}
    helm_text = base64.b64encode(gzip.compress(json.dumps(release).encode()))
    api_value = base64.b64encode(helm_text).decode()
    assert decode_release(api_value)["version"] == 2
    with pytest.raises(ReleasePayloadError):
        decode_release(base64.b64encode(b"not base64 at all!").decode())


def test_a_zero_or_false_the_api_server_drops_is_not_drift():
    """The jupyterhub 4.3.3 chart renders `readinessProbe.initialDelaySeconds: 0`; the API server returns
    the probe without it (Go's omitempty). A real value gone, or a zero where the manifest says 5, is drift."""
    from deployer.plan.drift import differences

    want = {"readinessProbe": {"initialDelaySeconds": 0, "periodSeconds": 2}, "hostNetwork": False}
    assert differences(want, {"readinessProbe": {"periodSeconds": 2}}) == []
    assert differences({"readinessProbe": {"initialDelaySeconds": 5}}, {"readinessProbe": {}}) == [
        "readinessProbe.initialDelaySeconds"]
    assert differences({"readinessProbe": {"initialDelaySeconds": 5}}, {"readinessProbe": {"initialDelaySeconds": 0}}) == [
        "readinessProbe.initialDelaySeconds"]
