"""The local cluster's pure parts (command lines, configuration files, kubeconfig, recorded state,
the Go builds) and how `status`, `down` and `up` treat a folder before starting anything:
never reuse or delete a folder deployer did not create."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from deployer.adapters import local_net
from deployer.adapters.process import ProcessRunner
from deployer.local import certs
from deployer.toolchain import kubebuild
from deployer.local.cluster import LocalCluster, LocalClusterError
from deployer.local.spec import (
    BRIDGE, CLUSTER_CIDR, MARKER, NODE_IP, NODE_NAME, PAUSE_IMAGE, POD_SUBNET, PORT_NAMES, SERVICE_CIDR, Component,
    Layout, State, apiserver_args, cni_conflist, containerd_config, controller_manager_args, corefile, etcd_args,
    kubeconfig_text, kubelet_args, kubelet_config, provisioner_args, proxy_config, scheduler_args, storage_class,
)

PORTS = {name: 20000 + i for i, name in enumerate(PORT_NAMES)}


def state() -> State:
    return State(ports=dict(PORTS), started_at=0.0)


def flags(args: list[str]) -> dict[str, str]:
    return dict(a[2:].split("=", 1) for a in args[1:] if a.startswith("--") and "=" in a)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return certs.generate(tmp_path_factory.mktemp("pki"), node_ip=NODE_IP, node_name=NODE_NAME)


# ---- command lines and configuration -------------------------------------------------------------


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


def test_api_server_certificate_names_loopback_the_service_ip_and_the_node_ip(pki):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) == ["10.250.0.1", "10.96.0.1", "127.0.0.1"]
    assert "kubernetes.default.svc.cluster.local" in san.get_values_for_type(x509.DNSName)


def test_each_component_has_its_own_token_identity(pki):
    rows = pki.tokens.read_text().splitlines()
    users = [r.split(",")[1] for r in rows]
    assert users == ["deployer-admin", "system:kube-controller-manager", "system:kube-scheduler",
                     "system:kube-proxy", f"system:node:{NODE_NAME}", "deployer-coredns", "deployer-volume-provisioner"]
    assert rows[4].endswith(',"system:nodes"') and rows[0].endswith(',"system:masters"')
    assert len({r.split(",")[0] for r in rows}) == len(rows)  # distinct tokens
    assert certs.load(pki.folder).tokens_by_identity == pki.tokens_by_identity


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
    s = state()
    s.components.append(Component("etcd", 12, 34, 2379, "/x/etcd.log"))
    s.baseline.netns = ["a"]
    back = State.from_json(s.to_json())
    assert back == s and back.api_port == PORTS["api"]


# ---- the Go builds ----------------------------------------------------------------------------


def test_kubernetes_build_replaces_every_staging_module_with_the_release_version():
    b = kubebuild.kubernetes_build("1.34.4")
    assert "require k8s.io/kubernetes v1.34.4\n" in b.go_mod
    assert "\tk8s.io/client-go => k8s.io/client-go v0.34.4\n" in b.go_mod
    assert b.go_mod.count(" => ") == len(kubebuild.KUBERNETES_STAGING) == 29
    assert "-X k8s.io/component-base/version.gitVersion=v1.34.4" in b.ldflags
    assert "-X k8s.io/component-base/version.gitMinor=34" in b.ldflags
    args = b.go_args(Path("/o"))
    assert args[:3] == ["go", "build", "-trimpath"] and args[5:7] == ["-o", "/o/"] and len(args) == 12


def test_the_volume_provisioner_is_our_main_over_the_sig_storage_library_and_rebuilt_when_it_changes(tmp_path):
    from deployer.toolchain import sha256_file
    from deployer.toolchain.pins import TOOLS

    b = kubebuild.provisioner_build()
    assert "require sigs.k8s.io/sig-storage-lib-external-provisioner/v13 v13.1.0\n" in b.go_mod
    assert "controller.NewProvisionController(" in b.main_go and b.binaries == ("volume-provisioner",)
    assert b.version == TOOLS["volume-provisioner"].pinned == "13.1.0-d2"
    # a changed main.go must bump PROVISIONER_REVISION (and pins.py) and this digest, or the cache keeps the old one
    assert sha256_file(kubebuild.PROVISIONER_MAIN) == kubebuild.PROVISIONER_MAIN_SHA256


def test_the_volume_provisioner_makes_folders_under_the_state_folder_for_the_default_storage_class(tmp_path):
    lay = Layout(tmp_path)
    args = flags(provisioner_args(Path("/bin/volume-provisioner"), lay))
    assert args == {"kubeconfig": str(lay.component_kubeconfig("volume-provisioner")), "root": str(tmp_path / "volumes"),
                    "node": NODE_NAME, "provisioner": "deployer.local/hostpath", "v": "1"}
    sc = storage_class()
    assert sc["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert (sc["provisioner"], sc["reclaimPolicy"]) == ("deployer.local/hostpath", "Delete")


def test_down_keeps_the_volumes_data_only_when_asked(tmp_path):
    for keep in (False, True):
        root = tmp_path / f"keep-{keep}"
        root.mkdir()  # nothing runs: a marked folder with a volume (node=False: the host is not swept)
        (root / MARKER).write_text(json.dumps({"created_folder": True}))
        (root / "volumes" / "staging" / "hub-db-dir").mkdir(parents=True)
        (root / "volumes" / "staging" / "hub-db-dir" / "jupyterhub.sqlite").write_text("users")
        (root / "etcd").mkdir()
        LocalCluster(root, tools={}, node=False).down(keep_data=keep)
        assert (root / "volumes" / "staging" / "hub-db-dir" / "jupyterhub.sqlite").is_file() is keep
        assert not (root / "etcd").exists()
        if keep:  # the kept data is not "a partial cluster": the next `up` starts normally and keeps it
            assert LocalCluster(root).status().state == "down"


def test_a_single_package_build_names_its_output(tmp_path):
    b = kubebuild.etcd_build("3.6.16")
    assert b.go_args(tmp_path)[-2:] == [str(tmp_path / "etcd"), "."]
    assert "etcdmain.Main(os.Args)" in b.main_go
    assert '_ "github.com/coredns/coredns/plugin/kubernetes"' in kubebuild.coredns_build().main_go


def test_installed_checks_every_binary_against_its_sha256(tmp_path):
    env = {"DEPLOYER_CACHE_DIR": str(tmp_path)}
    b = kubebuild.etcd_build("3.6.16")
    bin_dir = tmp_path / "tools" / "etcd" / "3.6.16" / "bin"
    assert kubebuild.installed(b, env) is None
    bin_dir.mkdir(parents=True)
    (bin_dir / "etcd").write_bytes(b"binary")
    (bin_dir / "etcd.sha256").write_text(kubebuild.sha256_file(bin_dir / "etcd") + "  etcd\n")
    assert kubebuild.installed(b, env) == bin_dir
    assert (bin_dir / ".verified").is_file()  # remembered: the next check only stats the files
    (bin_dir / "etcd").write_bytes(b"corrupt")
    assert kubebuild.installed(b, env) is None
    (bin_dir / "etcd").write_bytes(b"binary")
    assert kubebuild.installed(b, env, full=True) == bin_dir


def test_a_failed_build_leaves_no_half_installed_binary(tmp_path):
    env = {"DEPLOYER_CACHE_DIR": str(tmp_path), "PATH": "/usr/local/go/bin:/usr/bin:/bin"}
    # a go.mod go cannot read: go fails at once, before compiling anything
    broken = kubebuild.GoBuild(tool="broken", version="0.0.1", go_mod="module x\n\ngo 1.22\nnot a directive\n",
                               packages=(".",), binaries=("broken",), main_go="package main\n\nfunc main() {}\n")
    with pytest.raises(kubebuild.ToolError) as e:
        kubebuild.ensure(broken, ProcessRunner(), env=env, timeout=300)
    assert e.value.message.startswith("building broken v0.0.1 with go failed (exit 1):")
    assert not (tmp_path / "tools" / "broken").exists() or not any((tmp_path / "tools" / "broken").iterdir())


# ---- ownership: never reuse or delete a folder deployer did not create ------------------------


def test_status_of_a_missing_folder_says_not_running(tmp_path):
    st = LocalCluster(tmp_path / "none").status()
    assert (st.state, st.message, st.hint) == ("down", "the local cluster is not running",
                                                "start it with `deployer local up`")


def test_status_never_deletes_a_folder_with_user_files(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "precious.txt").write_text("keep")
    with pytest.raises(LocalClusterError) as e:
        LocalCluster(d).status()
    assert e.value.message == f"{d} was not created by deployer (it has no {MARKER} marker); refusing to read it"
    assert (d / "precious.txt").read_text() == "keep"


def test_down_refuses_a_folder_with_user_files_and_keeps_them(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "precious.txt").write_text("keep")
    (d / "state.json").write_text("{}")
    with pytest.raises(LocalClusterError) as e:
        LocalCluster(d).down()
    assert e.value.message == f"{d} was not created by deployer (it has no {MARKER} marker); refusing to delete it"
    assert sorted(p.name for p in d.iterdir()) == ["precious.txt", "state.json"]


def test_up_refuses_a_folder_with_user_files(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.md").write_text("x")
    with pytest.raises(LocalClusterError) as e:
        LocalCluster(d).up()
    assert e.value.message == f"{d} was not created by deployer (it has no {MARKER} marker); refusing to use it"
    assert [p.name for p in d.iterdir()] == ["notes.md"]


def test_the_home_folder_is_refused_as_a_state_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(LocalClusterError) as e:
        LocalCluster(tmp_path / "local").down()
    assert e.value.message == (f"refusing to keep the local cluster in {tmp_path / 'local'}: its state folder "
                               f"{tmp_path} is a home or root folder")


def test_down_of_an_empty_folder_stops_nothing_and_keeps_the_folder(tmp_path):
    result = LocalCluster(tmp_path).down()
    assert result.stopped == [] and not result.was_recorded and tmp_path.is_dir()


def test_status_of_a_marked_folder_whose_processes_are_gone_is_stale_and_kept(tmp_path):
    root = tmp_path / "stale"
    root.mkdir()
    (root / MARKER).write_text("{}")
    done = ProcessRunner().run([sys.executable, "-c", "import os; print(os.getpid())"], timeout=30)
    s = state()
    s.components.append(Component("etcd", int(done.stdout), 1, 2379, str(root / "etcd.log")))
    (root / "state.json").write_text(s.to_json())
    st = LocalCluster(root).status()
    assert (st.state, st.hint) == ("stale", "clean up with `deployer local down`, then `deployer local up`")
    assert (root / "state.json").exists()


def run_cli(args: list[str]) -> int:
    from deployer.cli import app
    from deployer.cli.app import run_app

    return run_app(app, args)


def test_cli_status_and_down_of_a_user_folder_exit_1_with_the_message(tmp_path, capsys):
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "precious.txt").write_text("keep")
    for command in ("status", "down", "up"):
        assert run_cli(["local", command, "--state-dir", str(tmp_path)]) == 1
        verb = {"status": "read", "down": "delete", "up": "use"}[command]
        err = capsys.readouterr().err
        assert (f"{tmp_path / 'local'} was not created by deployer (it has no {MARKER} marker); "
                f"refusing to {verb} it") in err.splitlines()[0]
    assert (tmp_path / "local" / "precious.txt").read_text() == "keep"


def test_cli_status_of_a_user_folder_without_local_says_not_running(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep")
    assert run_cli(["local", "status", "--state-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == "the local cluster is not running"
    assert run_cli(["local", "down", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "the local cluster was not running; nothing to stop"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


def test_port_in_use_and_free_ports():
    import socket

    a, b = local_net.free_ports(2)
    assert a != b and not local_net.port_in_use(a)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert local_net.port_in_use(s.getsockname()[1])


def test_a_kernel_without_br_netfilter_is_named(monkeypatch):
    from deployer.local import host

    monkeypatch.setattr(host, "read_sysctl", lambda name: None)
    with pytest.raises(host.HostProblem) as e:
        host.check_kernel()
    assert str(e.value) == ("the kernel has no br_netfilter (/proc/sys/net/bridge is missing): Services cannot reach "
                            "pods on the CNI bridge; load it with `modprobe br_netfilter`")


@pytest.fixture
def short_tmp():
    """A folder short enough for the cluster's sockets (pytest's own tmp_path is longer under xdist)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="lc-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_api_only_cluster_binds_loopback_only(pki):
    f = flags(apiserver_args(Path("/bin/kube-apiserver"), pki, PORTS, node=False))
    assert (f["bind-address"], f["advertise-address"]) == ("127.0.0.1", "127.0.0.1")


def test_a_second_up_while_one_runs_for_the_same_folder_is_refused(short_tmp):
    import fcntl
    import os as _os

    root = short_tmp / "local"
    root.mkdir()
    (root / MARKER).write_text("{}")
    fd = _os.open(root / "up.lock", _os.O_RDWR | _os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running `deployer local up` holds it
    try:
        for action in (lambda c: c.up(), lambda c: c.down()):
            with pytest.raises(LocalClusterError) as e:
                action(LocalCluster(root, tools={}))
            assert e.value.message == f"another `deployer local up` or `down` is running for {root}"
            assert e.value.hint == "wait for it to finish, then run `deployer local status`"
    finally:
        _os.close(fd)
    assert sorted(p.name for p in root.iterdir()) == [MARKER, "up.lock"]
