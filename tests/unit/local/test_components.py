"""What each component runs with, and spawning it (deployer.local.components)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from deployer.adapters.process import ProcessRunner
from deployer.local import procs, state_file
from deployer.local.components import component_args, component_path, spawn, spawn_component
from deployer.local.spec import (
    COMPONENTS, Layout, apiserver_args, containerd_args, controller_manager_args, coredns_args, etcd_args, kubelet_args,
    provisioner_args, proxy_args, scheduler_args,
)
from tests.unit.local.conftest import PORTS, new_state, program

TOOLS = {name: Path(f"/opt/bin/{name}") for name in COMPONENTS}


def test_each_component_runs_with_its_command_line_and_listens_on_its_port(tmp_path, pki):
    lay = Layout(tmp_path)
    expected = {
        "etcd": (etcd_args(TOOLS["etcd"], lay, PORTS), PORTS["etcd"]),
        "containerd": (containerd_args(TOOLS["containerd"], lay), None),
        "kube-apiserver": (apiserver_args(TOOLS["kube-apiserver"], pki, PORTS, node=True), PORTS["api"]),
        "kube-controller-manager": (controller_manager_args(TOOLS["kube-controller-manager"], pki, lay, PORTS), PORTS["kcm"]),
        "kube-scheduler": (scheduler_args(TOOLS["kube-scheduler"], lay, PORTS), PORTS["scheduler"]),
        "kubelet": (kubelet_args(TOOLS["kubelet"], lay), PORTS["kubelet"]),
        "kube-proxy": (proxy_args(TOOLS["kube-proxy"], lay), None),
        "coredns": (coredns_args(TOOLS["coredns"], lay), 53),
        "volume-provisioner": (provisioner_args(TOOLS["volume-provisioner"], lay), None),
    }
    assert {name: component_args(lay, name, TOOLS, pki, new_state()) for name in COMPONENTS} == expected
    api_only = component_args(lay, "kube-apiserver", TOOLS, pki, new_state(node=False))
    assert api_only == (apiserver_args(TOOLS["kube-apiserver"], pki, PORTS, node=False), PORTS["api"])
    assert "--bind-address=127.0.0.1" in api_only[0]


def test_an_unknown_component_is_refused(tmp_path, pki):
    with pytest.raises(ValueError) as e:
        component_args(Layout(tmp_path), "kube-dns", {"kube-dns": Path("/bin/true")}, pki, new_state())
    assert str(e.value) == "no such component: kube-dns"


def test_the_components_path_has_the_sbin_folders_once():
    assert component_path("/usr/bin:/bin") == "/usr/bin:/bin:/usr/sbin:/sbin"
    assert component_path("/sbin:/usr/bin") == "/sbin:/usr/bin:/usr/sbin"
    assert component_path("/usr/sbin:/sbin") == "/usr/sbin:/sbin"


def wait_for_lines(path: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 10
    while len(lines := path.read_text().splitlines() if path.exists() else []) < count:
        assert time.monotonic() < deadline, lines
        time.sleep(0.05)
    return lines


def test_a_spawned_component_runs_in_the_folder_with_its_log_and_is_recorded(tmp_path, pki):
    lay = Layout(tmp_path)
    state = new_state(node=False)
    tools = {"kube-scheduler": program(tmp_path, "kube-scheduler", 'echo "$PATH"; pwd; echo "$1"; exec sleep 30')}
    spawn_component(lay, ProcessRunner(), state, tools, pki, "kube-scheduler")
    [c] = state.components
    try:
        assert (c.name, c.port, c.log) == ("kube-scheduler", PORTS["scheduler"], str(lay.log("kube-scheduler")))
        assert procs.is_alive(c.pid, c.ticks) and c.ticks == procs.start_ticks(c.pid)
        assert state_file.load(lay) == state  # recorded at once: a `down` meanwhile finds it
        assert wait_for_lines(lay.log("kube-scheduler"), 3) == [
            component_path(os.environ.get("PATH", "/usr/bin:/bin")), str(tmp_path),
            scheduler_args(tools["kube-scheduler"], lay, PORTS)[1]]
    finally:
        os.kill(c.pid, signal.SIGKILL)
        procs.reap(c.pid)


def test_spawn_appends_to_the_components_log(tmp_path):
    lay = Layout(tmp_path)
    lay.logs.mkdir()
    lay.log("etcd").write_text("from the first start\n")
    state = new_state(node=False)
    spawn(lay, ProcessRunner(), state, "etcd", ["/bin/sh", "-c", "echo again"], 2379)
    [c] = state.components
    assert wait_for_lines(lay.log("etcd"), 2) == ["from the first start", "again"]
    assert (c.name, c.port) == ("etcd", 2379)
    procs.reap(c.pid)
