"""What the local cluster's unit tests share: a set of ports, one cluster's keys, a short folder."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from deployer.local import certs
from deployer.local.spec import NODE_IP, NODE_NAME, PORT_NAMES, State

PORTS = {name: 20000 + i for i, name in enumerate(PORT_NAMES)}


def new_state(**kw) -> State:
    return State(ports=dict(PORTS), started_at=0.0, **kw)


def flags(args: list[str]) -> dict[str, str]:
    """`--name=value` arguments of a command line (after the program) as a dict."""
    return dict(a[2:].split("=", 1) for a in args[1:] if a.startswith("--") and "=" in a)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return certs.generate(tmp_path_factory.mktemp("pki"), node_ip=NODE_IP, node_name=NODE_NAME)


@pytest.fixture
def short_tmp():
    """A folder short enough for the cluster's sockets (pytest's own tmp_path is longer under xdist)."""
    folder = Path(tempfile.mkdtemp(prefix="lc-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def program(folder: Path, name: str, script: str) -> Path:
    """An executable shell script `folder/name` (a stand-in for a component's binary: it ignores its flags)."""
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return path


def ended_pid() -> int:
    """The PID of a process that has ended (a recorded component that died)."""
    from deployer.adapters.process import ProcessRunner

    return int(ProcessRunner().run(["/bin/sh", "-c", "echo $$"], timeout=30).stdout)
