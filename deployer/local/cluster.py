"""The embedded local cluster: etcd, kube-apiserver, kube-controller-manager and a simulated node,
all on 127.0.0.1, with their state (PIDs, ports, keys, logs) in one folder.

No container runs here: the simulated node (`deployer.local.node`) only *reports* Pods as
Running and Ready through the API, so Deployments and `helm --wait` complete.
"""

from __future__ import annotations

import json
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from deployer.adapters.process import ProcessRunner
from deployer.errors import DeployerError
from deployer.local import certs, procs
from deployer.local.spec import (
    COMPONENTS, NODE_NAME, Component, Layout, State, apiserver_args, controller_manager_args,
    default_state_dir, etcd_args, kubeconfig_text, node_args,
)

START_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0  # then SIGKILL: an API server whose etcd died does not stop on SIGTERM
PORT_ATTEMPTS = 3


class LocalClusterError(DeployerError):
    """The local cluster cannot start, or is broken."""


class _PortRace(Exception):
    """A component lost a port we picked as free to another program: pick again."""


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    port: int | None
    running: bool
    log: str | None


@dataclass
class ClusterStatus:
    """`state`: up (all running and the API ready), down (nothing recorded), stale (recorded
    processes all gone: the folder was cleaned), or degraded (some component dead or API not ready)."""

    state: str
    state_dir: str
    message: str
    hint: str | None = None
    components: list[ComponentStatus] = field(default_factory=list)
    api_server: str | None = None
    kubeconfig: str | None = None

    @property
    def healthy(self) -> bool:
        return self.state == "up"

    def to_json(self) -> dict[str, object]:
        from dataclasses import asdict

        return {**asdict(self), "healthy": self.healthy}


@dataclass
class UpResult:
    status: ClusterStatus
    already_running: bool
    seconds: float
    cleaned: str | None = None  # what was found and cleaned before starting


@dataclass
class DownResult:
    state_dir: str
    stopped: list[tuple[str, int]]
    was_recorded: bool


