"""The local cluster's pure parts: command lines, kubeconfig, recorded state, simulated pod status,
and how `status` reads a state folder without starting anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

from ruamel.yaml import YAML

from deployer.adapters.process import ProcessRunner
from deployer.local import certs, procs
from deployer.local.cluster import LocalCluster
from deployer.local.node import pod_status
from deployer.local.spec import (
    Component, Layout, State, apiserver_args, controller_manager_args, default_state_dir, etcd_args, kubeconfig_text,
)


def state() -> State:
    return State(api_port=6443, etcd_port=2379, etcd_peer_port=2380, kcm_port=10257, started_at=0.0)


def test_every_component_listens_on_loopback_only(tmp_path):
    pki = certs.generate(tmp_path / "pki")
    lay = Layout(tmp_path)
    args = [*etcd_args(Path("etcd"), lay, state()), *apiserver_args(Path("kas"), pki, state()),
            *controller_manager_args(Path("kcm"), pki, lay.kubeconfig, state())]
    urls = [a.split("=", 1)[1] for a in args if "urls=" in a or a.startswith("--initial-cluster=")]
    assert urls and all("127.0.0.1" in u for u in urls)
    assert "--bind-address=127.0.0.1" in apiserver_args(Path("kas"), pki, state())
    assert "--insecure-port=0" in apiserver_args(Path("kas"), pki, state())


def test_api_server_has_tls_token_auth_rbac_and_service_account_keys(tmp_path):
    pki = certs.generate(tmp_path / "pki")
    args = apiserver_args(Path("kas"), pki, state())
    assert "--authorization-mode=Node,RBAC" in args
    assert f"--token-auth-file={pki.tokens}" in args and f"--tls-cert-file={pki.serving_cert}" in args
    assert f"--service-account-key-file={pki.sa_pub}" in args
    assert any(a.startswith("--service-cluster-ip-range=") for a in args)
    assert oct(pki.sa_key.stat().st_mode & 0o777) == "0o600"


def test_controller_manager_runs_without_the_controllers_the_node_replaces(tmp_path):
    pki = certs.generate(tmp_path / "pki")
    args = controller_manager_args(Path("kcm"), pki, tmp_path / "kc", state())
    controllers = next(a for a in args if a.startswith("--controllers=")).split("=", 1)[1].split(",")
    assert controllers[0] == "*"
    assert {"-nodelifecycle", "-service", "-route", "-attachdetach", "-persistentvolume-binder"} <= set(controllers)
    assert "--leader-elect=false" in args


def test_kubeconfig_is_valid_yaml_pointing_at_the_ca_and_token(tmp_path):
    pki = certs.generate(tmp_path / "pki")
    cfg = YAML(typ="safe").load(kubeconfig_text("https://127.0.0.1:6443", pki))
    assert cfg["clusters"][0]["cluster"] == {"server": "https://127.0.0.1:6443",
                                             "certificate-authority": str(pki.ca_cert)}
    assert cfg["users"][0]["user"]["token"] == pki.admin_token == certs.load(tmp_path / "pki").admin_token


def test_state_round_trips_through_json():
    s = state()
    s.components.append(Component("etcd", 123, 456, 2379, "/x/etcd.log"))
    assert State.from_json(s.to_json()) == s


def test_state_dir_defaults_to_the_repository_and_follows_the_environment(tmp_path):
    assert default_state_dir({"DEPLOYER_STATE_DIR": str(tmp_path)}) == tmp_path / "local"
    assert default_state_dir({}).parts[-2:] == (".deployer", "local")


def pod(image: str, restart: str = "Always"):
    container = SimpleNamespace(name="main", image=image)
    return SimpleNamespace(spec=SimpleNamespace(containers=[container], init_containers=None, restart_policy=restart))


def test_simulated_pods_run_and_are_ready():
    st = pod_status(pod("jupyterhub/k8s-hub:4.0.0"), "n", backoff=False)
    assert st["phase"] == "Running"
    assert {c["type"]: c["status"] for c in st["conditions"]}["Ready"] == "True"
    assert st["containerStatuses"][0]["ready"] and "running" in st["containerStatuses"][0]["state"]


def test_pods_that_never_restart_complete():
    assert pod_status(pod("busybox", restart="Never"), "n", backoff=False)["phase"] == "Succeeded"


def test_an_unpullable_image_reports_err_image_pull_then_back_off():
    first = pod_status(pod("registry/unpullable:1"), "n", backoff=False)
    later = pod_status(pod("registry/unpullable:1"), "n", backoff=True)
    assert first["phase"] == later["phase"] == "Pending"
    assert first["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImagePull"
    assert later["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"


def test_status_of_an_empty_folder_says_not_running(tmp_path):
    st = LocalCluster(tmp_path / "none").status()
    assert st.state == "down" and not st.healthy and "deployer local up" in st.hint


def test_status_cleans_a_stale_folder_whose_processes_are_gone(tmp_path):
    root = tmp_path / "stale"
    root.mkdir()
    # a process that has finished: its PID is recorded but nothing runs under it
    done = ProcessRunner().run([sys.executable, "-c", "import os; print(os.getpid())"], timeout=30)
    s = state()
    s.components.append(Component("etcd", int(done.stdout), 1, 2379, str(root / "etcd.log")))
    (root / "state.json").write_text(s.to_json())
    st = LocalCluster(root).status()
    assert st.state == "stale" and "cleaned" in st.message and not root.exists()


def test_an_unreadable_state_file_is_treated_as_stale(tmp_path):
    root = tmp_path / "garbled"
    root.mkdir()
    (root / "state.json").write_text("{not json")
    assert LocalCluster(root).status().state == "stale" and not root.exists()


def test_down_with_nothing_recorded_stops_nothing(tmp_path):
    result = LocalCluster(tmp_path / "none").down()
    assert result.stopped == [] and not result.was_recorded


def test_port_in_use_and_free_ports(tmp_path):
    import socket

    a, b = procs.free_ports(2)
    assert a != b and not procs.port_in_use(a)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert procs.port_in_use(s.getsockname()[1])


def test_the_status_json_is_serialisable(tmp_path):
    st = LocalCluster(tmp_path / "none").status()
    assert json.loads(json.dumps(st.to_json()))["healthy"] is False
