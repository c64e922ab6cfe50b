"""Pure description of the local cluster: folder layout, recorded state, each component's command
line and configuration file. Nothing here starts a process, opens a socket or touches the host.

One node, `deployer-local-node`, at NODE_IP: an address deployer adds to the loopback interface
for the cluster's lifetime (this kind of VM has no dummy-interface driver). Every component runs
as a process of the host: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
containerd (with runc), the kubelet, kube-proxy (iptables) and CoreDNS (on NODE_IP:53, the
kubelet's clusterDNS). Pods get addresses from a CNI bridge (BRIDGE, POD_SUBNET); Services from
SERVICE_CIDR. Only one such node may run on a machine: iptables rules are machine-wide.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

NODE_NAME = "deployer-local-node"
NODE_IP = "10.250.0.1"
CLUSTER_CIDR = "10.244.0.0/16"
POD_SUBNET = "10.244.0.0/24"  # the controller manager gives the only node the first /24 of CLUSTER_CIDR
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
CLUSTER_DOMAIN = "cluster.local"
ISSUER = "https://kubernetes.default.svc.cluster.local"
BRIDGE = "dpl-cni0"
CNI_NETWORK = "deployer-local"
CNI_BIN_DIR = "/usr/lib/cni"
PAUSE_IMAGE = "registry.local/deployer/pause:3.10"
MARKER = ".deployer-local"  # a folder deployer created for a local cluster holds this file
MAX_ROOT_LEN = 70  # sockets below it (kubelet/device-plugins/kubelet.sock: +35) must fit in 107 bytes

# The default StorageClass of a cluster with a node: each claim gets a folder <volumes>/<namespace>/<claim>
# from deployer's volume provisioner (deployer/local/provisioner/main.go), so the charts' defaults (the hub's
# database on a volume, a home volume per user) work as on a cloud cluster.
STORAGE_CLASS = "deployer-local"
PROVISIONER = "deployer.local/hostpath"

# start order; stopped in reverse
COMPONENTS = ("etcd", "containerd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
              "kubelet", "kube-proxy", "coredns", "volume-provisioner")
# an API-server-only cluster (no node: nothing runs, the host is not touched; several may run at once)
API_COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
# the ports each component needs besides the API server's (picked free at `up`)
PORT_NAMES = ("api", "etcd", "etcd_peer", "kcm", "scheduler", "kubelet", "kubelet_healthz", "proxy_healthz",
              "proxy_metrics", "dns_health", "dns_ready")


@dataclass(frozen=True)
class Layout:
    """Where each file of one local cluster lives."""

    root: Path

    def _p(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    marker = property(lambda self: self._p(MARKER))
    state_file = property(lambda self: self._p("state.json"))
    lock_file = property(lambda self: self._p("up.lock"))
    pki = property(lambda self: self._p("pki"))
    etcd_data = property(lambda self: self._p("etcd"))
    logs = property(lambda self: self._p("logs"))
    kubeconfig = property(lambda self: self._p("kubeconfig"))
    configs = property(lambda self: self._p("config"))
    containerd_root = property(lambda self: self._p("containerd", "root"))
    containerd_state = property(lambda self: self._p("containerd", "state"))
    containerd_socket = property(lambda self: self._p("containerd", "containerd.sock"))
    containerd_config = property(lambda self: self._p("config", "containerd.toml"))
    runc_root = property(lambda self: self._p("containerd", "runc"))
    cni_conf_dir = property(lambda self: self._p("cni", "net.d"))
    cni_ipam_dir = property(lambda self: self._p("cni", "ipam"))
    kubelet_root = property(lambda self: self._p("kubelet"))
    kubelet_config = property(lambda self: self._p("config", "kubelet.yaml"))
    pod_logs = property(lambda self: self._p("pod-logs"))
    proxy_config = property(lambda self: self._p("config", "kube-proxy.yaml"))
    corefile = property(lambda self: self._p("config", "Corefile"))
    volumes = property(lambda self: self._p("volumes"))  # the volumes' data (`local down --keep-data` keeps it)

    def component_kubeconfig(self, identity: str) -> Path:
        return self._p("config", f"{identity}.kubeconfig")

    def log(self, component: str) -> Path:
        return self._p("logs", f"{component}.log")


@dataclass
class Component:
    name: str
    pid: int
    ticks: int | None  # process start time, to tell our process from a reused PID
    port: int | None
    log: str


@dataclass
class Baseline:
    """What the host had before `up`, so `down` restores it and removes only what the cluster added."""

    ip_forward: str = "0"
    bridge_nf_call_iptables: str | None = None
    node_ip_added: bool = False
    netns: list[str] = field(default_factory=list)
    shim_sockets: list[str] = field(default_factory=list)
    run_containerd_existed: bool = False
    container_logs_existed: bool = True


@dataclass
class State:
    """What `state.json` records about a running (or once running) local cluster."""

    ports: dict[str, int]
    started_at: float
    node: bool = True
    versions: dict[str, str] = field(default_factory=dict)
    baseline: Baseline = field(default_factory=Baseline)
    components: list[Component] = field(default_factory=list)

    @property
    def api_port(self) -> int:
        return self.ports["api"]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> State:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"state.json holds a {type(data).__name__}, not an object")
        comps = [Component(**c) for c in data.pop("components", [])]
        baseline = Baseline(**data.pop("baseline", {}))
        return cls(**data, baseline=baseline, components=comps)

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)


# ---- command lines ---------------------------------------------------------------------------


def etcd_args(etcd: Path, layout: Layout, ports: dict[str, int]) -> list[str]:
    client = f"http://127.0.0.1:{ports['etcd']}"
    peer = f"http://127.0.0.1:{ports['etcd_peer']}"
    return [
        str(etcd), "--name=deployer-local", f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=deployer-local={peer}", "--initial-cluster-state=new",
        "--log-level=warn", "--quota-backend-bytes=1073741824", "--unsafe-no-fsync",
    ]


def apiserver_args(apiserver: Path, pki, ports: dict[str, int], *, node: bool = True) -> list[str]:
    # with a node: all addresses, 127.0.0.1 for deployer and helm, NODE_IP for pods (the `kubernetes`
    # Service); API server only: 127.0.0.1 alone
    bind, advertise = ("0.0.0.0", NODE_IP) if node else ("127.0.0.1", "127.0.0.1")
    return [
        str(apiserver),
        f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
        f"--bind-address={bind}", f"--advertise-address={advertise}", f"--secure-port={ports['api']}",
        f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_cert}", f"--token-auth-file={pki.tokens}",
        f"--kubelet-client-certificate={pki.kubelet_client_cert}", f"--kubelet-client-key={pki.kubelet_client_key}",
        "--kubelet-preferred-address-types=InternalIP",
        "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
        f"--service-account-key-file={pki.sa_pub}", f"--service-account-signing-key-file={pki.sa_key}",
        f"--service-account-issuer={ISSUER}", f"--api-audiences={ISSUER}",
        f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true",
        "--profiling=false", "--v=1",
    ]


def controller_manager_args(kcm: Path, pki, layout: Layout, ports: dict[str, int]) -> list[str]:
    return [
        str(kcm), f"--kubeconfig={layout.component_kubeconfig('kube-controller-manager')}",
        f"--service-account-private-key-file={pki.sa_key}", f"--root-ca-file={pki.ca_cert}",
        f"--cluster-signing-cert-file={pki.ca_cert}", f"--cluster-signing-key-file={pki.ca_key}",
        "--allocate-node-cidrs=true", f"--cluster-cidr={CLUSTER_CIDR}", "--node-cidr-mask-size=24",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--use-service-account-credentials=true", "--leader-elect=false",
        "--bind-address=127.0.0.1", f"--secure-port={ports['kcm']}", "--profiling=false", "--v=1",
    ]


def scheduler_args(scheduler: Path, layout: Layout, ports: dict[str, int]) -> list[str]:
    return [
        str(scheduler), f"--kubeconfig={layout.component_kubeconfig('kube-scheduler')}",
        "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={ports['scheduler']}",
        "--profiling=false", "--v=1",
    ]


def containerd_args(containerd: Path, layout: Layout) -> list[str]:
    return [str(containerd), f"--config={layout.containerd_config}"]


def kubelet_args(kubelet: Path, layout: Layout) -> list[str]:
    return [
        str(kubelet), f"--config={layout.kubelet_config}",
        f"--kubeconfig={layout.component_kubeconfig('kubelet')}",
        f"--root-dir={layout.kubelet_root}", f"--node-ip={NODE_IP}", f"--hostname-override={NODE_NAME}",
        # the kubelet's cAdvisor asks containerd which container a cgroup is (its namespace, pod and
        # container labels on container_* metrics, what the dashboards group by): at our private socket,
        # not its default /run/containerd/containerd.sock (a cAdvisor flag the kubelet still takes)
        f"--containerd={layout.containerd_socket}",
        "--v=1",
    ]


def provisioner_args(provisioner: Path, layout: Layout) -> list[str]:
    return [str(provisioner), f"--kubeconfig={layout.component_kubeconfig('volume-provisioner')}",
            f"--root={layout.volumes}", f"--node={NODE_NAME}", f"--provisioner={PROVISIONER}", "--v=1"]


def storage_class() -> dict:
    """The cluster's default StorageClass (what `local up` creates)."""
    return {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                     "labels": {"app.kubernetes.io/managed-by": "deployer-local"}},
        "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
    }


