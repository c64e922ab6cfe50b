"""One way to open a cluster (`run/cluster_connection.py::open_cluster`): credentials for its
provider, and helm and the Kubernetes API bound to them."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import threading
import time
from pathlib import Path

import pytest

from deployer.adapters.clouds.base import ClusterAccess
from deployer.adapters.process import ProcessRunner
from deployer.config.models import Cluster
from deployer.run import cluster_connection
from deployer.run.cluster_connection import open_cluster, open_cluster_async

PACKAGE = Path(__file__).resolve().parents[3] / "deployer"


def users(name: str, imports: bool) -> set[str]:
    """Modules outside the adapters that call `name(...)` (or, with `imports`, import it)."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("adapters/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
                found.add(rel)
            if imports and isinstance(node, ast.ImportFrom) and any(a.name == name for a in node.names):
                found.add(rel)
    return found


def test_credentials_helm_and_the_kubernetes_client_are_opened_in_one_module():
    assert users("cluster_access", imports=True) == {"run/cluster_connection.py"}
    assert users("Helm", imports=False) == {"run/cluster_connection.py"}
    assert users("Kube", imports=False) == {"run/cluster_connection.py"}


def cluster() -> Cluster:
    return Cluster.model_validate({"name": "c1", "provider": "kubeconfig", "kubeconfig": {"file": "kc.yaml"},
                                   "hubs": []})


@pytest.fixture
def opened(monkeypatch, tmp_path):
    """cluster_access replaced: records what it is asked and when the block is left."""
    events: list[str] = []

    @contextlib.contextmanager
    def fake_access(c, folder, sops, binaries=None, **kw):
        events.append(f"enter {c.name} {folder.relative_to(tmp_path).as_posix()} {sorted(binaries or {})}")
        try:
            yield ClusterAccess(tmp_path / "kc.yaml", "ctx", {"CLOUDSDK_CONFIG": "/x"}, "kubeconfig kc.yaml")
        finally:
            events.append("exit")

    monkeypatch.setattr(cluster_connection, "cluster_access", fake_access)
    return events


def test_helm_is_bound_to_the_clusters_access_and_a_helm_home_in_the_work_folder(opened, tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(cluster_connection, "Helm", lambda binary, kubeconfig, runner, **kw: made.append(
        (binary, kubeconfig, kw)) or "helm")
    with open_cluster(tmp_path, cluster(), ProcessRunner(), tmp_path / "work", helm_binary=Path("/bin/helm"),
                      binaries={"gcloud": Path("/g")}) as conn:
        assert (conn.helm, conn.helm) == ("helm", "helm")  # made once
        assert conn.folder == tmp_path / "config/clusters/c1"
    assert opened == ["enter c1 config/clusters/c1 ['gcloud']", "exit"]
    home = tmp_path / "work" / ".helm"
    assert made == [(Path("/bin/helm"), tmp_path / "kc.yaml", {"context": "ctx", "env": {
        "CLOUDSDK_CONFIG": "/x", "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data")}})]


def test_a_connection_without_a_work_folder_refuses_helm(opened, tmp_path):
    with open_cluster(tmp_path, cluster(), ProcessRunner()) as conn:
        with pytest.raises(RuntimeError, match="opened without a work folder"):
            conn.helm


def test_the_async_opening_leaves_the_credentials_on_every_exit(opened, tmp_path):
    async def use(fail: bool) -> None:
        async with open_cluster_async(tmp_path, cluster(), ProcessRunner()) as conn:
            assert conn.access.context == "ctx" and opened[-1].startswith("enter")
            if fail:
                raise ValueError("boom")

    asyncio.run(use(False))
    with pytest.raises(ValueError, match="boom"):
        asyncio.run(use(True))
    assert opened == ["enter c1 config/clusters/c1 []", "exit"] * 2


def test_cancelled_while_the_credentials_are_got_they_are_still_removed(monkeypatch, tmp_path):
    events: list[str] = []
    release = threading.Event()

    kept = []  # held here, so that no garbage collection of a generator can leave the block for us

    class SlowOpening:
        def __enter__(self):
            release.wait(5)  # a cloud CLI fetching a token
            events.append("enter")
            return "connection"

        def __exit__(self, *exc):
            events.append("exit")

    def slow_open(*args, **kwargs):
        kept.append(SlowOpening())
        return kept[-1]

    monkeypatch.setattr(cluster_connection, "open_cluster", slow_open)

    async def main() -> None:
        async def use() -> None:
            async with open_cluster_async(tmp_path, cluster(), ProcessRunner()):
                events.append("used")  # never: cancelled before

        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(use(), 0.2)
        release.set()

    asyncio.run(main())  # returns once the worker threads are done
    deadline = time.monotonic() + 5
    while events != ["enter", "exit"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert events == ["enter", "exit"]
