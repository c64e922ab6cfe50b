"""One entry point for "how do I reach this cluster": dispatch on the cluster's provider (each in
its adapter, the local cluster in `deployer.local`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Optional

from deployer.adapters.clouds import aws as aws_provider
from deployer.adapters.clouds import azure as azure_provider
from deployer.adapters.clouds import gcp as gcp_provider
from deployer.adapters.clouds import kubeconfig as kubeconfig_provider
from deployer.adapters.clouds.base import ClusterAccess
from deployer.adapters.sops import Sops
from deployer.config.models import Cluster, Provider
from deployer.errors import DeployerError
from deployer.local import access as local_provider


@contextlib.contextmanager
def cluster_access(cluster: Cluster, folder: Path, sops: Sops,
                   binaries: Optional[Mapping[str, Path]] = None, *,
                   state_dir: Optional[Path] = None) -> Iterator[ClusterAccess]:
    """A kubeconfig for `cluster` (whose folder is `folder`), valid inside the `with` block.
    `binaries` may name the cloud CLI to use (`gcloud`, `aws`, `az`); by default they are looked
    up like every tool. `state_dir`: the invocation's state folder (the local cluster's lives in it)."""
    binaries = binaries or {}
    block = cluster.provider_block()
    if cluster.provider is not Provider.local and block is None:
        raise DeployerError(f"cluster `{cluster.name}`: provider is `{cluster.provider.value}` but there is no "
                            f"`{cluster.provider.value}:` block", hint="run `deployer validate`")
    if cluster.provider is Provider.local:
        with local_provider.access(local_provider.cluster_dir(cluster, folder, state_dir)) as access:
            yield access
    elif cluster.provider is Provider.kubeconfig:
        assert cluster.kubeconfig is not None
        with kubeconfig_provider.access(folder / cluster.kubeconfig.file, sops, cluster.kubeconfig.context) as access:
            yield access
    elif cluster.provider is Provider.gcp:
        assert cluster.gcp is not None
        with gcp_provider.access(cluster.gcp, folder, sops, binaries.get("gcloud")) as access:
            yield access
    elif cluster.provider is Provider.aws:
        assert cluster.aws is not None
        with aws_provider.access(cluster.aws, folder, sops, cluster.name, binaries.get("aws")) as access:
            yield access
    elif cluster.provider is Provider.azure:
        assert cluster.azure is not None
        with azure_provider.access(cluster.azure, folder, sops, binaries.get("az")) as access:
            yield access
    else:  # pragma: no cover - every Provider is handled above
        raise DeployerError(f"cluster `{cluster.name}`: provider `{cluster.provider.value}` is not supported")