def proxy_args(proxy: Path, layout: Layout) -> list[str]:
    return [str(proxy), f"--config={layout.proxy_config}", "--v=1"]


def coredns_args(coredns: Path, layout: Layout) -> list[str]:
    return [str(coredns), "-conf", str(layout.corefile)]


# ---- configuration files ---------------------------------------------------------------------


def containerd_config(layout: Layout, pause_image: str = PAUSE_IMAGE) -> str:
    """containerd 1.6/1.7 config, version 2: private root, state and socket; CRI with runc v2 on
    cgroupfs, overlayfs, our own CNI folder and the locally imported pause image.
    `restrict_oom_score_adj`: root here lacks CAP_SYS_RESOURCE, so runc cannot give the pause
    container the kubelet's oom_score_adj of -998 and every sandbox would fail without it."""
    q = json.dumps
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = {q(str(layout.containerd_root))}
state = {q(str(layout.containerd_state))}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = {q(str(layout.containerd_socket))}

[ttrpc]
  address = {q(str(layout.containerd_socket) + ".ttrpc")}

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = {q(str(layout.root / "containerd" / "opt"))}

[{cri}]
  sandbox_image = {q(pause_image)}
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false
  netns_mounts_under_state_dir = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = {q(str(layout.runc_root))}

[{cri}.cni]
  bin_dir = {q(CNI_BIN_DIR)}
  conf_dir = {q(str(layout.cni_conf_dir))}
  max_conf_num = 1