class LocalCluster:
    """One local cluster, identified by its state folder."""

    def __init__(self, state_dir: Path | None = None, *, tools: Path | None = None,
                 runner: ProcessRunner | None = None, python: str | None = None) -> None:
        self.layout = Layout((state_dir or default_state_dir()).resolve())
        self.tools = tools
        self.runner = runner or ProcessRunner()
        self.python = python or sys.executable

    # ---- reading the state ---------------------------------------------------------------------

    def _load(self) -> State | None:
        try:
            return State.from_json(self.layout.state_file.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError):
            return None  # unreadable: treated like a stale folder

    def _save(self, state: State) -> None:
        tmp = self.layout.state_file.with_suffix(".tmp")
        tmp.write_text(state.to_json())
        tmp.replace(self.layout.state_file)

    def _components(self, state: State) -> list[ComponentStatus]:
        out = []
        for name in COMPONENTS:
            c = state.component(name)
            if c is None:
                out.append(ComponentStatus(name, None, None, False, None))
            else:
                out.append(ComponentStatus(name, c.pid, c.port, procs.is_alive(c.pid, c.ticks), c.log))
        return out

    def _server(self, state: State) -> str:
        return f"https://127.0.0.1:{state.api_port}"

    def status(self, *, clean_stale: bool = True) -> ClusterStatus:
        """Each component's state; a folder whose processes are all gone is cleaned."""
        where = str(self.layout.root)
        state = self._load()
        if state is None:
            if self.layout.state_file.exists() or (self.layout.root.is_dir() and any(self.layout.root.iterdir())):
                if clean_stale:
                    self._clean()
                return ClusterStatus("stale", where, "found an unreadable or partial state folder; cleaned it",
                                     hint="start the local cluster with `deployer local up`")
            return ClusterStatus("down", where, "the local cluster is not running",
                                 hint="start it with `deployer local up`")
        comps = self._components(state)
        common = dict(components=comps, api_server=self._server(state), kubeconfig=str(self.layout.kubeconfig))
        if not any(c.running for c in comps):
            if clean_stale:
                self._clean()
            return ClusterStatus("stale", where,
                                 "found a stale state folder from an earlier run whose processes are all gone; cleaned it",
                                 hint="start the local cluster with `deployer local up`", components=comps)
        dead = [c for c in comps if not c.running]
        if dead:
            names = ", ".join(f"{c.name} (pid {c.pid})" if c.pid else c.name for c in dead)
            logs = ", ".join(c.log for c in dead if c.log)
            return ClusterStatus("degraded", where, f"the local cluster is broken: {names} not running",
                                 hint="restart it with `deployer local down && deployer local up`"
                                      + (f"; see {logs}" if logs else ""), **common)
        problem = self._readyz_problem(state)
        if problem:
            return ClusterStatus("degraded", where, f"kube-apiserver is not ready: {problem}",
                                 hint=f"see {self.layout.log('kube-apiserver')}; restart with "
                                      "`deployer local down && deployer local up`", **common)
        return ClusterStatus("up", where, f"the local cluster is up at {self._server(state)}", **common)

    # ---- up ------------------------------------------------------------------------------------

    def up(self, *, port: int | None = None, timeout: float = START_TIMEOUT) -> UpResult:
        started = time.monotonic()
        current = self.status(clean_stale=True)
        cleaned = None
        if current.state == "up":
            return UpResult(current, True, time.monotonic() - started)
        if current.state == "stale":
            cleaned = current.message
        elif current.state == "degraded":
            stopped = self._stop_recorded()
            self._clean()
            cleaned = f"{current.message}; stopped what was left ({len(stopped)} process(es)) and started afresh"
        if port is not None:
            if not 1 <= port <= 65535:
                raise LocalClusterError(f"port {port} is not a TCP port", hint="choose a port between 1024 and 65535")
            if procs.port_in_use(port):
                raise LocalClusterError(
                    f"port {port} on 127.0.0.1 is already in use by another program",
                    hint="choose another with --port, or leave --port out and a free port is picked",
                )
        tools = self._find_tools()
        for attempt in range(PORT_ATTEMPTS):
            try:
                self._start(tools, port, timeout)
                break
            except _PortRace as exc:
                self._stop_recorded()
                self._clean()
                if port is not None or attempt == PORT_ATTEMPTS - 1:
                    raise LocalClusterError(
                        "a port picked for the local cluster was taken by another program while it started",
                        hint="retry `deployer local up`" + (" with another --port" if port else ""),
                    ) from exc
            except BaseException:
                self._stop_recorded()
                self._remove_state_file()
                raise
        return UpResult(self.status(clean_stale=False), False, time.monotonic() - started, cleaned)

    def _find_tools(self) -> dict[str, Path]:
        from deployer.toolchain import find_tool

        return {name: find_tool(name, tools=self.tools) for name in ("etcd", "kube-apiserver", "kube-controller-manager")}

    def _start(self, tools: dict[str, Path], port: int | None, timeout: float) -> None:
        lay = self.layout
        self._clean()
        lay.root.mkdir(parents=True, exist_ok=True)
        lay.logs.mkdir(exist_ok=True)
        lay.volumes.mkdir(exist_ok=True)
        pki = certs.generate(lay.pki)
        p = procs.free_ports(4)
        state = State(api_port=port or p[0], etcd_port=p[1], etcd_peer_port=p[2], kcm_port=p[3], started_at=time.time())
        if port is not None and port in p[1:]:
            state.etcd_port = procs.free_ports(5)[4]
        lay.kubeconfig.write_text(kubeconfig_text(self._server(state), pki))
        lay.kubeconfig.chmod(0o600)
        self._save(state)
        deadline = time.monotonic() + timeout

        self._spawn(state, "etcd", etcd_args(tools["etcd"], lay, state), state.etcd_port)
        self._wait(state, "etcd", deadline, lambda: _http_ok(f"http://127.0.0.1:{state.etcd_port}/health"))
        self._spawn(state, "kube-apiserver", apiserver_args(tools["kube-apiserver"], pki, state), state.api_port)
        # both wait for the API server by themselves: starting them now saves their start-up time
        self._spawn(state, "kube-controller-manager",
                    controller_manager_args(tools["kube-controller-manager"], pki, lay.kubeconfig, state), state.kcm_port)
        self._spawn(state, "node", node_args(self.python, lay.kubeconfig, lay), None)
        self._wait(state, "kube-apiserver", deadline, lambda: self._readyz_problem(state) is None)
        # ready for work: the node reports Ready, and the controllers made the default service account
        self._wait(state, "node", deadline, lambda: self._node_ready(state, pki))
        self._wait(state, "kube-controller-manager", deadline, lambda: self._default_token_ready(state, pki))

    def _spawn(self, state: State, name: str, args: list[str], port: int | None) -> None:
        log = self.layout.log(name)
        proc = self.runner.spawn(args, log_file=log, cwd=self.layout.root)
        state.components.append(Component(name, proc.pid, procs.start_ticks(proc.pid), port, str(log)))
        self._save(state)

    def _wait(self, state: State, name: str, deadline: float, ready) -> None:
        comp = state.component(name)
        assert comp is not None
        while True:
            for c in state.components:
                if not procs.is_alive(c.pid, c.ticks):
                    procs.reap(c.pid)
                    tail = _tail(Path(c.log))
                    if "address already in use" in tail:
                        raise _PortRace()
                    raise LocalClusterError(
                        f"{c.name} exited while the local cluster started: {_last_line(tail) or 'no output'}",
                        hint=f"see {c.log}",
                    )
            if ready():
                return
            if time.monotonic() > deadline:
                raise LocalClusterError(
                    f"{name} was not ready within {START_TIMEOUT:g}s",
                    hint=f"see {comp.log}; then `deployer local down` and retry",
                )
            time.sleep(0.1)

    # ---- talking to the API (stdlib only: `up` and `status` stay fast) -------------------------

    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.layout.pki / "ca.crt"))

    def _readyz_problem(self, state: State) -> str | None:
        url = f"{self._server(state)}/readyz?verbose"
        try:
            with urllib.request.urlopen(url, timeout=3, context=self._ssl()) as r:
                return None if r.status == 200 else f"/readyz answered {r.status}"
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            failed = [line[3:].split(" ")[0] for line in body.splitlines() if line.startswith("[-]")]
            return f"/readyz failed checks: {', '.join(failed)}" if failed else f"/readyz answered {e.code}"
        except (OSError, ssl.SSLError) as e:
            return f"{url} does not answer ({getattr(e, 'reason', e)})"

    def _api_get(self, state: State, pki: certs.Pki, path: str) -> dict | None:
        req = urllib.request.Request(self._server(state) + path,
                                     headers={"Authorization": f"Bearer {pki.admin_token}"})
        try:
            with urllib.request.urlopen(req, timeout=3, context=self._ssl()) as r:
                return json.loads(r.read())
        except (OSError, ssl.SSLError, ValueError):
            return None

    def _node_ready(self, state: State, pki: certs.Pki) -> bool:
        node = self._api_get(state, pki, f"/api/v1/nodes/{NODE_NAME}")
        conds = ((node or {}).get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)

    def _default_token_ready(self, state: State, pki: certs.Pki) -> bool:
        """The controllers made the default service account *and* its token: Pods can be created."""
        sa = self._api_get(state, pki, "/api/v1/namespaces/default/serviceaccounts/default")
        return bool((sa or {}).get("secrets"))

    # ---- down ----------------------------------------------------------------------------------

    def down(self) -> DownResult:
        state = self._load()
        stopped = self._stop_recorded(state)
        had = state is not None
        self._clean()
        return DownResult(str(self.layout.root), stopped, had)

    def _stop_recorded(self, state: State | None = None) -> list[tuple[str, int]]:
        state = state or self._load()
        if state is None:
            return []
        stopped = []
        for c in reversed(state.components):
            if procs.stop(c.pid, c.ticks, timeout=STOP_TIMEOUT):
                stopped.append((c.name, c.pid))
        return stopped

    def _remove_state_file(self) -> None:
        self.layout.state_file.unlink(missing_ok=True)

    def _clean(self) -> None:
        root = self.layout.root
        if root.is_dir():
            shutil.rmtree(root, ignore_errors=True)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (OSError, ValueError):
        return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _last_line(text: str) -> str:
    rows = [r.strip() for r in text.splitlines() if r.strip()]
    return rows[-1][:300] if rows else ""
