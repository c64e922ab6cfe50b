"""The embedded local cluster against the real etcd, kube-apiserver and kube-controller-manager.

The session cluster (`local_cluster`) serves the read-and-create tests; destructive tests each
start their own `scratch_cluster` in a temporary folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from deployer.adapters.process import ProcessRunner
from deployer.local import procs
from deployer.local.cluster import LocalClusterError
from tests.conftest import require_tool

pytestmark = pytest.mark.e2e


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def deployer(*args: str, timeout: float = 120):
    done = ProcessRunner().run([sys.executable, "-m", "deployer", *args], timeout=timeout)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def recorded_pids(cluster) -> dict[str, tuple[int, int | None]]:
    state = json.loads(cluster.layout.state_file.read_text())
    return {c["name"]: (c["pid"], c["ticks"]) for c in state["components"]}


# ---- the session cluster ---------------------------------------------------------------------


def test_up_is_ready_within_15_seconds(local_cluster):
    assert local_cluster.up_seconds < 15, f"local up took {local_cluster.up_seconds:.1f}s"


def test_api_server_answers_the_official_kubernetes_client(api_client):
    from kubernetes import client

    version = client.VersionApi(api_client).get_code()
    assert version.git_version == "v1.20.2"
    names = {ns.metadata.name for ns in client.CoreV1Api(api_client).list_namespace().items}
    assert {"default", "kube-system"} <= names


def test_rbac_is_on_and_anonymous_users_are_refused(local_cluster):
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = local_cluster.api_client().configuration.host
    cfg.ssl_ca_cert = str(local_cluster.cluster.layout.pki / "ca.crt")
    with client.ApiClient(cfg) as anonymous:
        with pytest.raises(client.ApiException) as e:
            client.CoreV1Api(anonymous).list_namespace()
    assert e.value.status == 403


def test_the_simulated_node_is_registered_and_ready(api_client):
    from kubernetes import client

    node = client.CoreV1Api(api_client).read_node("deployer-local-node")
    ready = next(c for c in node.status.conditions if c.type == "Ready")
    assert ready.status == "True"


def deployment(name: str, image: str, replicas: int = 2):
    from kubernetes import client

    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="main", image=image)]),
            ),
        ),
    )


def test_deployment_becomes_available_through_the_simulated_node(api_client, namespace):
    from kubernetes import client

    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(namespace, deployment("web", "jupyterhub/k8s-hub:4.0.0", replicas=2))

    def available():
        d = apps.read_namespaced_deployment("web", namespace)
        conds = {c.type: c.status for c in (d.status.conditions or [])}
        return conds.get("Available") == "True" and d.status.ready_replicas == 2

    wait_for(available, what="Deployment web Available with 2 ready replicas")
    pods = client.CoreV1Api(api_client).list_namespaced_pod(namespace).items
    assert {p.status.phase for p in pods} == {"Running"}
    assert all(p.spec.node_name == "deployer-local-node" for p in pods)


def test_a_custom_resource_definition_can_be_created_and_used(api_client, namespace):
    from kubernetes import client

    ext = client.ApiextensionsV1Api(api_client)
    group, plural = "deployer.test", f"widgets{namespace.replace('-', '')}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": "Widget" + namespace[2:].capitalize()},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
            }}}],
        },
    }
    ext.create_custom_resource_definition(crd)
    try:
        def established():
            got = ext.read_custom_resource_definition(f"{plural}.{group}")
            return any(c.type == "Established" and c.status == "True" for c in (got.status.conditions or []))

        wait_for(established, what="CRD Established")
        custom = client.CustomObjectsApi(api_client)
        body = {"apiVersion": f"{group}/v1", "kind": crd["spec"]["names"]["kind"],
                "metadata": {"name": "w1"}, "spec": {"size": 3}}
        # storing the first custom resource is what crashed the vendored reflect2 v1.0.1
        wait_for(lambda: _try_create(custom, group, namespace, plural, body), timeout=15, what="custom object stored")
        got = custom.get_namespaced_custom_object(group, "v1", namespace, plural, "w1")
        assert got["spec"]["size"] == 3
    finally:
        ext.delete_custom_resource_definition(f"{plural}.{group}")


def _try_create(custom, group, namespace, plural, body) -> bool:
    from kubernetes import client

    try:
        custom.create_namespaced_custom_object(group, "v1", namespace, plural, body)
        return True
    except client.ApiException as e:
        if e.status == 404:  # the new API is not served yet
            return False
        raise


def test_a_pod_with_an_unpullable_image_reports_the_pull_error(api_client, namespace):
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="broken"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="example.org/unpullable:1.0")]),
    )
    core.create_namespaced_pod(namespace, pod)

    def waiting_reason():
        p = core.read_namespaced_pod("broken", namespace)
        for s in p.status.container_statuses or []:
            if s.state.waiting and s.state.waiting.reason in ("ErrImagePull", "ImagePullBackOff"):
                return s.state.waiting.reason
        return None

    wait_for(waiting_reason, what="ErrImagePull on the unpullable pod")
    assert core.read_namespaced_pod("broken", namespace).status.phase == "Pending"
    events = wait_for(lambda: [e for e in core.list_namespaced_event(namespace).items
                               if e.involved_object.name == "broken" and e.type == "Warning"],
                      what="a Warning event on the pod")
    assert any("unpullable" in e.message for e in events)
    wait_for(lambda: waiting_reason() == "ImagePullBackOff", what="ImagePullBackOff after ErrImagePull")


def test_pending_claims_are_bound_and_load_balancers_get_an_address(api_client, namespace):
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    core.create_namespaced_persistent_volume_claim(namespace, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "home"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    core.create_namespaced_service(namespace, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "proxy-public"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 80}]}})
    wait_for(lambda: core.read_namespaced_persistent_volume_claim("home", namespace).status.phase == "Bound",
             what="PVC Bound")
    wait_for(lambda: (core.read_namespaced_service("proxy-public", namespace).status.load_balancer.ingress or [None])[0],
             what="LoadBalancer ingress")
    assert core.read_namespaced_service("proxy-public", namespace).status.load_balancer.ingress[0].ip == "127.0.0.1"


CHART = {
    "Chart.yaml": "apiVersion: v2\nname: tiny\nversion: 0.1.0\n",
    "templates/all.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: hub}
spec:
  replicas: 2
  selector: {matchLabels: {app: hub}}
  template:
    metadata: {labels: {app: hub}}
    spec: {containers: [{name: hub, image: "jupyterhub/k8s-hub:4.0.0"}]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: hub-db}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Service
metadata: {name: proxy-public}
spec: {type: LoadBalancer, selector: {app: hub}, ports: [{port: 80}]}
""",
}


