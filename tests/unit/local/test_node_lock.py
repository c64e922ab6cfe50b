"""The local cluster's locks (local/node_lock.py): two `up`s cannot both pass the one-node check; one
`up` or `down` at a time per folder."""

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


def test_one_up_or_down_at_a_time_per_folder(tmp_path):
    from deployer.local.spec import Layout

    lay = Layout(tmp_path)
    with node_lock.folder_lock(lay):
        with pytest.raises(LocalClusterError) as e:
            with node_lock.folder_lock(lay):
                pass
        assert e.value.message == f"another `deployer local up` or `down` is running for {tmp_path}"
        assert e.value.hint == "wait for it to finish, then run `deployer local status`"
        (tmp_path / "other").mkdir()
        with node_lock.folder_lock(Layout(tmp_path / "other")):  # another folder's lock is its own
            pass
    with node_lock.folder_lock(lay):  # released
        pass
    assert (tmp_path / "up.lock").stat().st_mode & 0o777 == 0o600
