"""A fresh start of the local cluster in its (marked, locked) folder: the folder emptied down to what
is kept, free ports picked, the host's baseline recorded, keys and kubeconfigs written, the node's
configuration and host settings made, then each component spawned in order and waited for."""

from __future__ import annotations

import time
from pathlib import Path

from deployer.adapters import local_net
from deployer.adapters.process import ProcessRunner
from deployer.local import certs, host, readiness, state_file
from deployer.local.components import spawn_component
from deployer.local.node_lock import LocalClusterError
from deployer.local.spec import (
    API_COMPONENTS, MARKER, NODE_IP, NODE_NAME, PORT_NAMES, Baseline, Layout, State, cni_conflist, containerd_config,
    corefile, kubeconfig_text, kubelet_config, proxy_config,
)
from deployer.local.teardown import clear_folder


def start(layout: Layout, runner: ProcessRunner, tools: dict[str, Path], *, node: bool, port: int | None,
          timeout: float) -> None:
    """Start every component; raises LocalClusterError (the caller tears down what started)."""
    # volumes kept by `local down --keep-data` stay: a hub deployed again finds its data
    clear_folder(layout, keep=(MARKER, layout.lock_file.name, "volumes"))
    for d in (layout.logs, layout.configs, layout.cni_conf_dir, layout.cni_ipam_dir, layout.kubelet_root,
              layout.pod_logs):
        d.mkdir(parents=True, exist_ok=True)
    from deployer.toolchain.kubebuild import COREDNS_VERSION, ETCD_VERSION, KUBERNETES_VERSION

    state = State(ports=pick_ports(port), started_at=time.time(), baseline=host_baseline(), node=node,
                  versions={"kubernetes": KUBERNETES_VERSION, "etcd": ETCD_VERSION, "coredns": COREDNS_VERSION})
    state_file.save(layout, state)
    pki = certs.generate(layout.pki, node_ip=NODE_IP, node_name=NODE_NAME)
    write_kubeconfigs(layout, state, pki)
    if node:
        prepare_node(layout, runner, state, pki)

    deadline = time.monotonic() + timeout

    def spawn(name: str) -> None:
        spawn_component(layout, runner, state, tools, pki, name)

    def wait(name: str) -> None:
        readiness.wait(state, name, deadline, readiness.ready_check(layout, state, name))

    spawn("etcd")
    if node:
        spawn("containerd")
    wait("etcd")
    spawn("kube-apiserver")
    if node:
        wait("containerd")
        import_pause(layout, runner, tools)
    # each waits for the API server by itself: starting them now saves their start-up time
    spawn("kube-controller-manager")
    spawn("kube-scheduler")
    if node:
        for name in ("kubelet", "kube-proxy", "coredns", "volume-provisioner"):
            spawn(name)
    for name in ("kube-apiserver", "kubelet", "kube-controller-manager", "coredns", "volume-provisioner"):
        if node or name in API_COMPONENTS:
            wait(name)


def pick_ports(port: int | None) -> dict[str, int]:
    """A free port for each of PORT_NAMES; the API server's is `port` when given."""
    free = [p for p in local_net.free_ports(len(PORT_NAMES) + 1, "0.0.0.0") if p != port]
    if port is not None:
        return {"api": port, **dict(zip(PORT_NAMES[1:], free))}
    return dict(zip(PORT_NAMES, free))


def host_baseline() -> Baseline:
    """What the host has before the node starts, so `down` puts it back and removes only what was added."""
    return Baseline(ip_forward=host.read_sysctl("ip_forward") or "0",
                    bridge_nf_call_iptables=host.read_sysctl("bridge_nf_call_iptables"),
                    netns=host.netns_names(), shim_sockets=host.shim_sockets(),
                    run_containerd_existed=host.RUN_CONTAINERD.exists(),
                    container_logs_existed=host.CONTAINER_LOGS.exists())


def write_kubeconfigs(layout: Layout, state: State, pki: certs.Pki) -> None:
    """The admin's kubeconfig and one per component identity, each readable by its owner only."""
    server = readiness.api_server(state)
    layout.kubeconfig.write_text(kubeconfig_text(server, pki.ca_cert, pki.admin_token))
    layout.kubeconfig.chmod(0o600)
    for identity in certs.IDENTITIES:
        path = layout.component_kubeconfig(identity)
        path.write_text(kubeconfig_text(server, pki.ca_cert, pki.token(identity)))
        path.chmod(0o600)


def prepare_node(layout: Layout, runner: ProcessRunner, state: State, pki: certs.Pki) -> None:
    """The node's configuration files, and the host: forwarding for pods, the node address."""
    ports = state.ports
    layout.containerd_config.write_text(containerd_config(layout))
    (layout.cni_conf_dir / "10-deployer-local.conflist").write_text(cni_conflist(layout))
    layout.kubelet_config.write_text(kubelet_config(layout, pki, ports))
    layout.proxy_config.write_text(proxy_config(layout, ports))
    layout.corefile.write_text(corefile(layout, ports))
    host.write_sysctl("ip_forward", "1")
    host.write_sysctl("bridge_nf_call_iptables", "1")
    state.baseline.node_ip_added = host.add_node_ip(runner)
    state_file.save(layout, state)
    for udp in (False, True):
        if local_net.bind_fails(NODE_IP, 53, udp):
            raise LocalClusterError(
                f"port 53 on {NODE_IP} is already in use (a DNS server listening on all addresses?): "
                "the cluster's DNS cannot start", hint="stop that DNS server, or make it listen on 127.0.0.1 only")


def import_pause(layout: Layout, runner: ProcessRunner, tools: dict[str, Path]) -> None:
    """The pause image into the node's containerd (pods' sandboxes; never pulled)."""
    from deployer.local.oci import import_image
    from deployer.local.pause import ensure_pause_image

    import_image(runner, layout.containerd_socket, ensure_pause_image(runner), ctr=str(tools["ctr"]))
