"""deploy to a local cluster: images are built and imported only when the cluster has a node."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from deployer.local import cluster as local_cluster
from deployer.local.cluster import ClusterStatus
from deployer.run import deploy


def _cluster(tmp_path):
    return SimpleNamespace(name="c", local=SimpleNamespace(state_dir=str(tmp_path / "state")))


@pytest.mark.parametrize("node, imported", [(None, False), ("deployer-local-node", True)],
                         ids=["api-server-only", "with-a-node"])
def test_images_are_imported_only_into_a_cluster_with_a_node(tmp_path, monkeypatch, node, imported):
    calls = []
    monkeypatch.setattr(local_cluster.LocalCluster, "status",
                        lambda self: ClusterStatus("up", str(tmp_path), "up", node=node))
    import deployer.local.images as images

    monkeypatch.setattr(images, "ensure_images", lambda runner: calls.append("ensure") or ["built"])
    monkeypatch.setattr(images, "import_images", lambda runner, socket, built: calls.append(("import", built)))
    deploy._local_images(SimpleNamespace(root=tmp_path, state_dir=None), _cluster(tmp_path), runner=None, on_event=None)
    assert calls == (["ensure", ("import", ["built"])] if imported else [])
