"""`kubectl port-forward` to a Service, on a free port of 127.0.0.1, for the length of a `with` block
(the child runs through the ProcessRunner, and is stopped at the end)."""

from __future__ import annotations

import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from deployer.errors import DeployerError


class PortForwardFailed(DeployerError):
    """kubectl port-forward exited, or did not listen in time."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def port_forward(runner, kubectl: Path, kubeconfig: Path, context: Optional[str], namespace: str,
                 service: str, log_file: Path, timeout: float, remote_port: int = 80) -> Iterator[str]:
    port = free_port()
    args = [str(kubectl), "--kubeconfig", str(kubeconfig)]
    if context:
        args += ["--context", context]
    args += ["-n", namespace, "port-forward", "--address", "127.0.0.1", f"svc/{service}", f"{port}:{remote_port}"]
    proc = runner.spawn(args, log_file=log_file, stop_with_command=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] if log_file.exists() else []
                raise PortForwardFailed(f"kubectl port-forward to svc/{service} exited: {' '.join(tail) or 'no output'}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise PortForwardFailed(f"kubectl port-forward to svc/{service} did not listen within {timeout:g}s")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except Exception:  # noqa: BLE001 - still running: kill it
            proc.kill()
            proc.wait(5)
