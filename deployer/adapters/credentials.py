"""One entry point for "how do I reach this cluster": dispatch on the cluster's provider."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from deployer.adapters.clouds import kubeconfig as kubeconfig_provider
from deployer.adapters.clouds import local as local_provider
from deployer.adapters.clouds.base import ClusterAccess
from deployer.adapters.sops import Sops
from deployer.config.models import Cluster, Provider
from deployer.errors import DeployerError


@contextlib.contextmanager
def cluster_access(cluster: Cluster, folder: Path, sops: Sops) -> Iterator[ClusterAccess]:
    if cluster.provider is Provider.local:
        state = Path(cluster.local.state_dir) if cluster.local and cluster.local.state_dir else None
        with local_provider.access(state) as access:
            yield access
    elif cluster.provider is Provider.kubeconfig:
        assert cluster.kubeconfig is not None
        with kubeconfig_provider.access(folder / cluster.kubeconfig.file, sops, cluster.kubeconfig.context) as access:
            yield access
    else:
        raise DeployerError(
            f"cluster `{cluster.name}`: credentials for provider `{cluster.provider.value}` are not supported yet",
            hint="use a `kubeconfig` provider block for this cluster meanwhile",
        )
