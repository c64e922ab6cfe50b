"""Repair (deployer.local.repair): only the dead components start again, in start order, keeping the
others; when a repair cannot work it says so (None) and the caller starts afresh."""

from __future__ import annotations

import os
import signal

import pytest

from deployer.adapters.process import ProcessRunner
from deployer.local import certs, procs, state_file
from deployer.local.node_lock import LocalClusterError
from deployer.local.repair import repair
from deployer.local.spec import NODE_IP, NODE_NAME, Component, Layout
from tests.unit.local.conftest import ended_pid, new_state, program


def alive(name: str) -> Component:
    return Component(name, os.getpid(), procs.start_ticks(os.getpid()), None, f"/nowhere/{name}.log")


def dead(name: str) -> Component:
    return Component(name, ended_pid(), 1, None, f"/nowhere/{name}.log")


@pytest.fixture
def folder(tmp_path) -> Layout:
    """A cluster folder with its keys."""
    lay = Layout(tmp_path)
    certs.generate(lay.pki, node_ip=NODE_IP, node_name=NODE_NAME)
    return lay


def test_no_repair_without_a_state_or_the_keys_or_anything_dead_or_with_an_unknown_one_dead(tmp_path, folder):
    assert repair(folder, ProcessRunner(), {}, 5) is None  # no state
    for components in ([alive("etcd"), alive("kube-scheduler")], [alive("etcd"), dead("kube-dns")]):
        state_file.save(folder, new_state(node=False, components=components))
        assert repair(folder, ProcessRunner(), {}, 5) is None
        assert state_file.load(folder).components == components  # untouched
    keyless = Layout(tmp_path / "keyless")
    keyless.root.mkdir()
    state_file.save(keyless, new_state(node=False, components=[alive("etcd"), dead("kube-scheduler")]))
    assert repair(keyless, ProcessRunner(), {}, 5) is None


def test_only_the_dead_components_start_again_in_start_order(tmp_path, folder):
    etcd = alive("etcd")
    state_file.save(folder, new_state(node=False, components=[etcd, dead("kube-proxy"), dead("kube-scheduler")]))
    tools = {name: program(tmp_path, name, "exec sleep 30") for name in ("kube-scheduler", "kube-proxy")}
    assert repair(folder, ProcessRunner(), tools, 30) == ["kube-scheduler", "kube-proxy"]
    state = state_file.load(folder)
    try:
        assert [c.name for c in state.components] == ["etcd", "kube-scheduler", "kube-proxy"]
        assert state.components[0] == etcd
        assert all(procs.is_alive(c.pid, c.ticks) for c in state.components)
    finally:
        for c in state.components[1:]:
            os.kill(c.pid, signal.SIGKILL)
            procs.reap(c.pid)


def test_a_repair_that_fails_says_how_to_start_afresh(tmp_path, folder):
    state_file.save(folder, new_state(node=False, components=[alive("kube-apiserver"), dead("etcd")]))
    tools = {"etcd": program(tmp_path, "etcd", "echo 'etcd: data-dir is corrupt'; exit 1")}
    with pytest.raises(LocalClusterError) as e:
        repair(folder, ProcessRunner(), tools, 30)
    assert e.value.message == ("restarting etcd failed: etcd exited while the local cluster started: "
                               "etcd: data-dir is corrupt")
    assert e.value.hint == (f"see {folder.log('etcd')}; or start afresh with `deployer local down && deployer local up` "
                            "(the cluster's releases are lost then)")
    assert [c.log for c in state_file.load(folder).components] == ["/nowhere/kube-apiserver.log", str(folder.log("etcd"))]
