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

One real node per machine: `deployer.local.node_lock`. The API server's HTTPS endpoints and the
components' health URLs are reached through `deployer.adapters.local_net`.

Ownership: a folder `up` creates (or an empty one it is given) gets a marker file; `down`,
`status` and `up` never delete or reuse a folder that holds files but no marker.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deployer import paths
from deployer.adapters import local_net
from deployer.adapters.process import ProcessRunner
from deployer.errors import ToolMissing
from deployer.local import certs, host, procs
from deployer.local.node_lock import LocalClusterError, machine_lock, other_node
from deployer.local.teardown import clear_folder, teardown
from deployer.local.spec import (
    API_COMPONENTS, COMPONENTS, MARKER, MAX_ROOT_LEN, NODE_IP, NODE_NAME, PORT_NAMES, Baseline, Component, Layout, State,
    apiserver_args, cni_conflist, containerd_args, containerd_config, controller_manager_args, coredns_args,
    STORAGE_CLASS, corefile, etcd_args, kubeconfig_text, kubelet_args, kubelet_config, provisioner_args, proxy_args,
    proxy_config, scheduler_args, storage_class,
)

START_TIMEOUT = 90.0
COMPONENT_IDENTITY = {"kube-controller-manager": "kube-controller-manager", "kube-scheduler": "kube-scheduler",
                      "kubelet": "kubelet", "kube-proxy": "kube-proxy", "coredns": "coredns"}
