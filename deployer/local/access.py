"""The embedded local cluster as a provider: its kubeconfig, once `deployer local up` has started it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from deployer.adapters.clouds.base import ClusterAccess
from deployer.config.models import Cluster
from deployer.errors import DeployerError
from deployer.paths import state_dir as default_state_dir


def cluster_dir(cluster: Cluster, cluster_folder: Path, state_dir: Optional[Path]) -> Path:
    """The folder of the local cluster a `provider: local` cluster deploys to: its `local.state_dir`
    (relative to the cluster's folder, where cluster.yaml is), else `<state folder>/local`, the
    state folder being the invocation's (`--state-dir`, `$DEPLOYER_STATE_DIR`,
    `<repository>/.deployer`), as `deployer local up` uses it."""
    configured = cluster.local.state_dir if cluster.local is not None else None
    if configured:
        return (cluster_folder / Path(configured).expanduser()).resolve()
    if state_dir is None:
        state_dir = default_state_dir(cluster_folder.parent.parent.parent)
    return state_dir / "local"


@contextlib.contextmanager
def access(folder: Path) -> Iterator[ClusterAccess]:
    from deployer.local.cluster import LocalCluster

    status = LocalCluster(folder).status()
    if not status.healthy or not status.kubeconfig:
        raise DeployerError(
            f"the local cluster is not up ({status.state}): {status.message}",
            hint=status.hint or "start it with `deployer local up`",
        )
    yield ClusterAccess(Path(status.kubeconfig), description=f"local cluster at {status.api_server}")
