"""The local cluster, a real single-node Kubernetes (etcd, the control plane, containerd, the
kubelet, kube-proxy, CoreDNS), started once per test session and stopped at the end even on
failure. Only one real node can run on a machine, so there is no second ("scratch") cluster:
destructive tests take the session cluster down and bring it up again (`restart_local_cluster`)."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import missing

HOST_PROGRAMS = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ip", "gcc")


def require_local_node() -> None:
    """Skip (fail in CI) unless this machine can run a real node: root, the built Go programs,
    and the Debian packages."""
    from deployer.toolchain import kubebuild

    if os.geteuid() != 0:
        missing("root (a real local node changes the host)")
    for build in (kubebuild.kubernetes_build(), kubebuild.etcd_build(), kubebuild.coredns_build(),
                  kubebuild.provisioner_build()):
        if kubebuild.installed(build) is None:
            missing(f"{build.tool} v{build.version} (build it with `python -m deployer.toolchain.kubebuild`)")
    for program in HOST_PROGRAMS:
        if shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            missing(f"program `{program}` (scripts/install-toolchain.sh installs it)")


@dataclass
class RunningCluster:
    cluster: object  # deployer.local.cluster.LocalCluster
    state_dir: Path  # the CLI's --state-dir (the cluster lives in <state_dir>/local)
    up_seconds: float

    @property
    def kubeconfig(self) -> Path:
        return self.cluster.layout.kubeconfig

    def api_client(self):
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory) -> Iterator[RunningCluster]:
    require_local_node()
    from deployer.local.cluster import LocalCluster

    state_dir = tmp_path_factory.mktemp("lc")
    cluster = LocalCluster(state_dir / "local")
    try:
        result = cluster.up()
        assert result.status.healthy, result.status
        yield RunningCluster(cluster, state_dir, result.seconds)
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def hub_images(local_cluster) -> dict[str, str]:
    """The images built here, imported into the node once per session (what `deploy` does itself;
    done here so the first deploy is not the one paying for it), plus the hub image under a second
    tag (tests.e2e.operate_repo.UPGRADE_TAG: a real new hub image tag for upgrades)."""
    from deployer.adapters.process import ProcessRunner
    from deployer.local.images import ensure_images, image_refs, import_images
    from tests.e2e.operate_repo import GOOD_IMAGE, GOOD_TAG, UPGRADE_TAG

    runner = ProcessRunner()
    socket = local_cluster.cluster.layout.containerd_socket
    import_images(runner, socket, ensure_images(runner))
    result = runner.run(["ctr", "--address", str(socket), "-n", "k8s.io", "images", "tag", "--force",
                         f"{GOOD_IMAGE}:{GOOD_TAG}", f"{GOOD_IMAGE}:{UPGRADE_TAG}"], timeout=120)
    assert result.ok, result.stderr
    return {**image_refs(), "k8s-hub-upgrade": f"{GOOD_IMAGE}:{UPGRADE_TAG}"}


@pytest.fixture(scope="session")
def api_client(local_cluster):
    client = local_cluster.api_client()
    yield client
    client.close()


@pytest.fixture
def namespace(api_client) -> Iterator[str]:
    """A fresh namespace per test (ready once its default service account exists), deleted afterwards."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        deadline = time.monotonic() + 30
        while not _default_service_account(core, name):
            assert time.monotonic() < deadline, f"namespace {name}: no default service account after 30s"
            time.sleep(0.1)
        yield name
    finally:
        core.delete_namespace(name)


def _default_service_account(core, namespace: str) -> bool:
    from kubernetes import client

    try:
        core.read_namespaced_service_account("default", namespace)
        return True
    except client.ApiException as e:
        if e.status == 404:
            return False
        raise


def require_api_server() -> None:
    from deployer.toolchain import kubebuild

    for build in (kubebuild.kubernetes_build(), kubebuild.etcd_build()):
        if kubebuild.installed(build) is None:
            missing(f"{build.tool} v{build.version} (build it with `python -m deployer.toolchain.kubebuild`)")


@pytest.fixture
def scratch_cluster(tmp_path) -> Iterator[object]:
    """An API-server-only cluster of its own (etcd, kube-apiserver, controller manager, scheduler on
    127.0.0.1; no node, so no pod runs) for destructive tests; whatever it leaves is stopped."""
    require_api_server()
    from deployer.local.cluster import LocalCluster

    cluster = LocalCluster(tmp_path / "scratch" / "local", node=False)
    try:
        yield cluster
    finally:
        cluster.down()


def pytest_collection_modifyitems(config, items):
    """Tests that take the session's node down and up again (new ports, containerd's images gone) run
    after every other test, so no later test meets a cluster that was rebuilt under it."""
    items.sort(key=lambda item: item.get_closest_marker("session_cluster_last") is not None)
