"""One real node per machine (local/node_lock.py): two `up`s cannot both pass the one-node check."""

from __future__ import annotations

import fcntl
import os as _os

import pytest

from deployer.local import node_lock
from deployer.local.node_lock import LocalClusterError


def test_two_nodes_starting_at_once_are_serialised_by_a_machine_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(node_lock, "MACHINE_LOCK", tmp_path / "node.lock")
    fd = _os.open(tmp_path / "node.lock", _os.O_RDWR | _os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another `up` is starting its node
    try:
        with pytest.raises(LocalClusterError) as e:
            with node_lock.machine_lock(True, timeout=-29.5):
                pass
        assert e.value.message == f"another local node is starting on this machine and holds {tmp_path / 'node.lock'}"
        with node_lock.machine_lock(False, timeout=0):  # API-server-only clusters never wait
            pass
    finally:
        _os.close(fd)
    with node_lock.machine_lock(True, timeout=0):  # free again
        pass
