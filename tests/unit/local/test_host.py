"""The host checks of deployer.local.host."""

from __future__ import annotations

import pytest

from deployer.local import host


def test_a_kernel_without_br_netfilter_is_named(monkeypatch):
    monkeypatch.setattr(host, "read_sysctl", lambda name: None)
    with pytest.raises(host.HostProblem) as e:
        host.check_kernel()
    assert str(e.value) == ("the kernel has no br_netfilter (/proc/sys/net/bridge is missing): Services cannot reach "
                            "pods on the CNI bridge; load it with `modprobe br_netfilter`")
