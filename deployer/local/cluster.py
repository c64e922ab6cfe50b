"""The local cluster: a real single-node Kubernetes on this machine (see `deployer.local.spec` for
what runs where), with its state (PIDs, ports, keys, configs, logs, containerd's and the kubelet's
data) in one folder that deployer marks as its own.

- `up` starts etcd, containerd, kube-apiserver, kube-controller-manager, kube-scheduler, the
  kubelet, kube-proxy and CoreDNS, imports the pause image, and waits until the node is Ready,
  the default service account exists and DNS answers.
- `down` stops them and takes back every change to the host (`deployer.local.host`): processes,
  container processes and cgroups, mounts, network namespaces, the CNI bridge, the node address,
  iptables chains, CNI results, shim sockets, sysctls; then removes the folder's content
  (`deployer.local.teardown`).
- `status` only reads.

`LocalCluster` is the facade; each job has its module:
- `ownership`: the marker file; a folder with files but no marker is never read, reused or deleted.
- `node_lock`: one `up`/`down` per folder, one real node per machine.
- `state_file`: `state.json` (ports, PIDs, the host's baseline).
- `tools`: the programs, from the tool cache and the host.
- `start`: a fresh start; `components`: what each component runs with, and spawning it;
  `readiness`: what `up` waits for (the API server through `deployer.adapters.local_net`).
- `repair`: only the dead components started again; `status`: what `local status` reports.
- `teardown`: `down`'s work on the host and the folder.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from deployer import paths
from deployer.adapters import local_net
from deployer.adapters.process import ProcessRunner
from deployer.local import host, state_file
from deployer.local.node_lock import LocalClusterError, folder_lock, machine_lock, other_node
from deployer.local.ownership import mark, marker_info, owned, refuse_foreign
from deployer.local.repair import repair
from deployer.local.spec import MARKER, MAX_ROOT_LEN, Layout, State
from deployer.local.start import start
from deployer.local.status import ClusterStatus, ComponentStatus, cluster_status
from deployer.local.teardown import clear_folder, teardown
from deployer.local.tools import find_tools

__all__ = ["START_TIMEOUT", "ClusterStatus", "ComponentStatus", "DownResult", "LocalCluster", "LocalClusterError",
           "UpResult", "default_cluster_dir"]

START_TIMEOUT = 90.0


@dataclass
class UpResult:
    status: ClusterStatus
    already_running: bool
    seconds: float
    cleaned: str | None = None  # a broken cluster was stopped and started afresh (its content is gone)
    repaired: list[str] | None = None  # only these stopped components were started again (content kept)


@dataclass
class DownResult:
    state_dir: str
    stopped: list[tuple[str, int]]
    was_recorded: bool
    seconds: float = 0.0
    leftovers: dict[str, int] = field(default_factory=dict)
    removed_folder: bool = False


def default_cluster_dir(root: Path | None = None, state_dir: Path | None = None) -> Path:
    """`<state folder>/local` (`--state-dir`, `$DEPLOYER_STATE_DIR`, `<repo>/.deployer`, XDG state)."""
    if root is None and state_dir is None:
        root = paths.try_find_root()
    return paths.state_dir(root, state_dir) / "local"


class LocalCluster:
    """One local cluster, identified by its folder."""

    def __init__(self, state_dir: Path | None = None, *, tools: dict[str, Path] | None = None,
                 runner: ProcessRunner | None = None, node: bool = True) -> None:
        """`node=False`: an API-server-only cluster (etcd, kube-apiserver, controller manager and
        scheduler on 127.0.0.1; no pod ever runs; the host is not touched; several may run at once)."""
        self.layout = Layout(Path(state_dir or default_cluster_dir()).expanduser().resolve())
        self.tools = tools
        self.node = node
        self.runner = runner or ProcessRunner()

    def status(self) -> ClusterStatus:
        """Each component's state. Reads only: never stops, cleans or deletes anything."""
        refuse_foreign(self.layout, "read")
        return cluster_status(self.layout)

    def up(self, *, port: int | None = None, timeout: float = START_TIMEOUT) -> UpResult:
        started = time.monotonic()
        lay = self.layout
        refuse_foreign(lay, "use")
        tools = self._find_tools()
        if self.node and len(str(lay.root)) > MAX_ROOT_LEN:
            raise LocalClusterError(
                f"the local cluster's folder path is {len(str(lay.root))} characters long; "
                f"containerd's and the kubelet's sockets inside it need it at most {MAX_ROOT_LEN}",
                hint="pass a shorter --state-dir")
        if port is not None and not 1 <= port <= 65535:
            raise LocalClusterError(f"port {port} is not a TCP port", hint="choose a port between 1024 and 65535")
        created = not lay.root.exists()
        lay.root.mkdir(parents=True, exist_ok=True)
        mark(lay, created_folder=created)
        try:
            return self._up_locked(port, timeout, started, tools)
        except BaseException:
            # refused before anything ran: a folder this call created goes again
            if created and not lay.state_file.exists() and not lay.logs.exists():
                shutil.rmtree(lay.root, ignore_errors=True)
            raise

    def _up_locked(self, port: int | None, timeout: float, started: float, tools: dict[str, Path]) -> UpResult:
        with folder_lock(self.layout):
            current = self.status()
            if current.state == "up":
                return UpResult(current, True, time.monotonic() - started)
            cleaned = None
            if current.state == "degraded" and any(not c.running for c in current.components):
                repaired = repair(self.layout, self.runner, tools, timeout)
                if repaired is not None:
                    return UpResult(self.status(), False, time.monotonic() - started, repaired=repaired)
            if current.state in ("stale", "degraded"):
                with machine_lock(self.node, timeout):
                    self._teardown(state_file.load(self.layout))
                cleaned = f"{current.message}; cleaned up what was left and started afresh"
            if port is not None and local_net.port_in_use(port, "0.0.0.0"):
                raise LocalClusterError(
                    f"port {port} is already in use by another program",
                    hint="choose another with --port, or leave --port out and a free port is picked")
            with machine_lock(self.node, timeout):
                other = other_node(self.layout.root) if self.node else None
                if other:
                    raise LocalClusterError(
                        f"another local node is already running on this machine ({other}); only one real node "
                        "can run at a time (iptables rules are machine-wide)",
                        hint="stop it with `deployer local down --state-dir ...` for that folder")
                try:
                    if self.node:
                        host.check_kernel()
                except host.HostProblem as e:
                    raise LocalClusterError(f"this machine cannot run a local node: {e}") from e
                try:
                    start(self.layout, self.runner, tools, node=self.node, port=port, timeout=timeout)
                except BaseException:
                    self._teardown(state_file.load(self.layout), keep_logs=True)
                    raise
            return UpResult(self.status(), False, time.monotonic() - started, cleaned)

    def _find_tools(self) -> dict[str, Path]:
        """The programs given to the constructor, else `deployer.local.tools.find_tools`."""
        return dict(self.tools) if self.tools is not None else find_tools(self.node)

    def down(self, *, keep_data: bool = False) -> DownResult:
        """Stop everything and take back every change to the host; the volumes' data goes too unless
        `keep_data` (then `<folder>/volumes` stays for the next `up`: a hub deployed again finds it)."""
        started = time.monotonic()
        lay = self.layout
        root = lay.root
        refuse_foreign(lay, "delete")
        if owned(lay) is None:
            return DownResult(str(root), [], False, time.monotonic() - started)
        with folder_lock(lay):
            state = state_file.load(lay)
            # a node's teardown sweeps machine-wide state: no other node may start meanwhile
            with machine_lock(state.node if state is not None else self.node, START_TIMEOUT):
                stopped = self._teardown(state, keep_data=keep_data)
        removed = False
        if keep_data:
            clear_folder(lay, keep=(MARKER, "volumes"))
        elif marker_info(lay).get("created_folder"):
            shutil.rmtree(root, ignore_errors=True)
            removed = not root.exists()
        else:
            clear_folder(lay, keep=())
        left = self._leftovers(state)
        return DownResult(str(root), stopped, state is not None, time.monotonic() - started,
                          {k: v for k, v in left.counts().items() if v}, removed)

    def _teardown(self, state: State | None, *, keep_logs: bool = False,
                  keep_data: bool = False) -> list[tuple[str, int]]:
        return teardown(self.layout, self.runner, state, node=self.node, keep_logs=keep_logs, keep_data=keep_data)

    def leftovers(self) -> host.Leftovers:
        return self._leftovers(state_file.load(self.layout))

    def _leftovers(self, state: State | None) -> host.Leftovers:
        return host.leftovers(self.runner, self.layout.root, state.baseline.netns if state else [],
                              state.baseline.shim_sockets if state else [], self.layout.pod_logs)