def test_helm_install_wait_completes_on_the_local_cluster(local_cluster, namespace, tmp_path):
    helm = require_tool("helm")
    chart = tmp_path / "tiny"
    for rel, text in CHART.items():
        (chart / rel).parent.mkdir(parents=True, exist_ok=True)
        (chart / rel).write_text(text)
    env = {"KUBECONFIG": str(local_cluster.kubeconfig), "HELM_CACHE_HOME": str(tmp_path / "hc"),
           "HELM_CONFIG_HOME": str(tmp_path / "hcfg"), "HELM_DATA_HOME": str(tmp_path / "hd")}
    done = ProcessRunner().run([helm, "upgrade", "--install", "tiny", str(chart), "-n", namespace,
                                "--wait", "--timeout", "60s"], timeout=90, env=env)
    assert done.ok, done.stderr
    status = ProcessRunner().run([helm, "status", "tiny", "-n", namespace, "-o", "json"], timeout=30, env=env)
    assert json.loads(status.stdout)["info"]["status"] == "deployed"


def test_up_twice_is_safe_and_says_so(local_cluster):
    before = recorded_pids(local_cluster.cluster)
    again = local_cluster.cluster.up()
    assert again.already_running and again.status.healthy
    assert recorded_pids(local_cluster.cluster) == before
    done = deployer("local", "up", "--state-dir", str(local_cluster.cluster.layout.root))
    assert done.returncode == 0 and "already up" in done.stdout


