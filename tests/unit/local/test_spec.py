"""The pure description of the local cluster (deployer.local.spec): each component's command line
and configuration file, the kubeconfig, the recorded state, the default StorageClass."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from ruamel.yaml import YAML

from deployer.local.spec import (
    BRIDGE, CLUSTER_CIDR, NODE_IP, NODE_NAME, PAUSE_IMAGE, POD_SUBNET, SERVICE_CIDR, Component, Layout, State,
    apiserver_args, cni_conflist, containerd_config, controller_manager_args, corefile, etcd_args, kubeconfig_text,
    kubelet_args, kubelet_config, provisioner_args, proxy_config, scheduler_args, storage_class,
)
from tests.unit.local.conftest import PORTS, flags, new_state


def test_etcd_listens_on_loopback_only(tmp_path):
    f = flags(etcd_args(Path("/bin/etcd"), Layout(tmp_path), PORTS))
    assert f["listen-client-urls"] == f"http://127.0.0.1:{PORTS['etcd']}"
    assert f["listen-peer-urls"] == f"http://127.0.0.1:{PORTS['etcd_peer']}"
    assert f["data-dir"] == str(tmp_path / "etcd")


def test_api_server_is_reachable_from_pods_and_authenticates_the_kubelet(pki):
    f = flags(apiserver_args(Path("/bin/kube-apiserver"), pki, PORTS))
    assert f["bind-address"] == "0.0.0.0" and f["advertise-address"] == NODE_IP
    assert f["secure-port"] == str(PORTS["api"])
    assert f["authorization-mode"] == "Node,RBAC" and f["enable-admission-plugins"] == "NodeRestriction"
    assert f["service-cluster-ip-range"] == SERVICE_CIDR
    assert f["kubelet-client-certificate"] == str(pki.kubelet_client_cert)
    assert "insecure-port" not in f  # removed in 1.24: a 1.34 API server refuses to start with it


def test_api_only_cluster_binds_loopback_only(pki):
    f = flags(apiserver_args(Path("/bin/kube-apiserver"), pki, PORTS, node=False))
    assert (f["bind-address"], f["advertise-address"]) == ("127.0.0.1", "127.0.0.1")


def test_controller_manager_allocates_the_node_cidr(tmp_path, pki):
    f = flags(controller_manager_args(Path("/bin/kcm"), pki, Layout(tmp_path), PORTS))
    assert (f["allocate-node-cidrs"], f["cluster-cidr"], f["node-cidr-mask-size"]) == ("true", CLUSTER_CIDR, "24")
    assert f["use-service-account-credentials"] == "true" and f["bind-address"] == "127.0.0.1"
    assert f["kubeconfig"] == str(tmp_path / "config" / "kube-controller-manager.kubeconfig")


def test_scheduler_and_kubelet_command_lines(tmp_path):
    s = flags(scheduler_args(Path("/bin/kube-scheduler"), Layout(tmp_path), PORTS))
    assert s["leader-elect"] == "false" and s["secure-port"] == str(PORTS["scheduler"])
    k = flags(kubelet_args(Path("/bin/kubelet"), Layout(tmp_path)))
    assert (k["node-ip"], k["hostname-override"], k["root-dir"]) == (NODE_IP, NODE_NAME, str(tmp_path / "kubelet"))
    # cAdvisor's container labels (namespace, pod, container) come from our private containerd
    assert k["containerd"] == str(Layout(tmp_path).containerd_socket)


def test_containerd_config_is_private_and_restricts_oom_score_adj(tmp_path):
    lay = Layout(tmp_path)
    cfg = tomllib.loads(containerd_config(lay))
    assert cfg["version"] == 2
    assert cfg["root"] == str(tmp_path / "containerd" / "root") and cfg["state"] == str(tmp_path / "containerd" / "state")
    assert cfg["grpc"]["address"] == str(lay.containerd_socket)
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True and cri["sandbox_image"] == PAUSE_IMAGE
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["containerd"]["snapshotter"] == "overlayfs"
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"] == {"SystemdCgroup": False, "Root": str(tmp_path / "containerd" / "runc")}
    assert cri["cni"]["conf_dir"] == str(tmp_path / "cni" / "net.d") and cri["cni"]["bin_dir"] == "/usr/lib/cni"
    assert cfg["plugins"]["io.containerd.internal.v1.opt"]["path"] == str(tmp_path / "containerd" / "opt")


def test_cni_conflist_is_a_bridge_with_portmap(tmp_path):
    conf = json.loads(cni_conflist(Layout(tmp_path)))
    bridge, portmap = conf["plugins"]
    assert (bridge["type"], bridge["bridge"], bridge["isGateway"], bridge["ipMasq"]) == ("bridge", BRIDGE, True, True)
    assert bridge["ipam"]["ranges"] == [[{"subnet": POD_SUBNET}]]
    assert bridge["ipam"]["dataDir"] == str(tmp_path / "cni" / "ipam")
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}


def test_kubelet_config_uses_cgroupfs_on_cgroup_v1_and_the_cluster_dns(tmp_path, pki):
    cfg = YAML(typ="safe").load(kubelet_config(Layout(tmp_path), pki, PORTS))
    assert cfg["kind"] == "KubeletConfiguration"
    assert (cfg["cgroupDriver"], cfg["failCgroupV1"], cfg["failSwapOn"]) == ("cgroupfs", False, False)
    assert cfg["clusterDNS"] == [NODE_IP] and cfg["clusterDomain"] == "cluster.local"
    assert cfg["containerRuntimeEndpoint"] == f"unix://{tmp_path}/containerd/containerd.sock"
    assert cfg["evictionHard"]["memory.available"] == "100Mi"
    assert cfg["authentication"]["anonymous"]["enabled"] is False and cfg["authorization"]["mode"] == "Webhook"
    assert cfg["readOnlyPort"] == 0 and cfg["podLogsDir"] == str(tmp_path / "pod-logs")


def test_kube_proxy_runs_iptables_mode_and_leaves_conntrack_sysctls_alone(tmp_path):
    cfg = json.loads(proxy_config(Layout(tmp_path), PORTS))
    assert (cfg["mode"], cfg["clusterCIDR"], cfg["hostnameOverride"]) == ("iptables", CLUSTER_CIDR, NODE_NAME)
    assert cfg["conntrack"]["maxPerCore"] == 0 and cfg["conntrack"]["tcpEstablishedTimeout"] == "0s"
    assert cfg["healthzBindAddress"] == f"127.0.0.1:{PORTS['proxy_healthz']}"


def test_coredns_serves_the_cluster_domain_on_the_node_ip(tmp_path):
    text = corefile(Layout(tmp_path), PORTS)
    assert text.count(f"bind {NODE_IP}") == 2
    assert f"kubeconfig {tmp_path}/config/coredns.kubeconfig deployer-local" in text
    assert f"ready 127.0.0.1:{PORTS['dns_ready']}" in text and "forward . /etc/resolv.conf" in text


def test_kubeconfig_is_valid_yaml_pointing_at_the_ca_and_token(tmp_path):
    doc = YAML(typ="safe").load(kubeconfig_text("https://127.0.0.1:1", tmp_path / "ca.crt", 'to"ken'))
    assert doc["clusters"][0]["cluster"] == {"server": "https://127.0.0.1:1", "certificate-authority": str(tmp_path / "ca.crt")}
    assert doc["users"][0]["user"]["token"] == 'to"ken'


def test_state_round_trips_through_json():
    s = new_state()
    s.components.append(Component("etcd", 12, 34, 2379, "/x/etcd.log"))
    s.baseline.netns = ["a"]
    back = State.from_json(s.to_json())
    assert back == s and back.api_port == PORTS["api"]


def test_the_volume_provisioner_makes_folders_under_the_state_folder_for_the_default_storage_class(tmp_path):
    lay = Layout(tmp_path)
    args = flags(provisioner_args(Path("/bin/volume-provisioner"), lay))
    assert args == {"kubeconfig": str(lay.component_kubeconfig("volume-provisioner")), "root": str(tmp_path / "volumes"),
                    "node": NODE_NAME, "provisioner": "deployer.local/hostpath", "v": "1"}
    sc = storage_class()
    assert sc["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert (sc["provisioner"], sc["reclaimPolicy"]) == ("deployer.local/hostpath", "Delete")
