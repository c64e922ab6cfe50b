"""What `local status` reports: each component's process, then the API server's readiness and the
node's Ready condition, summed up as up, down, stale or degraded with a hint. Reads only: never stops,
cleans or deletes anything."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from deployer.local import procs, readiness, state_file
from deployer.local.ownership import owned
from deployer.local.spec import API_COMPONENTS, COMPONENTS, MARKER, NODE_NAME, Layout, State


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    port: int | None
    running: bool
    log: str | None


@dataclass
class ClusterStatus:
    """`state`: up (all running, API ready, node Ready), down (nothing recorded), stale (recorded
    processes all gone: `local down` cleans up), or degraded (some component dead or not ready)."""

    state: str
    state_dir: str
    message: str
    hint: str | None = None
    components: list[ComponentStatus] = field(default_factory=list)
    api_server: str | None = None
    kubeconfig: str | None = None
    node: str | None = None
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.state == "up"

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "healthy": self.healthy}


def component_statuses(state: State) -> list[ComponentStatus]:
    """One row per component the cluster runs (a node's nine, or the API server's four), recorded or not."""
    out = []
    for name in (COMPONENTS if state.node else API_COMPONENTS):
        c = state.component(name)
        if c is None:
            out.append(ComponentStatus(name, None, None, False, None))
        else:
            out.append(ComponentStatus(name, c.pid, c.port, procs.is_alive(c.pid, c.ticks), c.log))
    return out


def cluster_status(layout: Layout) -> ClusterStatus:
    """The status of the cluster in `layout` (whose folder the caller has checked is not foreign)."""
    where = str(layout.root)
    state = state_file.load(layout)
    if state is None:
        if owned(layout) and any(p.name not in (MARKER, "logs", "volumes", layout.lock_file.name)
                                 for p in layout.root.iterdir()):
            return ClusterStatus("stale", where, "found a partial local cluster (no state.json)",
                                 hint="clean it up with `deployer local down`, then `deployer local up`")
        return ClusterStatus("down", where, "the local cluster is not running",
                             hint="start it with `deployer local up`")
    comps = component_statuses(state)
    server = readiness.api_server(state)
    common = dict(components=comps, api_server=server, kubeconfig=str(layout.kubeconfig),
                  node=NODE_NAME if state.node else None, versions=state.versions)
    if not any(c.running for c in comps):
        return ClusterStatus("stale", where, "the local cluster's processes are all gone (the machine restarted?)",
                             hint="clean up with `deployer local down`, then `deployer local up`", **common)
    dead = [c for c in comps if not c.running]
    if dead:
        names = ", ".join(f"{c.name} (pid {c.pid})" if c.pid else c.name for c in dead)
        logs = ", ".join(c.log for c in dead if c.log)
        return ClusterStatus("degraded", where, f"the local cluster is broken: {names} not running",
                             hint="start them again with `deployer local up` (the cluster keeps its releases)"
                                  + (f"; see {logs}" if logs else ""), **common)
    problem = readiness.readyz_problem(layout, state)
    if problem:
        return ClusterStatus("degraded", where, f"kube-apiserver is not ready: {problem}",
                             hint=f"see {layout.log('kube-apiserver')}; restart with "
                                  "`deployer local down && deployer local up`", **common)
    if state.node and not readiness.node_ready(layout, state):
        return ClusterStatus("degraded", where, f"node {NODE_NAME} is not Ready",
                             hint=f"see {layout.log('kubelet')} and {layout.log('containerd')}", **common)
    what = f"node {NODE_NAME} Ready" if state.node else "API server only, no node"
    return ClusterStatus("up", where, f"the local cluster is up at {server} "
                                      f"(Kubernetes {state.versions.get('kubernetes', '?')}, {what})", **common)
