"""The local cluster's network doors: its API server's HTTPS endpoints (stdlib only, so that
`local up` and `local status` stay fast), the health URLs of its components, and the host's ports
and sockets it needs. Every call has a timeout; no call raises for a server that does not answer."""

from __future__ import annotations

import errno
import json
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

LOOPBACK = "127.0.0.1"


def _context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def readyz_problem(server: str, ca: Path, timeout: float = 3) -> Optional[str]:
    """None when the API server's /readyz passes; else what failed, in a few words."""
    url = f"{server}/readyz?verbose"
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=_context(ca)) as r:
            return None if r.status == 200 else f"/readyz answered {r.status}"
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        failed = [line[3:].split(" ")[0] for line in body.splitlines() if line.startswith("[-]")]
        return f"/readyz failed checks: {', '.join(failed)}" if failed else f"/readyz answered {e.code}"
    except (OSError, ssl.SSLError) as e:
        return f"{url} does not answer ({getattr(e, 'reason', e)})"


def api_json(server: str, ca: Path, token: str, path: str, method: str = "GET", body: Optional[dict] = None,
             timeout: float = 5) -> Optional[dict]:
    """One API call with a bearer token: the answer's JSON, or None on any failure."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_context(ca)) as r:
            return json.loads(r.read())
    except (OSError, ssl.SSLError, ValueError):
        return None


def http_ok(url: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except (OSError, ValueError):
        return False


def unix_socket_answers(path: Path, timeout: float = 1) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


def bind_fails(address: str, port: int, udp: bool = False) -> bool:
    """True when `address:port` is taken (TCP, or UDP with `udp`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
        except OSError as e:
            return e.errno == errno.EADDRINUSE
    return False


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """True when something already listens on (or holds) host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            return e.errno in (errno.EADDRINUSE, errno.EACCES)
    return False


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct ports the kernel says are free on host right now."""
    socks, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports
