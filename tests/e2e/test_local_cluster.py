"""The local cluster on a real node: Kubernetes 1.34 built from the Go module proxy, containerd
and runc running real containers, a CNI bridge, kube-proxy Services, CoreDNS names; and `down`
leaving nothing behind on the machine.

Tests that stop the cluster bring it back up for the tests after them (one real node per machine).
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
from deployer.local import oci
from deployer.local.cluster import LocalCluster, LocalClusterError
from deployer.toolchain.kubebuild import KUBERNETES_VERSION
from deployer.local.spec import NODE_IP, NODE_NAME
from tests.conftest import missing, output_json

pytestmark = pytest.mark.e2e

WEB_IMAGE = "registry.local/deployer/test-web:1"
INDEX = "hello from a real pod\n"


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def deployer(*args: str, timeout: float = 180):
    done = ProcessRunner().run([sys.executable, "-m", "deployer", *args], timeout=timeout)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def _get(url: str) -> str:
    """The body of an HTTP GET, or "" when there is no answer or not a 200."""
    import urllib.request

    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # this machine's own routing
    try:
        with direct.open(url, timeout=3) as answer:
            return answer.read().decode(errors="replace") if answer.status == 200 else ""
    except (OSError, ValueError):
        return ""


def pod_log(core, name: str, namespace: str) -> str:
    return core.read_namespaced_pod_log(name, namespace, _preload_content=False).data.decode()


def recorded_pids(cluster) -> dict[str, int]:
    state = json.loads(cluster.layout.state_file.read_text())
    return {c["name"]: c["pid"] for c in state["components"]}


@pytest.fixture(scope="module")
def web_image(local_cluster, tmp_path_factory) -> str:
    """A busybox image (Debian's static busybox, an index page) imported into the node's containerd."""
    busybox = Path("/bin/busybox")
    if not busybox.is_file():
        missing("Debian's busybox-static (/bin/busybox; scripts/install-toolchain.sh installs it)")
    files = [oci.File("/bin", None), oci.File("/bin/busybox", busybox.read_bytes(), 0o755),
             oci.File("/bin/sh", link="busybox"), oci.File("/etc", None),
             oci.File("/etc/nsswitch.conf", b"hosts: files dns\n"), oci.File("/www", None),
             oci.File("/www/index.html", INDEX.encode()), oci.File("/tmp", None, 0o1777)]
    tar = oci.write_docker_archive(tmp_path_factory.mktemp("img") / "web.tar", WEB_IMAGE, files,
                                   entrypoint=["/bin/busybox"], cmd=["httpd", "-f", "-p", "8080", "-h", "/www"])
    oci.import_image(ProcessRunner(), local_cluster.cluster.layout.containerd_socket, tar)
    return WEB_IMAGE


# ---- the running node ------------------------------------------------------------------------


def test_the_api_server_tells_its_true_version(api_client):
    from kubernetes import client

    assert client.VersionApi(api_client).get_code().git_version == f"v{KUBERNETES_VERSION}"


def test_the_node_is_ready_with_a_pod_cidr_and_the_node_ip(api_client):
    from kubernetes import client

    node = client.CoreV1Api(api_client).read_node(NODE_NAME)
    ready = {c.type: c.status for c in node.status.conditions}
    assert ready["Ready"] == "True"
    assert node.spec.pod_cidr == "10.244.0.0/24"
    assert [a.address for a in node.status.addresses if a.type == "InternalIP"] == [NODE_IP]
    assert node.status.node_info.kubelet_version == f"v{KUBERNETES_VERSION}"
    assert node.status.node_info.container_runtime_version.startswith("containerd://")


def test_rbac_is_on_and_anonymous_users_are_refused(local_cluster):
    import ssl
    import urllib.error
    import urllib.request

    server = json.loads(local_cluster.cluster.layout.state_file.read_text())["ports"]["api"]
    ctx = ssl.create_default_context(cafile=str(local_cluster.cluster.layout.pki / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"https://127.0.0.1:{server}/api/v1/namespaces/default/secrets", context=ctx, timeout=5)
    assert e.value.code in (401, 403)


def test_a_pod_answers_http_through_a_service_and_its_dns_name(api_client, namespace, web_image):
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    labels = {"app": "web"}
    container = client.V1Container(name="web", image=web_image, image_pull_policy="Never",
                                   ports=[client.V1ContainerPort(container_port=8080)])
    apps.create_namespaced_deployment(namespace, client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(replicas=1, selector=client.V1LabelSelector(match_labels=labels),
                                     template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels),
                                                                       spec=client.V1PodSpec(containers=[container])))))
    core.create_namespaced_service(namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(selector=labels, ports=[client.V1ServicePort(port=80, target_port=8080)])))
    wait_for(lambda: (apps.read_namespaced_deployment(namespace=namespace, name="web").status.available_replicas or 0) == 1,
             90, "the web deployment to be available")
    pod = core.list_namespaced_pod(namespace, label_selector="app=web").items[0]
    assert pod.status.pod_ip.startswith("10.244.0.")
    # An available Deployment is not yet a routed Service: the endpoint controller adds the ready pod
    # to the Service's EndpointSlice, then kube-proxy writes the DNAT rule for the ClusterIP. Before
    # that, a packet to the ClusterIP leaves by the default route; on a machine whose network answers
    # HTTP for any address (a sandbox's egress proxy: `404 Not Found`), wget got that 404 (seen once
    # under load). Wait until this node routes the ClusterIP to the pod (kube-proxy's rules apply to
    # the node's own traffic too), then test from a pod.
    cluster_ip = core.read_namespaced_service("web", namespace).spec.cluster_ip
    wait_for(lambda: _get(f"http://{cluster_ip}/") == INDEX, 60,
             f"kube-proxy to route the Service web ({cluster_ip}:80) to the pod")
    # a second pod fetches the page by the Service's short and full DNS names
    script = f"wget -qO- http://web/ && wget -qO- http://web.{namespace}.svc.cluster.local/ && echo done"
    core.create_namespaced_pod(namespace, client.V1Pod(
        metadata=client.V1ObjectMeta(name="client"),
        spec=client.V1PodSpec(restart_policy="Never", containers=[client.V1Container(
            name="client", image=web_image, image_pull_policy="Never", command=["/bin/busybox", "sh", "-c", script])])))
    phase = wait_for(lambda: core.read_namespaced_pod("client", namespace).status.phase in ("Succeeded", "Failed")
                     and core.read_namespaced_pod("client", namespace).status.phase, 90, "the client pod to finish")
    log = pod_log(core, "client", namespace)
    assert phase == "Succeeded", log
    assert log == INDEX + INDEX + "done\n"


def test_pods_reach_the_api_server_through_the_kubernetes_service(api_client, namespace, web_image):
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    # /version is public: an anonymous HTTPS request from a pod, by the Service's DNS name, answers
    # with the server's version (busybox's own TLS; the certificate is checked by the name test above)
    script = "wget -qO- --no-check-certificate https://kubernetes.default.svc/version"
    core.create_namespaced_pod(namespace, client.V1Pod(
        metadata=client.V1ObjectMeta(name="api"),
        spec=client.V1PodSpec(restart_policy="Never", containers=[client.V1Container(
            name="api", image=web_image, image_pull_policy="Never", command=["/bin/busybox", "sh", "-c", script])])))
    phase = wait_for(lambda: core.read_namespaced_pod("api", namespace).status.phase in ("Succeeded", "Failed")
                     and core.read_namespaced_pod("api", namespace).status.phase, 90, "the api pod to finish")
    log = pod_log(core, "api", namespace)
    assert phase == "Succeeded", log
    assert json.loads(log)["gitVersion"] == f"v{KUBERNETES_VERSION}"


def test_up_twice_is_safe_and_says_so(local_cluster):
    before = recorded_pids(local_cluster.cluster)
    again = local_cluster.cluster.up()
    assert again.already_running and again.status.healthy
    assert recorded_pids(local_cluster.cluster) == before
    done = deployer("local", "up", "--state-dir", str(local_cluster.state_dir))
    assert done.returncode == 0 and done.stdout.splitlines()[0] == "the local cluster is already up; nothing to do"


def test_a_second_node_on_the_machine_is_refused(local_cluster, tmp_path):
    other = LocalCluster(tmp_path / "local")
    with pytest.raises(LocalClusterError) as e:
        other.up()
    assert e.value.message.startswith("another local node is already running on this machine (kubelet pid ")
    assert e.value.message.endswith(f"folder {local_cluster.cluster.layout.root}); only one real node can run at a "
                                    "time (iptables rules are machine-wide)")
    assert not (tmp_path / "local").exists()  # created by this call, removed again: nothing ran


def test_status_reports_each_component(local_cluster):
    done = deployer("local", "status", "--state-dir", str(local_cluster.state_dir), "-o", "json")
    st = output_json(done, 0)
    assert st["state"] == "up" and st["healthy"] is True and st["node"] == NODE_NAME
    assert [c["name"] for c in st["components"]] == ["etcd", "containerd", "kube-apiserver", "kube-controller-manager",
                                                     "kube-scheduler", "kubelet", "kube-proxy", "coredns",
                                                     "volume-provisioner"]
    assert all(c["running"] for c in st["components"])
    assert st["versions"]["kubernetes"] == KUBERNETES_VERSION


def test_a_port_already_taken_is_refused_with_a_clear_message(local_cluster, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LocalClusterError) as e:
            LocalCluster(tmp_path / "local").up(port=port)
    assert e.value.message == f"port {port} is already in use by another program"
    assert not (tmp_path / "local").exists()


# ---- down leaves nothing behind (runs last: it restarts the session cluster) ----------------


@pytest.mark.session_cluster_last
def test_a_killed_component_makes_status_degraded_then_down_leaves_nothing_and_up_comes_back(local_cluster, tmp_path):
    cluster = local_cluster.cluster
    pids = recorded_pids(cluster)
    os.kill(pids["kube-scheduler"], signal.SIGKILL)
    wait_for(lambda: cluster.status().state == "degraded", 15, "status to notice")
    st = cluster.status()
    assert st.message == f"the local cluster is broken: kube-scheduler (pid {pids['kube-scheduler']}) not running"
    # a half-up cluster with running pods: down must still take everything back
    before = cluster.leftovers()
    assert before.processes and before.iptables_chains and before.addresses and before.cgroups and before.mounts
    done = deployer("local", "down", "--state-dir", str(local_cluster.state_dir), "-o", "json")
    report = output_json(done, 0)
    assert report["leftovers"] == {}
    left = cluster.leftovers()
    assert left.counts() == {"processes": 0, "mounts": 0, "interfaces": 0, "addresses": 0, "iptables_chains": 0,
                             "cni_results": 0, "netns": 0, "containerd_state": 0, "cgroups": 0, "log_links": 0}
    # with the node down: a containerd that fails to start is a clear message and leaves nothing
    broken = tmp_path / "containerd"
    broken.write_text("#!/bin/sh\necho 'containerd: failed to mount overlay: invalid argument' >&2\nexit 1\n")
    broken.chmod(0o755)
    tools = cluster._find_tools()
    failing = LocalCluster(tmp_path / "f" / "local", tools={**tools, "containerd": broken})
    with pytest.raises(LocalClusterError) as e:
        failing.up()
    assert e.value.message == ("containerd exited while the local cluster started: "
                               "containerd: failed to mount overlay: invalid argument")
    assert e.value.hint == f"see {tmp_path / 'f' / 'local' / 'logs' / 'containerd.log'}"
    assert failing.leftovers().counts() == dict.fromkeys(left.counts(), 0)
    assert failing.status().state == "down"
    # and back up for whatever runs after (from the cache: no build)
    again = cluster.up()
    assert again.status.healthy, again.status
    local_cluster.up_seconds = again.seconds
