"""The local cluster, started once per test session (real etcd, kube-apiserver and
kube-controller-manager, plus our simulated node), and stopped at the end even on failure."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_tool

LOCAL_TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager")


def require_local_tools() -> None:
    for name in LOCAL_TOOLS:
        require_tool(name)


@dataclass
class RunningCluster:
    cluster: object  # deployer.local.cluster.LocalCluster
    kubeconfig: Path
    up_seconds: float

    def api_client(self):
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory) -> Iterator[RunningCluster]:
    require_local_tools()
    from deployer.local.cluster import LocalCluster

    cluster = LocalCluster(tmp_path_factory.mktemp("local-cluster") / "state")
    try:
        result = cluster.up()
        assert result.status.healthy, result.status
        yield RunningCluster(cluster, Path(result.status.kubeconfig), result.seconds)
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def api_client(local_cluster):
    client = local_cluster.api_client()
    yield client
    client.close()


@pytest.fixture
def namespace(api_client) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        # as on any 1.20 cluster, Pods are refused until the namespace's default service account has its token
        deadline = time.monotonic() + 30
        while not _default_token(core, name):
            assert time.monotonic() < deadline, f"namespace {name}: no default service account token after 30s"
            time.sleep(0.1)
        yield name
    finally:
        core.delete_namespace(name)


def _default_token(core, namespace: str) -> bool:
    from kubernetes import client

    try:
        return bool(core.read_namespaced_service_account("default", namespace).secrets)
    except client.ApiException as e:
        if e.status == 404:
            return False
        raise


@pytest.fixture
def scratch_cluster(tmp_path) -> Iterator[object]:
    """A separate local cluster for destructive tests; whatever they leave is stopped."""
    require_local_tools()
    from deployer.local.cluster import LocalCluster

    cluster = LocalCluster(tmp_path / "scratch-state")
    try:
        yield cluster
    finally:
        cluster.down()
