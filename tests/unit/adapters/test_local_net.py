"""Ports on this machine (deployer.adapters.local_net): a free port is free, a listening one is in use."""

from __future__ import annotations

from deployer.adapters import local_net


def test_port_in_use_and_free_ports():
    import socket

    a, b = local_net.free_ports(2)
    assert a != b and not local_net.port_in_use(a)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert local_net.port_in_use(s.getsockname()[1])