def test_status_reports_each_component(local_cluster):
    done = deployer("local", "status", "--state-dir", str(local_cluster.cluster.layout.root), "-o", "json")
    assert done.returncode == 0, done.stdout
    report = json.loads(done.stdout)
    assert report["state"] == "up"
    comps = {c["name"]: c for c in report["components"]}
    assert set(comps) == {"etcd", "kube-apiserver", "kube-controller-manager", "node"}
    assert all(c["running"] for c in comps.values()) and comps["kube-apiserver"]["port"]


# ---- destructive: each on its own cluster ----------------------------------------------------


def test_down_stops_every_recorded_process_and_leaves_none(scratch_cluster):
    scratch_cluster.up()
    pids = recorded_pids(scratch_cluster)
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "node"}
    assert all(procs.is_alive(pid, ticks) for pid, ticks in pids.values())
    done = deployer("local", "down", "--state-dir", str(scratch_cluster.layout.root))
    assert done.returncode == 0 and "stopped" in done.stdout
    for name, (pid, ticks) in pids.items():
        assert not procs.is_alive(pid, ticks), f"{name} (pid {pid}) still runs after down"
        assert not Path(f"/proc/{pid}").exists() or procs.start_ticks(pid) != ticks
    assert not scratch_cluster.layout.root.exists()
    assert deployer("local", "down", "--state-dir", str(scratch_cluster.layout.root)).returncode == 0


def test_a_port_already_taken_is_refused_with_a_clear_message(scratch_cluster):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalClusterError) as e:
            scratch_cluster.up(port=port)
        assert f"port {port}" in e.value.message and "already in use" in e.value.message
        assert "--port" in e.value.hint
        done = deployer("local", "up", "--state-dir", str(scratch_cluster.layout.root), "--port", str(port))
        assert done.returncode == 1 and "already in use" in done.stderr
        # without --port a free port is picked even while that one is taken
        result = scratch_cluster.up()
        assert result.status.healthy and f":{port}" not in result.status.api_server


def test_killed_etcd_makes_status_fail_with_the_fix_then_up_recovers(scratch_cluster):
    scratch_cluster.up()
    etcd_pid, _ = recorded_pids(scratch_cluster)["etcd"]
    os.kill(etcd_pid, signal.SIGKILL)
    wait_for(lambda: not procs.is_alive(*recorded_pids(scratch_cluster)["etcd"]), what="etcd gone")
    done = deployer("local", "status", "--state-dir", str(scratch_cluster.layout.root))
    assert done.returncode == 1
    assert "etcd" in done.stdout and "DEAD" in done.stdout
    assert "deployer local down && deployer local up" in done.stdout
    survivors = {n: p for n, p in recorded_pids(scratch_cluster).items() if n != "etcd"}
    recovered = scratch_cluster.up()
    assert recovered.status.healthy and "etcd" in (recovered.cleaned or "")
    for name, (pid, ticks) in survivors.items():
        assert not procs.is_alive(pid, ticks), f"old {name} left running after recovery"


def test_a_stale_state_folder_is_detected_and_cleaned(scratch_cluster):
    scratch_cluster.up()
    for pid, ticks in recorded_pids(scratch_cluster).values():
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not procs.is_alive(pid, ticks), what=f"pid {pid} gone")
    done = deployer("local", "status", "--state-dir", str(scratch_cluster.layout.root))
    assert done.returncode == 1 and "stale" in done.stdout
    assert not scratch_cluster.layout.state_file.exists()
    assert scratch_cluster.up().status.healthy
