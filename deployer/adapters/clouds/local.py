"""The embedded local cluster: its kubeconfig, once `deployer local up` has started it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from deployer.adapters.clouds.base import ClusterAccess
from deployer.errors import DeployerError


@contextlib.contextmanager
def access(state_dir: Optional[Path] = None) -> Iterator[ClusterAccess]:
    from deployer.local.cluster import LocalCluster

    status = LocalCluster(state_dir).status()  # None: the default folder (<state folder>/local)
    if not status.healthy or not status.kubeconfig:
        raise DeployerError(
            f"the local cluster is not up ({status.state}): {status.message}",
            hint=status.hint or "start it with `deployer local up`",
        )
    yield ClusterAccess(Path(status.kubeconfig), description=f"local cluster at {status.api_server}")
