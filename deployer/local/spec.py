"""Pure description of the local cluster: folder layout, recorded state, and each component's
command line. Nothing here starts a process or opens a socket."""

from __future__ import annotations

import json

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deployer.local.certs import Pki

STATE_DIR_ENV = "DEPLOYER_STATE_DIR"
NODE_NAME = "deployer-local-node"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
ISSUER = "https://kubernetes.default.svc.cluster.local"
# order of start; stopped in reverse
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "node")
# controllers that need a kubelet, a cloud or a volume plugin: our simulated node does their part
DISABLED_CONTROLLERS = ("nodeipam", "nodelifecycle", "cloud-node-lifecycle", "service", "route",
                        "attachdetach", "persistentvolume-binder", "persistentvolume-expander")


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """`<state folder>/local` (deployer.paths.state_dir: $DEPLOYER_STATE_DIR, else <repo>/.deployer, else XDG state)."""
    from deployer.paths import state_dir, try_find_root

    return state_dir(try_find_root(env=env), env=env) / "local"


@dataclass(frozen=True)
class Layout:
    """Where each file of one local cluster lives."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def volumes(self) -> Path:
        return self.root / "volumes"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"


@dataclass
class Component:
    name: str
    pid: int
    ticks: int | None  # process start time, to tell our process from a reused PID
    port: int | None
    log: str


@dataclass
class State:
    """What `state.json` records about a running (or once running) local cluster."""

    api_port: int
    etcd_port: int
    etcd_peer_port: int
    kcm_port: int
    started_at: float
    components: list[Component] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> State:
        data = json.loads(text)
        comps = [Component(**c) for c in data.pop("components", [])]
        return cls(**data, components=comps)

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)


def etcd_args(etcd: Path, layout: Layout, state: State) -> list[str]:
    client = f"http://127.0.0.1:{state.etcd_port}"
    peer = f"http://127.0.0.1:{state.etcd_peer_port}"
    return [
        str(etcd), "--name=deployer-local", f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=deployer-local={peer}", "--initial-cluster-state=new",
        "--logger=zap", "--log-level=warn", "--quota-backend-bytes=1073741824",
    ]


def apiserver_args(apiserver: Path, pki: Pki, state: State) -> list[str]:
    return [
        str(apiserver),
        f"--etcd-servers=http://127.0.0.1:{state.etcd_port}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        f"--secure-port={state.api_port}", "--insecure-port=0",
        f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_cert}", f"--token-auth-file={pki.tokens}",
        "--authorization-mode=Node,RBAC", "--anonymous-auth=true",
        f"--service-account-key-file={pki.sa_pub}", f"--service-account-signing-key-file={pki.sa_key}",
        f"--service-account-issuer={ISSUER}", f"--api-audiences={ISSUER}",
        f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true",
        "--enable-priority-and-fairness=false", "--profiling=false", "--v=1",
    ]


def controller_manager_args(kcm: Path, pki: Pki, kubeconfig: Path, state: State) -> list[str]:
    return [
        str(kcm), f"--kubeconfig={kubeconfig}",
        f"--service-account-private-key-file={pki.sa_key}", f"--root-ca-file={pki.ca_cert}",
        f"--cluster-signing-cert-file={pki.ca_cert}", f"--cluster-signing-key-file={pki.ca_key}",
        "--leader-elect=false", "--use-service-account-credentials=false",
        "--controllers=*," + ",".join(f"-{c}" for c in DISABLED_CONTROLLERS),
        "--bind-address=127.0.0.1", f"--secure-port={state.kcm_port}", "--port=0",
        "--profiling=false", "--v=1",
    ]


def node_args(python: str, kubeconfig: Path, layout: Layout) -> list[str]:
    return [python, "-m", "deployer.local.node", "--kubeconfig", str(kubeconfig),
            "--node-name", NODE_NAME, "--volumes", str(layout.volumes)]


def kubeconfig_text(server: str, pki: Pki, *, name: str = "deployer-local") -> str:
    """A kubeconfig (YAML; values JSON-quoted, which YAML reads as double-quoted scalars)."""
    q = json.dumps
    return (
        "apiVersion: v1\nkind: Config\n"
        f"current-context: {q(name)}\n"
        f"clusters:\n- name: {q(name)}\n  cluster:\n    server: {q(server)}\n"
        f"    certificate-authority: {q(str(pki.ca_cert))}\n"
        f"users:\n- name: {q(name + '-admin')}\n  user:\n    token: {q(pki.admin_token)}\n"
        f"contexts:\n- name: {q(name)}\n  context:\n    cluster: {q(name)}\n    user: {q(name + '-admin')}\n"
        "preferences: {}\n"
    )
