"""What `local status` reports (deployer.local.status): down, stale, degraded (naming the dead
components and their logs, or the API server's problem), each with its hint; it only reads."""

from __future__ import annotations

import os
import socket

from deployer.local import procs, state_file
from deployer.local.spec import API_COMPONENTS, COMPONENTS, NODE_NAME, Component, Layout
from deployer.local.status import ClusterStatus, ComponentStatus, cluster_status, component_statuses
from tests.unit.local.conftest import PORTS, ended_pid, new_state

TICKS = procs.start_ticks(os.getpid())


def test_each_component_the_cluster_runs_has_a_row_recorded_or_not():
    state = new_state(components=[Component("etcd", os.getpid(), TICKS, 2379, "/l/etcd.log")])
    rows = component_statuses(state)
    assert [r.name for r in rows] == list(COMPONENTS)
    assert rows[0] == ComponentStatus("etcd", os.getpid(), 2379, True, "/l/etcd.log")
    assert rows[1] == ComponentStatus("containerd", None, None, False, None)
    assert [r.name for r in component_statuses(new_state(node=False))] == list(API_COMPONENTS)


def test_a_folder_with_no_state_is_down_unless_more_than_the_kept_files_are_left(tmp_path):
    lay = Layout(tmp_path / "local")
    down = ClusterStatus("down", str(lay.root), "the local cluster is not running", hint="start it with `deployer local up`")
    assert cluster_status(lay) == down
    lay.root.mkdir()
    lay.marker.write_text("{}")
    for kept in (lay.logs, lay.volumes):
        kept.mkdir()
    lay.lock_file.write_text("")
    assert cluster_status(lay) == down  # what `down --keep-data` leaves
    lay.pki.mkdir()
    assert cluster_status(lay) == ClusterStatus(
        "stale", str(lay.root), "found a partial local cluster (no state.json)",
        hint="clean it up with `deployer local down`, then `deployer local up`")


def test_recorded_processes_all_gone_is_stale_and_some_gone_is_degraded_naming_them_and_their_logs(tmp_path):
    lay = Layout(tmp_path)
    gone = ended_pid()
    state_file.save(lay, new_state(node=False, versions={"kubernetes": "1.34.4"},
                                   components=[Component("etcd", gone, 1, 2379, "/l/etcd.log")]))
    st = cluster_status(lay)
    assert (st.state, st.message, st.hint) == ("stale", "the local cluster's processes are all gone (the machine restarted?)",
                                               "clean up with `deployer local down`, then `deployer local up`")
    assert (st.api_server, st.kubeconfig, st.node, st.versions) == (f"https://127.0.0.1:{PORTS['api']}",
                                                                     str(lay.kubeconfig), None, {"kubernetes": "1.34.4"})
    state_file.save(lay, new_state(components=[Component("etcd", os.getpid(), TICKS, 2379, "/l/etcd.log"),
                                               Component("kube-apiserver", gone, 1, PORTS["api"], "/l/api.log")]))
    st = cluster_status(lay)
    assert st.state == "degraded" and st.node == NODE_NAME and not st.healthy
    assert st.message == (f"the local cluster is broken: containerd, kube-apiserver (pid {gone}), kube-controller-manager, "
                          "kube-scheduler, kubelet, kube-proxy, coredns, volume-provisioner not running")
    assert st.hint == "start them again with `deployer local up` (the cluster keeps its releases); see /l/api.log"


def test_all_running_but_an_api_server_that_does_not_answer_is_degraded(tmp_path):
    lay = Layout(tmp_path)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        state = new_state(node=False, components=[Component(n, os.getpid(), TICKS, None, f"/l/{n}.log")
                                                  for n in API_COMPONENTS])
        state.ports["api"] = s.getsockname()[1]
        state_file.save(lay, state)
        st = cluster_status(lay)
    assert st.state == "degraded" and all(c.running for c in st.components)
    assert st.message == (f"kube-apiserver is not ready: https://127.0.0.1:{state.api_port}/readyz?verbose does not "
                          f"answer ([Errno 2] No such file or directory)")  # no CA: the folder holds no keys
    assert st.hint == f"see {lay.log('kube-apiserver')}; restart with `deployer local down && deployer local up`"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # status only reads


def test_the_json_form_says_whether_it_is_healthy():
    up = ClusterStatus("up", "/s", "the local cluster is up")
    assert up.healthy and up.to_json() == {"state": "up", "state_dir": "/s", "message": "the local cluster is up",
                                           "hint": None, "components": [], "api_server": None, "kubeconfig": None,
                                           "node": None, "versions": {}, "healthy": True}
    assert ClusterStatus("degraded", "/s", "x").to_json()["healthy"] is False