"""


def cni_conflist(layout: Layout) -> str:
    return json.dumps({
        "cniVersion": "0.4.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET}]],
                         "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(layout.cni_ipam_dir)},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=2) + "\n"


def kubelet_config(layout: Layout, pki, ports: dict[str, int]) -> str:
    """KubeletConfiguration (JSON is YAML). cgroupfs on cgroup v1 (`failCgroupV1: false` is 1.34's
    default; said here so a newer kubelet fails loudly rather than differently), no swap check,
    eviction thresholds low enough for a small VM, image GC off (images are imported, never pulled)."""
    return json.dumps({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": ports["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports["kubelet_healthz"],
        "tlsCertFile": str(pki.kubelet_cert),
        "tlsPrivateKeyFile": str(pki.kubelet_key),
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki.ca_cert)}},
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDNS": [NODE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "podLogsDir": str(layout.pod_logs),
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "resolvConf": "/etc/resolv.conf",
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "protectKernelDefaults": False,
        "maxPods": 110,
        "shutdownGracePeriod": "0s",
    }, indent=2) + "\n"


def proxy_config(layout: Layout, ports: dict[str, int]) -> str:
    """KubeProxyConfiguration, iptables mode; conntrack limits and timeouts left as the host has them."""
    return json.dumps({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.component_kubeconfig("kube-proxy"))},
        "mode": "iptables",
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "clusterCIDR": CLUSTER_CIDR,
        "healthzBindAddress": f"127.0.0.1:{ports['proxy_healthz']}",
        "metricsBindAddress": f"127.0.0.1:{ports['proxy_metrics']}",
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "iptables": {"syncPeriod": "30s", "minSyncPeriod": "0s"},
    }, indent=2) + "\n"


def corefile(layout: Layout, ports: dict[str, int]) -> str:
    """CoreDNS on NODE_IP:53: cluster names from the API, the rest forwarded as the host resolves."""
    return f"""cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {NODE_IP}
    errors
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {layout.component_kubeconfig('coredns')} deployer-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
.:53 {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:{ports['dns_health']}
    ready 127.0.0.1:{ports['dns_ready']}
    forward . /etc/resolv.conf
    cache 30
}}
"""


def kubeconfig_text(server: str, ca_cert: Path, token: str, *, name: str = "deployer-local") -> str:
    """A kubeconfig (YAML; values JSON-quoted, which YAML reads as double-quoted scalars)."""
    q = json.dumps
    return (
        "apiVersion: v1\nkind: Config\n"
        f"current-context: {q(name)}\n"
        f"clusters:\n- name: {q(name)}\n  cluster:\n    server: {q(server)}\n"
        f"    certificate-authority: {q(str(ca_cert))}\n"
        f"users:\n- name: {q(name + '-user')}\n  user:\n    token: {q(token)}\n"
        f"contexts:\n- name: {q(name)}\n  context:\n    cluster: {q(name)}\n    user: {q(name + '-user')}\n"
        "preferences: {}\n"
    )
