"""When a component is ready and the wait for it (deployer.local.readiness): a component that exits
is named with the last line of its log, a port taken says so, the deadline names the component."""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deployer.local import procs, readiness
from deployer.local.node_lock import LocalClusterError
from deployer.local.spec import Component, Layout
from tests.unit.local.conftest import PORTS, ended_pid, new_state


def me() -> Component:
    """This test's own process: alive while the test runs."""
    return Component("etcd", os.getpid(), procs.start_ticks(os.getpid()), PORTS["etcd"], "/nowhere/etcd.log")


def test_a_component_that_exits_is_named_with_the_last_line_of_its_log(tmp_path):
    log = tmp_path / "kube-apiserver.log"
    log.write_text("starting\nE1207 flag provided but not defined: -insecure-port  \n\n")
    state = new_state(components=[me(), Component("kube-apiserver", ended_pid(), 1, PORTS["api"], str(log))])
    with pytest.raises(LocalClusterError) as e:
        readiness.wait(state, "etcd", time.monotonic() + 30, lambda: False)
    assert e.value.message == ("kube-apiserver exited while the local cluster started: "
                               "E1207 flag provided but not defined: -insecure-port")
    assert e.value.hint == f"see {log}"


def test_a_component_that_exits_without_output_says_so(tmp_path):
    state = new_state(components=[Component("etcd", ended_pid(), 1, 2379, str(tmp_path / "none.log"))])
    with pytest.raises(LocalClusterError) as e:
        readiness.wait(state, "etcd", time.monotonic() + 30, lambda: True)
    assert e.value.message == "etcd exited while the local cluster started: no output"


def test_a_port_taken_while_a_component_started_is_said_so(tmp_path):
    log = tmp_path / "etcd.log"
    log.write_text("listen tcp 127.0.0.1:2379: bind: address already in use\nexiting\n")
    state = new_state(components=[Component("etcd", ended_pid(), 1, 2379, str(log))])
    with pytest.raises(LocalClusterError) as e:
        readiness.wait(state, "etcd", time.monotonic() + 30, lambda: True)
    assert e.value.message == "etcd could not listen: a port it needs was taken by another program while it started"
    assert e.value.hint == f"see {log}; retry `deployer local up`"


def test_the_wait_ends_when_ready_or_names_the_component_at_the_deadline():
    state = new_state(components=[me()])
    calls = []
    readiness.wait(state, "etcd", time.monotonic() + 30, lambda: calls.append(1) or len(calls) == 3)
    assert len(calls) == 3
    with pytest.raises(LocalClusterError) as e:
        readiness.wait(state, "etcd", time.monotonic() + 0.2, lambda: False)
    assert e.value.message == "etcd was not ready in time"
    assert e.value.hint == "see /nowhere/etcd.log; raise --timeout on a loaded machine"


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path in ("/health", "/ready") else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_etcd_and_coredns_are_ready_when_their_health_url_answers_200(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        state = new_state()
        lay = Layout(tmp_path)
        state.ports.update(etcd=port, dns_ready=port)
        assert readiness.ready_check(lay, state, "etcd")() is True
        assert readiness.ready_check(lay, state, "coredns")() is True
    finally:
        server.shutdown()
        server.server_close()
    assert readiness.ready_check(lay, state, "etcd")() is False
    assert readiness.ready_check(lay, state, "containerd")() is False  # no socket


def test_the_api_server_is_not_ready_while_it_has_no_ca_or_nothing_answers_and_calls_without_keys_get_nothing(tmp_path, pki):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        state = new_state()
        state.ports["api"] = s.getsockname()[1]
        lay = Layout(tmp_path)
        url = f"https://127.0.0.1:{state.api_port}"
        assert readiness.api_server(state) == url
        assert readiness.readyz_problem(lay, state) == f"{url}/readyz?verbose does not answer ([Errno 2] No such file or directory)"
        lay.pki.mkdir()
        (lay.pki / "ca.crt").write_bytes(pki.ca_cert.read_bytes())  # the cluster's CA, but none of its tokens
        assert readiness.readyz_problem(lay, state) == f"{url}/readyz?verbose does not answer ([Errno 111] Connection refused)"
        assert readiness.ready_check(lay, state, "kube-apiserver")() is False
        assert readiness.api(lay, state, "/api/v1/nodes") is None  # no keys in the folder
        for name in ("kubelet", "kube-controller-manager", "volume-provisioner"):
            assert readiness.ready_check(lay, state, name)() is False
    for name in ("kube-scheduler", "kube-proxy"):  # nothing to ask: ready once running
        assert readiness.ready_check(lay, state, name)() is True


def test_the_log_tail_and_its_last_line(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)) + "   \n")
    assert readiness.log_tail(log, 3) == "line 28\nline 29\n   "
    assert readiness.last_line(readiness.log_tail(log)) == "line 29"
    assert readiness.last_line("x" * 400) == "x" * 300
    assert readiness.log_tail(tmp_path / "missing.log") == "" and readiness.last_line("") == ""
