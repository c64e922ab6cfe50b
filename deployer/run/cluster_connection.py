"""Opening a cluster: its credentials for its provider (a `with` block: whatever they decrypt or
write is removed at the end), and helm and the Kubernetes API bound to them.

Every command that talks to a cluster opens it here: deploy, diff, rollback, health, status,
`plan-upgrade --against cluster` and `use-cluster-credentials`. Loading and validating the
cluster comes before (`checks.validate.load_valid_cluster`); registering its secrets with the
redactor too (`run.hub_secrets.register_secrets`), where a command shows what a cluster answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from deployer.adapters.charts import helm_home_env
from deployer.adapters.clouds.base import ClusterAccess
from deployer.adapters.helm import Helm
from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.config.models import Cluster
from deployer.paths import CLUSTERS_DIR
from deployer.run.cluster_access import cluster_access
from deployer.toolchain import find_tool

if TYPE_CHECKING:  # the Kubernetes client is slow to import: only where a command uses it
    from deployer.adapters.kube import Kube


def kube_for(access: ClusterAccess, runner: ProcessRunner, timeout: float) -> "Kube":
    """A Kubernetes API client for an opened cluster (close it, or use it as a context manager):
    every request has `timeout`, every error is redacted by the invocation's redactor."""
    from deployer.adapters.kube import Kube

    return Kube(access.kubeconfig, access.context, timeout=timeout, redactor=runner.redactor)


@dataclass
class ClusterConnection:
    """An opened cluster: valid inside the `with open_cluster(...)` block only."""

    root: Path
    cluster: Cluster
    access: ClusterAccess
    sops: Sops
    runner: ProcessRunner
    work_dir: Optional[Path] = None  # helm's home is made there; a connection without one has no helm
    helm_binary: Optional[Path] = None  # found on first use of `helm` when not given
    _helm: Optional[Helm] = field(default=None, repr=False)

    @property
    def folder(self) -> Path:
        return self.root / CLUSTERS_DIR / self.cluster.name

    @property
    def helm(self) -> Helm:
        """helm bound to the cluster (its kubeconfig, context, cloud environment, and a helm home
        under the work folder)."""
        if self._helm is None:
            if self.work_dir is None:  # a bug: helm would use the user's own cache and config
                raise RuntimeError(f"cluster `{self.cluster.name}` was opened without a work folder for helm")
            if self.helm_binary is None:
                self.helm_binary = find_tool("helm")
            self._helm = Helm(self.helm_binary, self.access.kubeconfig, self.runner, context=self.access.context,
                              env={**self.access.env, **helm_home_env(self.work_dir)})
        return self._helm

    def kube(self, timeout: float) -> "Kube":
        return kube_for(self.access, self.runner, timeout)


@contextlib.contextmanager
def open_cluster(root: Path, cluster: Cluster, runner: ProcessRunner, work_dir: Optional[Path] = None, *,
                 sops: Optional[Sops] = None, helm_binary: Optional[Path] = None,
                 binaries: Optional[Mapping[str, Path]] = None,
                 state_dir: Optional[Path] = None) -> Iterator[ClusterConnection]:
    """The one way to connect to a cluster. `binaries` may name the cloud CLIs to use; `state_dir`
    is the invocation's state folder (where the local cluster lives; default: the repository's)."""
    sops = sops or Sops(runner)
    with cluster_access(cluster, root / CLUSTERS_DIR / cluster.name, sops, binaries, state_dir=state_dir) as access:
        yield ClusterConnection(root, cluster, access, sops, runner, work_dir, helm_binary)


@contextlib.asynccontextmanager
async def open_cluster_async(root: Path, cluster: Cluster, runner: ProcessRunner, work_dir: Optional[Path] = None,
                             **kwargs: Any) -> AsyncIterator[ClusterConnection]:
    """`open_cluster` for async code: the credentials (cloud CLIs, sops) are got and removed in a
    worker thread, off the event loop. Cancelled (a step's timeout, Ctrl-C) while they are being
    got, it still removes them once they exist: nothing decrypted is left behind."""
    manager = open_cluster(root, cluster, runner, work_dir, **kwargs)
    lock = threading.Lock()
    state = {"abandoned": False, "entered": False}

    def enter() -> ClusterConnection:
        conn = manager.__enter__()
        with lock:
            if not state["abandoned"]:
                state["entered"] = True
                return conn
        manager.__exit__(None, None, None)  # nobody waits for it any more
        return conn

    try:
        conn = await asyncio.to_thread(enter)
    except asyncio.CancelledError:
        with lock:
            state["abandoned"] = True
            entered = state["entered"]
        if entered:  # entered, but the caller was cancelled before it could use it
            await asyncio.to_thread(manager.__exit__, None, None, None)
        raise
    try:
        yield conn
    except BaseException as e:
        if not await asyncio.to_thread(manager.__exit__, type(e), e, e.__traceback__):
            raise
    else:
        await asyncio.to_thread(manager.__exit__, None, None, None)


@contextlib.contextmanager
def connect(root: Path, cluster_name: str, hubs: Optional[list[str]], runner: ProcessRunner,
            work_dir: Path, state_dir: Optional[Path] = None) -> Iterator[ClusterConnection]:
    """For the operating commands (diff, rollback, health): load and validate the cluster (as
    deploy does), register the named hubs' secrets with the redactor, then open it for the block."""
    from deployer.checks.validate import load_valid_cluster
    from deployer.plan.deploy_order import select_hubs
    from deployer.run.hub_secrets import register_secrets

    cluster = load_valid_cluster(root, cluster_name, hubs).model
    select_hubs(cluster, hubs)  # unknown hubs: a usage error naming the known ones
    sops = Sops(runner)
    # before any tool or API answer can echo them (an API server's error quoting an object)
    register_secrets(root, cluster, select_hubs(cluster, hubs), sops)
    helm_binary = find_tool("helm")
    with open_cluster(root, cluster, runner, work_dir, sops=sops, helm_binary=helm_binary,
                      state_dir=state_dir) as conn:
        yield conn
