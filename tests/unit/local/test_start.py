"""A fresh start (deployer.local.start): the ports picked, the kubeconfigs written, the folder
emptied down to the kept volumes, and a component that fails to start named."""

from __future__ import annotations

import json

import pytest

from deployer.adapters import local_net
from deployer.adapters.process import ProcessRunner
from deployer.local import certs, host, state_file
from deployer.local.node_lock import LocalClusterError
from deployer.local.ownership import mark
from deployer.local.spec import PORT_NAMES, Layout, kubeconfig_text
from deployer.local.start import host_baseline, pick_ports, start, write_kubeconfigs
from deployer.toolchain.kubebuild import COREDNS_VERSION, ETCD_VERSION, KUBERNETES_VERSION
from tests.unit.local.conftest import PORTS, new_state, program


def test_each_port_name_gets_a_distinct_free_port():
    ports = pick_ports(None)
    assert list(ports) == list(PORT_NAMES) and len(set(ports.values())) == len(PORT_NAMES)
    assert not any(local_net.port_in_use(p, "0.0.0.0") for p in ports.values())


def test_a_chosen_api_port_is_the_api_servers_and_no_other_components():
    [chosen] = local_net.free_ports(1, "0.0.0.0")
    ports = pick_ports(chosen)
    assert list(ports) == list(PORT_NAMES) and ports["api"] == chosen
    assert chosen not in [p for name, p in ports.items() if name != "api"]
    assert len(set(ports.values())) == len(PORT_NAMES)


def test_the_admin_and_each_component_get_a_kubeconfig_readable_by_the_owner_only(tmp_path, pki):
    lay = Layout(tmp_path)
    lay.configs.mkdir()
    write_kubeconfigs(lay, new_state(), pki)
    server = f"https://127.0.0.1:{PORTS['api']}"
    expected = {lay.kubeconfig: pki.admin_token} | {lay.component_kubeconfig(i): pki.token(i) for i in certs.IDENTITIES}
    assert len(expected) == 1 + len(certs.IDENTITIES)
    for path, token in expected.items():
        assert path.read_text() == kubeconfig_text(server, pki.ca_cert, token)
        assert path.stat().st_mode & 0o777 == 0o600


def test_the_baseline_is_what_the_host_has_now():
    b = host_baseline()
    assert (b.ip_forward, b.bridge_nf_call_iptables) == (host.read_sysctl("ip_forward") or "0",
                                                         host.read_sysctl("bridge_nf_call_iptables"))
    assert (b.netns, b.shim_sockets, b.node_ip_added) == (host.netns_names(), host.shim_sockets(), False)
    assert (b.run_containerd_existed, b.container_logs_existed) == (host.RUN_CONTAINERD.exists(),
                                                                     host.CONTAINER_LOGS.exists())


def test_an_etcd_that_exits_stops_the_start_naming_it_with_the_state_and_keys_recorded(tmp_path):
    lay = Layout(tmp_path / "local")
    lay.root.mkdir()
    mark(lay, created_folder=True)
    (lay.root / "etcd").mkdir()
    (lay.root / "etcd" / "member").write_text("an old cluster's data")
    (lay.volumes / "hub").mkdir(parents=True)
    (lay.volumes / "hub" / "jupyterhub.sqlite").write_text("users")  # kept by `down --keep-data`
    etcd = program(tmp_path, "etcd", "echo 'etcd: bad configuration'; exit 3")
    with pytest.raises(LocalClusterError) as e:
        start(lay, ProcessRunner(), {"etcd": etcd}, node=False, port=None, timeout=30)
    assert e.value.message == "etcd exited while the local cluster started: etcd: bad configuration"
    assert e.value.hint == f"see {lay.log('etcd')}"
    assert not (lay.root / "etcd").exists() and (lay.volumes / "hub" / "jupyterhub.sqlite").read_text() == "users"
    state = state_file.load(lay)
    assert (state.node, [c.name for c in state.components]) == (False, ["etcd"])
    assert list(state.ports) == list(PORT_NAMES)
    assert state.versions == {"kubernetes": KUBERNETES_VERSION, "etcd": ETCD_VERSION, "coredns": COREDNS_VERSION}
    assert certs.load(lay.pki).admin_token in lay.kubeconfig.read_text()
    assert json.loads(lay.marker.read_text())["created_folder"] is True
    assert not (lay.root / "config" / "kubelet.yaml").exists()  # an API-server-only cluster prepares no node
