"""The local cluster's locks: one `up` or `down` at a time per folder, and one real node per machine
(the machine-wide lock held while a node starts or is taken down, and the check for another
folder's running kubelet, whose host state must not be swept)."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from deployer.errors import DeployerError
from deployer.local import host
from deployer.local.spec import NODE_NAME, Layout


class LocalClusterError(DeployerError):
    """The local cluster cannot start, or is broken, or its folder is not deployer's."""


class folder_lock:
    """Held by `up` and `down` for one folder: a second one for the same folder is refused at once."""

    def __init__(self, layout: Layout) -> None:
        self.layout, self.fd = layout, -1

    def __enter__(self):
        self.fd = os.open(self.layout.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(self.fd)
            raise LocalClusterError(
                f"another `deployer local up` or `down` is running for {self.layout.root}",
                hint="wait for it to finish, then run `deployer local status`") from e
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


MACHINE_LOCK = Path("/run/lock/deployer-local-node.lock")


class machine_lock:
    """Held while a real node starts, so two `up`s on one machine cannot both pass the
    one-node check before either has a kubelet (a no-op for API-server-only clusters)."""

    def __init__(self, node: bool, timeout: float) -> None:
        self.node, self.timeout, self.fd = node, timeout, None

    def __enter__(self):
        if not self.node:
            return self
        MACHINE_LOCK.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(MACHINE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout + 30
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as e:
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    raise LocalClusterError("another local node is starting on this machine and holds "
                                            f"{MACHINE_LOCK}", hint="wait for it, then `deployer local status`") from e
                time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)


def other_node(root: Path) -> str | None:
    """A kubelet of another local cluster folder running on this machine, if any."""
    for pid in host.processes_using(f"--hostname-override={NODE_NAME}"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for arg in cmd:
            if arg.startswith(b"--root-dir="):
                other = arg.split(b"=", 1)[1].decode(errors="replace")
                if not other.startswith(str(root) + "/"):
                    return f"kubelet pid {pid}, folder {Path(other).parent}"
    return None