HOST_PROGRAMS = {"containerd": "containerd", "containerd-shim-runc-v2": "containerd", "runc": "runc",
                 "ctr": "containerd", "iptables": "iptables", "ip": "iproute2"}


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

    # ---- ownership -----------------------------------------------------------------------------

    def _owned(self) -> bool | None:
        """True: deployer's folder (marker); None: no folder or an empty one; False: someone else's."""
        root = self.layout.root
        if self.layout.marker.is_file():
            return True
        if not root.exists():
            return None
        if not root.is_dir():
            return False
        return None if not any(root.iterdir()) else False

    def _refuse_foreign(self, action: str) -> None:
        root = self.layout.root
        precious = {Path("/"), Path.home().resolve()}
        if root in precious or root.parent in precious:
            raise LocalClusterError(
                f"refusing to keep the local cluster in {root}: its state folder {root.parent} is a home or root folder",
                hint="pass --state-dir a folder of its own (e.g. ~/.local/state/deployer)")
        if self._owned() is False:
            raise LocalClusterError(
                f"{root} was not created by deployer (it has no {MARKER} marker); refusing to {action} it",
                hint="pass --state-dir a new or empty folder for the local cluster (it uses <state-dir>/local)",
            )

    def _marker_info(self) -> dict:
        try:
            return json.loads(self.layout.marker.read_text())
        except (OSError, ValueError):
            return {}

    # ---- reading the state ---------------------------------------------------------------------

    def _load(self) -> State | None:
        try:
            return State.from_json(self.layout.state_file.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError):
            return None

    def _save(self, state: State) -> None:
        tmp = self.layout.state_file.with_suffix(".tmp")
        tmp.write_text(state.to_json())
        tmp.replace(self.layout.state_file)

    def _components(self, state: State) -> list[ComponentStatus]:
        out = []
        for name in (COMPONENTS if state.node else API_COMPONENTS):
            c = state.component(name)
            if c is None:
                out.append(ComponentStatus(name, None, None, False, None))
            else:
                out.append(ComponentStatus(name, c.pid, c.port, procs.is_alive(c.pid, c.ticks), c.log))
        return out

    def _server(self, state: State) -> str:
        return f"https://127.0.0.1:{state.api_port}"

    def status(self) -> ClusterStatus:
        """Each component's state. Reads only: never stops, cleans or deletes anything."""
        where = str(self.layout.root)
        self._refuse_foreign("read")
        state = self._load()
        if state is None:
            if self._owned() and any(p.name not in (MARKER, "logs", "volumes", self.layout.lock_file.name)
                                     for p in self.layout.root.iterdir()):
                return ClusterStatus("stale", where, "found a partial local cluster (no state.json)",
                                     hint="clean it up with `deployer local down`, then `deployer local up`")
            return ClusterStatus("down", where, "the local cluster is not running",
                                 hint="start it with `deployer local up`")
        comps = self._components(state)
        common = dict(components=comps, api_server=self._server(state), kubeconfig=str(self.layout.kubeconfig),
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
        problem = self._readyz_problem(state)
        if problem:
            return ClusterStatus("degraded", where, f"kube-apiserver is not ready: {problem}",
                                 hint=f"see {self.layout.log('kube-apiserver')}; restart with "
                                      "`deployer local down && deployer local up`", **common)
        if state.node and not self._node_ready(state):
            return ClusterStatus("degraded", where, f"node {NODE_NAME} is not Ready",
                                 hint=f"see {self.layout.log('kubelet')} and {self.layout.log('containerd')}", **common)
        what = f"node {NODE_NAME} Ready" if state.node else "API server only, no node"
        return ClusterStatus("up", where, f"the local cluster is up at {self._server(state)} "
                                          f"(Kubernetes {state.versions.get('kubernetes', '?')}, {what})", **common)

    # ---- up ------------------------------------------------------------------------------------

    def up(self, *, port: int | None = None, timeout: float = START_TIMEOUT) -> UpResult:
        started = time.monotonic()
        self._refuse_foreign("use")
        tools = self._find_tools()
        if self.node and len(str(self.layout.root)) > MAX_ROOT_LEN:
            raise LocalClusterError(
                f"the local cluster's folder path is {len(str(self.layout.root))} characters long; "
                f"containerd's and the kubelet's sockets inside it need it at most {MAX_ROOT_LEN}",
                hint="pass a shorter --state-dir")
        if port is not None and not 1 <= port <= 65535:
            raise LocalClusterError(f"port {port} is not a TCP port", hint="choose a port between 1024 and 65535")
        created = not self.layout.root.exists()
        self.layout.root.mkdir(parents=True, exist_ok=True)
        if not self.layout.marker.exists():
            self.layout.marker.write_text(json.dumps({"created_by": "deployer local up", "created_folder": created}) + "\n")
        try:
            return self._up_locked(port, timeout, started, tools)
        except BaseException:
            # refused before anything ran: a folder this call created goes again
            if created and not self.layout.state_file.exists() and not self.layout.logs.exists():
                shutil.rmtree(self.layout.root, ignore_errors=True)
            raise

    def _up_locked(self, port: int | None, timeout: float, started: float, tools: dict[str, Path]) -> UpResult:
        with self._lock():
            current = self.status()
            if current.state == "up":
                return UpResult(current, True, time.monotonic() - started)
            cleaned = None
            if current.state == "degraded" and any(not c.running for c in current.components):
                repaired = self._repair(tools, timeout)
                if repaired is not None:
                    return UpResult(self.status(), False, time.monotonic() - started, repaired=repaired)
            if current.state in ("stale", "degraded"):
                with machine_lock(self.node, timeout):
                    self._teardown(self._load())
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
                    self._start(tools, port, timeout)
                except BaseException:
                    self._teardown(self._load(), keep_logs=True)
                    raise
            return UpResult(self.status(), False, time.monotonic() - started, cleaned)

    def _lock(self):
        lay = self.layout

        class _Lock:
            def __enter__(s):
                s.fd = os.open(lay.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(s.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as e:
                    os.close(s.fd)
                    raise LocalClusterError(
                        f"another `deployer local up` or `down` is running for {lay.root}",
                        hint="wait for it to finish, then run `deployer local status`") from e
                return s

            def __exit__(s, *exc):
                fcntl.flock(s.fd, fcntl.LOCK_UN)
                os.close(s.fd)

        return _Lock()

    def _find_tools(self) -> dict[str, Path]:
        """Each program: the per-user tool cache (exactly the pinned versions, checksum-checked), else PATH."""
        if self.tools is not None:
            return dict(self.tools)
        from deployer.toolchain import kubebuild
        from deployer.toolchain import find_tool

        builds = [kubebuild.etcd_build(), kubebuild.kubernetes_build()] + (
            [kubebuild.coredns_build(), kubebuild.provisioner_build()] if self.node else [])
        found: dict[str, Path] = {}
        for build in builds:
            names = [n for n in build.binaries if self.node or n not in ("kubelet", "kube-proxy")]
            cached = kubebuild.installed(build)  # checksum-verified, remembered by file stat
            for name in names:
                found[name] = cached / name if cached is not None else find_tool(name)
        for program, package in (HOST_PROGRAMS.items() if self.node else ()):
            where = shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
            if where is None:
                raise ToolMissing(f"{program}: program not found (the local node needs it)",
                                  hint=f"install the Debian package {package} (scripts/install-toolchain.sh does it)")
            found[program] = Path(where)
        return found

    def _start(self, tools: dict[str, Path], port: int | None, timeout: float) -> None:
        lay = self.layout
        # volumes kept by `local down --keep-data` stay: a hub deployed again finds its data
        self._clear_folder(keep=(MARKER, lay.lock_file.name, "volumes"))
        for d in (lay.logs, lay.configs, lay.cni_conf_dir, lay.cni_ipam_dir, lay.kubelet_root, lay.pod_logs):
            d.mkdir(parents=True, exist_ok=True)
        free = [p for p in local_net.free_ports(len(PORT_NAMES) + 1, "0.0.0.0") if p != port]
        ports = dict(zip(PORT_NAMES, free))
        if port is not None:
            ports = {"api": port, **dict(zip(PORT_NAMES[1:], free))}
        from deployer.toolchain.kubebuild import COREDNS_VERSION, ETCD_VERSION, KUBERNETES_VERSION

        baseline = Baseline(ip_forward=host.read_sysctl("ip_forward") or "0",
                            bridge_nf_call_iptables=host.read_sysctl("bridge_nf_call_iptables"),
                            netns=host.netns_names(), shim_sockets=host.shim_sockets(),
                            run_containerd_existed=host.RUN_CONTAINERD.exists(),
                            container_logs_existed=host.CONTAINER_LOGS.exists())
        state = State(ports=ports, started_at=time.time(), baseline=baseline, node=self.node,
                      versions={"kubernetes": KUBERNETES_VERSION, "etcd": ETCD_VERSION, "coredns": COREDNS_VERSION})
        self._save(state)
        pki = certs.generate(lay.pki, node_ip=NODE_IP, node_name=NODE_NAME)
        server = self._server(state)
        lay.kubeconfig.write_text(kubeconfig_text(server, pki.ca_cert, pki.admin_token))
        lay.kubeconfig.chmod(0o600)
        for identity in certs.IDENTITIES:
            path = lay.component_kubeconfig(identity)
            path.write_text(kubeconfig_text(server, pki.ca_cert, pki.token(identity)))
            path.chmod(0o600)
        if self.node:
            self._prepare_node(state, pki)

        deadline = time.monotonic() + timeout
        node = self.node
        self._spawn_component(state, tools, pki, "etcd")
        if node:
            self._spawn_component(state, tools, pki, "containerd")
        self._wait(state, "etcd", deadline, self._ready_check(state, "etcd"))
        self._spawn_component(state, tools, pki, "kube-apiserver")
        if node:
            self._wait(state, "containerd", deadline, self._ready_check(state, "containerd"))
            self._import_pause(tools)
        # each waits for the API server by itself: starting them now saves their start-up time
        self._spawn_component(state, tools, pki, "kube-controller-manager")
        self._spawn_component(state, tools, pki, "kube-scheduler")
        if node:
            for name in ("kubelet", "kube-proxy", "coredns", "volume-provisioner"):
                self._spawn_component(state, tools, pki, name)
        for name in ("kube-apiserver", "kubelet", "kube-controller-manager", "coredns", "volume-provisioner"):
            if node or name in API_COMPONENTS:
                self._wait(state, name, deadline, self._ready_check(state, name))

    def _import_pause(self, tools: dict[str, Path]) -> None:
        from deployer.local.oci import import_image
        from deployer.local.pause import ensure_pause_image

        import_image(self.runner, self.layout.containerd_socket, ensure_pause_image(self.runner), ctr=str(tools["ctr"]))

    def _component_args(self, name: str, tools: dict[str, Path], pki: certs.Pki, state: State) -> tuple[list[str], int | None]:
        """How each component is started, and the port it listens on (the same for a first start and a repair)."""
        lay, ports, tool = self.layout, state.ports, tools[name]
        match name:
            case "etcd":
                return etcd_args(tool, lay, ports), ports["etcd"]
            case "containerd":
                return containerd_args(tool, lay), None
            case "kube-apiserver":
                return apiserver_args(tool, pki, ports, node=state.node), ports["api"]
            case "kube-controller-manager":
                return controller_manager_args(tool, pki, lay, ports), ports["kcm"]
            case "kube-scheduler":
                return scheduler_args(tool, lay, ports), ports["scheduler"]
            case "kubelet":
                return kubelet_args(tool, lay), ports["kubelet"]
            case "kube-proxy":
                return proxy_args(tool, lay), None
            case "coredns":
                return coredns_args(tool, lay), 53
            case "volume-provisioner":
                return provisioner_args(tool, lay), None
        raise ValueError(f"no such component: {name}")

    def _spawn_component(self, state: State, tools: dict[str, Path], pki: certs.Pki, name: str) -> None:
        args, port = self._component_args(name, tools, pki, state)
        self._spawn(state, name, args, port)

    def _ready_check(self, state: State, name: str):
        """A function telling whether component `name` is ready (what `up` waits for)."""
        lay, ports = self.layout, state.ports
        checks = {
            "etcd": lambda: local_net.http_ok(f"http://127.0.0.1:{ports['etcd']}/health"),
            "containerd": lambda: local_net.unix_socket_answers(lay.containerd_socket),
            "kube-apiserver": lambda: self._readyz_problem(state) is None,
            "kubelet": lambda: self._node_ready(state),
            "kube-controller-manager": lambda: self._default_sa_ready(state),
            "coredns": lambda: local_net.http_ok(f"http://127.0.0.1:{ports['dns_ready']}/ready"),
            "volume-provisioner": lambda: self._storage_class_ready(state),
        }
        return checks.get(name, lambda: True)

    # ---- repair --------------------------------------------------------------------------------

    def _repair(self, tools: dict[str, Path], timeout: float) -> list[str] | None:
        """Start again only the components that died, keeping everything the cluster holds (etcd's
        data, containerd's images and containers, the releases): what a second `up` does after a
        crash of the kubelet or containerd. Returns the components started, or None when a repair cannot
        work (the folder's keys or configuration are gone) and the caller starts afresh."""
        state = self._load()
        if state is None:
            return None
        try:
            pki = certs.load(self.layout.pki)
        except (OSError, IndexError, KeyError, ValueError):
            return None
        dead = [c for c in state.components if not procs.is_alive(c.pid, c.ticks)]
        if not dead or any(c.name not in COMPONENTS for c in dead):
            return None
        names = sorted((c.name for c in dead), key=COMPONENTS.index)
        for c in dead:
            procs.reap(c.pid)
        state.components = [c for c in state.components if c.name not in names]
        self._save(state)
        deadline = time.monotonic() + timeout
        with machine_lock(state.node, timeout):
            try:
                first = ("etcd", "containerd")  # the others need these
                for name in names:
                    self._spawn_component(state, tools, pki, name)
                    if name in first:
                        self._wait(state, name, deadline, self._ready_check(state, name))
                later = [n for n in names if n not in first]
                if "containerd" in names and "kubelet" not in later:
                    later.append("kubelet")  # a node cut off from its runtime is Ready once the kubelet reports
                for name in later:
                    self._wait(state, name, deadline, self._ready_check(state, name))
            except LocalClusterError as e:
                raise LocalClusterError(f"restarting {', '.join(names)} failed: {e.message}",
                                        hint=(e.hint + "; " if e.hint else "")
                                        + "or start afresh with `deployer local down && deployer local up` "
                                          "(the cluster's releases are lost then)") from e
        return names

    def _prepare_node(self, state: State, pki: certs.Pki) -> None:
        """The node's configuration files, and the host: forwarding for pods, the node address."""
        lay, ports = self.layout, state.ports
        lay.containerd_config.write_text(containerd_config(lay))
        (lay.cni_conf_dir / "10-deployer-local.conflist").write_text(cni_conflist(lay))
        lay.kubelet_config.write_text(kubelet_config(lay, pki, ports))
        lay.proxy_config.write_text(proxy_config(lay, ports))
        lay.corefile.write_text(corefile(lay, ports))
        host.write_sysctl("ip_forward", "1")
        host.write_sysctl("bridge_nf_call_iptables", "1")
        state.baseline.node_ip_added = host.add_node_ip(self.runner)
        self._save(state)
        for udp in (False, True):
            if local_net.bind_fails(NODE_IP, 53, udp):
                raise LocalClusterError(
                    f"port 53 on {NODE_IP} is already in use (a DNS server listening on all addresses?): "
                    "the cluster's DNS cannot start", hint="stop that DNS server, or make it listen on 127.0.0.1 only")

    def _spawn(self, state: State, name: str, args: list[str], port: int | None) -> None:
        log = self.layout.log(name)
        path = os.environ.get("PATH", "/usr/bin:/bin")
        # the kubelet, kube-proxy and containerd call runc, iptables, mount and conntrack by name
        env = {"PATH": path + "".join(f":{d}" for d in ("/usr/sbin", "/sbin") if d not in path.split(":"))}
        proc = self.runner.spawn(args, log_file=log, cwd=self.layout.root, env=env)
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
                        raise LocalClusterError(
                            f"{c.name} could not listen: a port it needs was taken by another program while it started",
                            hint=f"see {c.log}; retry `deployer local up`")
                    raise LocalClusterError(
                        f"{c.name} exited while the local cluster started: {_last_line(tail) or 'no output'}",
                        hint=f"see {c.log}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise LocalClusterError(f"{name} was not ready in time",
                                        hint=f"see {comp.log}; raise --timeout on a loaded machine")
            time.sleep(0.1)

    # ---- talking to the API (stdlib only: `up` and `status` stay fast) -------------------------

    def _readyz_problem(self, state: State) -> str | None:
        return local_net.readyz_problem(self._server(state), self.layout.pki / "ca.crt")

    def _api(self, state: State, path: str, method: str = "GET", body: dict | None = None) -> dict | None:
        try:
            token = certs.load(self.layout.pki).admin_token
        except (OSError, IndexError, KeyError):
            return None
        return local_net.api_json(self._server(state), self.layout.pki / "ca.crt", token, path, method, body)

    def _node_ready(self, state: State) -> bool:
        node = self._api(state, f"/api/v1/nodes/{NODE_NAME}")
        conds = ((node or {}).get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)

    def _storage_class_ready(self, state: State) -> bool:
        """The default StorageClass exists (created once the API server answers; it stays in etcd)."""
        path = f"/apis/storage.k8s.io/v1/storageclasses/{STORAGE_CLASS}"
        if self._api(state, path) is not None:
            return True
        self._api(state, "/apis/storage.k8s.io/v1/storageclasses", "POST", storage_class())
        return self._api(state, path) is not None

    def _default_sa_ready(self, state: State) -> bool:
        return self._api(state, "/api/v1/namespaces/default/serviceaccounts/default") is not None

    # ---- down ----------------------------------------------------------------------------------

    def down(self, *, keep_data: bool = False) -> DownResult:
        """Stop everything and take back every change to the host; the volumes' data goes too unless
        `keep_data` (then `<folder>/volumes` stays for the next `up`: a hub deployed again finds it)."""
        started = time.monotonic()
        root = self.layout.root
        self._refuse_foreign("delete")
        if self._owned() is None:
            return DownResult(str(root), [], False, time.monotonic() - started)
        with self._lock():
            state = self._load()
            # a node's teardown sweeps machine-wide state: no other node may start meanwhile
            with machine_lock(state.node if state is not None else self.node, START_TIMEOUT):
                stopped = self._teardown(state, keep_data=keep_data)
        removed = False
        if keep_data:
            self._clear_folder(keep=(MARKER, "volumes"))
        elif self._marker_info().get("created_folder"):
            shutil.rmtree(root, ignore_errors=True)
            removed = not root.exists()
        else:
            self._clear_folder(keep=())
        left = host.leftovers(self.runner, root, state.baseline.netns if state else [],
                              state.baseline.shim_sockets if state else [], self.layout.pod_logs)
        return DownResult(str(root), stopped, state is not None, time.monotonic() - started,
                          {k: v for k, v in left.counts().items() if v}, removed)

    def _teardown(self, state: State | None, *, keep_logs: bool = False,
                  keep_data: bool = False) -> list[tuple[str, int]]:
        return teardown(self.layout, self.runner, state, node=self.node, keep_logs=keep_logs, keep_data=keep_data)

    def _clear_folder(self, keep: tuple[str, ...]) -> None:
        clear_folder(self.layout, keep)

    def leftovers(self) -> host.Leftovers:
        state = self._load()
        return host.leftovers(self.runner, self.layout.root, state.baseline.netns if state else [],
                              state.baseline.shim_sockets if state else [], self.layout.pod_logs)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _last_line(text: str) -> str:
    rows = [r.strip() for r in text.splitlines() if r.strip()]
    return rows[-1][:300] if rows else ""
