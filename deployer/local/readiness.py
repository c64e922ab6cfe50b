"""When a component of the local cluster is ready (what `up` and a repair wait for, and what
`status` asks the API server), and the wait itself, which fails at once, naming the component and the
last line of its log, when any recorded process exits.

The API server is asked over HTTPS through `deployer.adapters.local_net` (stdlib only: `up` and
`status` stay fast): /readyz, the node's Ready condition, the default service account, the default
StorageClass (created here once the API server answers)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from deployer.adapters import local_net
from deployer.local import certs, procs
from deployer.local.node_lock import LocalClusterError
from deployer.local.spec import NODE_NAME, STORAGE_CLASS, Layout, State, storage_class


def api_server(state: State) -> str:
    """The API server's URL on this machine."""
    return f"https://127.0.0.1:{state.api_port}"


def readyz_problem(layout: Layout, state: State) -> str | None:
    """None when the API server's /readyz passes; else what failed."""
    return local_net.readyz_problem(api_server(state), layout.pki / "ca.crt")


def api(layout: Layout, state: State, path: str, method: str = "GET", body: dict | None = None) -> dict | None:
    """One call as the cluster's admin: the answer's JSON, or None (no keys, or any failure)."""
    try:
        token = certs.load(layout.pki).admin_token
    except (OSError, IndexError, KeyError):
        return None
    return local_net.api_json(api_server(state), layout.pki / "ca.crt", token, path, method, body)


def node_ready(layout: Layout, state: State) -> bool:
    node = api(layout, state, f"/api/v1/nodes/{NODE_NAME}")
    conds = ((node or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def storage_class_ready(layout: Layout, state: State) -> bool:
    """The default StorageClass exists (created once the API server answers; it stays in etcd)."""
    path = f"/apis/storage.k8s.io/v1/storageclasses/{STORAGE_CLASS}"
    if api(layout, state, path) is not None:
        return True
    api(layout, state, "/apis/storage.k8s.io/v1/storageclasses", "POST", storage_class())
    return api(layout, state, path) is not None


def default_sa_ready(layout: Layout, state: State) -> bool:
    return api(layout, state, "/api/v1/namespaces/default/serviceaccounts/default") is not None


def ready_check(layout: Layout, state: State, name: str) -> Callable[[], bool]:
    """A function telling whether component `name` is ready (always True for one with no check)."""
    ports = state.ports
    checks = {
        "etcd": lambda: local_net.http_ok(f"http://127.0.0.1:{ports['etcd']}/health"),
        "containerd": lambda: local_net.unix_socket_answers(layout.containerd_socket),
        "kube-apiserver": lambda: readyz_problem(layout, state) is None,
        "kubelet": lambda: node_ready(layout, state),
        "kube-controller-manager": lambda: default_sa_ready(layout, state),
        "coredns": lambda: local_net.http_ok(f"http://127.0.0.1:{ports['dns_ready']}/ready"),
        "volume-provisioner": lambda: storage_class_ready(layout, state),
    }
    return checks.get(name, lambda: True)


def wait(state: State, name: str, deadline: float, ready: Callable[[], bool]) -> None:
    """Until `ready()`, polling every 0.1 s; raises when a recorded process exits or at `deadline`."""
    comp = state.component(name)
    assert comp is not None
    while True:
        for c in state.components:
            if not procs.is_alive(c.pid, c.ticks):
                procs.reap(c.pid)
                tail = log_tail(Path(c.log))
                if "address already in use" in tail:
                    raise LocalClusterError(
                        f"{c.name} could not listen: a port it needs was taken by another program while it started",
                        hint=f"see {c.log}; retry `deployer local up`")
                raise LocalClusterError(
                    f"{c.name} exited while the local cluster started: {last_line(tail) or 'no output'}",
                    hint=f"see {c.log}")
        if ready():
            return
        if time.monotonic() > deadline:
            raise LocalClusterError(f"{name} was not ready in time",
                                    hint=f"see {comp.log}; raise --timeout on a loaded machine")
        time.sleep(0.1)


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def last_line(text: str) -> str:
    rows = [r.strip() for r in text.splitlines() if r.strip()]
    return rows[-1][:300] if rows else ""
