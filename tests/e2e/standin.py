"""A stand-in hub process behind a hub's Service, reachable through the API server's service proxy.

The local cluster runs no containers, so nothing answers behind a hub's Service. And the pods the
simulated node reports carry the address 127.0.0.1, which the API server refuses as an endpoint
("may not be in the loopback range"), so no Service of theirs gets endpoints. The API server's
service proxy also checks that an endpoint address belongs to a Pod of the same namespace.

So the stand-in is:
- a network namespace with a veth pair, the host end and the namespace end each with an address
  of a /30 out of 198.18.0.0/15 (the benchmarking range: never routed anywhere; traffic stays on
  this machine);
- our HTTP server (`standin_hub.py`) inside the namespace, on its own address;
- the hub pod's status given that address as its IP, as a kubelet on that network would report:
  the endpoints controller then writes the hub Service's Endpoints (targetRef: the real hub pod)
  and the API server really proxies `GET .../services/hub:8081/proxy/hub/health` to our server.
The hub's Service and Deployment are left exactly as helm made them.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Optional

from tests.conftest import missing

HERE = Path(__file__).resolve().parent


def require_netns() -> str:
    ip = "/usr/sbin/ip" if Path("/usr/sbin/ip").exists() else "/sbin/ip"
    if not Path(ip).exists():
        missing("iproute2 (`ip`, Debian package iproute2; scripts/install-toolchain.sh installs it)")
    if os.geteuid() != 0:
        missing("root (CAP_NET_ADMIN), to create a network namespace for the stand-in hub")
    return ip


def _run(*args: str) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


class NetnsHost:
    """A network namespace joined to the host by a veth pair, with an address of its own."""

    def __init__(self) -> None:
        self.ip_bin = require_netns()
        tag = uuid.uuid4().hex[:6]
        self.name = f"dpl-{tag}"
        self.host_if, self.ns_if = f"dh{tag}", f"dn{tag}"
        used = _run(self.ip_bin, "-o", "-4", "addr")
        while True:
            base = f"198.{18 + random.randint(0, 1)}.{random.randint(0, 255)}.{random.randrange(0, 252, 4)}"
            a, b, c, d = (int(x) for x in base.split("."))
            self.host_ip, self.ns_ip = f"{a}.{b}.{c}.{d + 1}", f"{a}.{b}.{c}.{d + 2}"
            if self.host_ip not in used and self.ns_ip not in used:
                break
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> "NetnsHost":
        ip = self.ip_bin
        try:
            _run(ip, "netns", "add", self.name)
            _run(ip, "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _run(ip, "link", "set", self.ns_if, "netns", self.name)
            _run(ip, "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            _run(ip, "link", "set", self.host_if, "up")
            _run(ip, "netns", "exec", self.name, ip, "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
            _run(ip, "netns", "exec", self.name, ip, "link", "set", self.ns_if, "up")
            _run(ip, "netns", "exec", self.name, ip, "link", "set", "lo", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def spawn(self, args: list[str], log: Path) -> subprocess.Popen:
        out = open(log, "ab")
        proc = subprocess.Popen([self.ip_bin, "netns", "exec", self.name, *args], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            self.stop(proc)
        subprocess.run([self.ip_bin, "link", "del", self.host_if], capture_output=True, timeout=30)
        subprocess.run([self.ip_bin, "netns", "del", self.name], capture_output=True, timeout=30)


class StandinHub:
    """Our HTTP server in `host`, standing in for the hub process of `namespace`."""

    POD = "hub-standin"

    def __init__(self, host: NetnsHost, api_client, namespace: str, workdir: Path) -> None:
        self.host, self.api, self.namespace, self.workdir = host, api_client, namespace, workdir
        self.proc: Optional[subprocess.Popen] = None
        self.log = workdir / f"standin-{namespace}.requests.jsonl"

    def token(self) -> str:
        """The deployer-health token the chart generated into the Secret `hub` (the real hub reads it there too)."""
        import base64

        from kubernetes import client

        secret = client.CoreV1Api(self.api).read_namespaced_secret("hub", self.namespace)
        return base64.b64decode(secret.data["hub.services.deployer-health.apiToken"]).decode()

    def start(self, services: list[str], token: Optional[str] = None) -> "StandinHub":
        self.stop()
        token_file = self.workdir / f"standin-{self.namespace}.token"
        token_file.write_text(token if token is not None else self.token())
        token_file.chmod(0o600)
        self.proc = self.host.spawn(
            [sys.executable, str(HERE / "standin_hub.py"), "--bind", self.host.ns_ip, "--port", "8081",
             "--token-file", str(token_file), "--services", ",".join(services), "--log", str(self.log)],
            self.workdir / f"standin-{self.namespace}.log")
        deadline = time.monotonic() + 20
        while True:  # ready when it answers from the host side of the veth pair
            try:
                import urllib.request

                urllib.request.urlopen(f"http://{self.host.ns_ip}:8081/hub/health", timeout=1).read()
                break
            except OSError:
                assert self.proc.poll() is None, (self.workdir / f"standin-{self.namespace}.log").read_text()
                assert time.monotonic() < deadline, "the stand-in hub did not answer"
                time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.host.stop(self.proc)
            self.proc = None

    def give_hub_pods_its_address(self, selector: str = "component=hub") -> int:
        """Report the stand-in's address as the IP of the hub's Running pods (what a kubelet
        would report for a pod on that network); returns how many pods were changed."""
        from kubernetes import client

        core = client.CoreV1Api(self.api)
        changed = 0
        for pod in core.list_namespaced_pod(self.namespace, label_selector=selector).items:
            if pod.status.phase != "Running" or pod.metadata.deletion_timestamp or pod.status.pod_ip == self.host.ns_ip:
                continue
            core.patch_namespaced_pod_status(pod.metadata.name, self.namespace, [  # a JSON patch: replace the list
                {"op": "replace", "path": "/status/podIP", "value": self.host.ns_ip},
                {"op": "replace", "path": "/status/podIPs", "value": [{"ip": self.host.ns_ip}]}])
            changed += 1
        return changed

    def put_behind_service(self, service: str = "hub", timeout: float = 30) -> None:
        """The hub's own Service, selector and all: once the hub pod carries the stand-in's address,
        the endpoints controller writes the Endpoints, and the API server proxies to our server."""
        from kubernetes import client

        core = client.CoreV1Api(self.api)
        deadline = time.monotonic() + timeout
        while True:
            self.give_hub_pods_its_address()
            try:
                ep = core.read_namespaced_endpoints(service, self.namespace)
                ips = [a.ip for s in (ep.subsets or []) for a in (s.addresses or [])]
            except client.ApiException:
                ips = []
            if ips == [self.host.ns_ip]:
                return
            assert time.monotonic() < deadline, f"Endpoints {service} still {ips}"
            time.sleep(0.2)

    @contextlib.contextmanager
    def following_rollouts(self):
        """While the block runs, a new hub pod (a rollout during deploy) gets the address too."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(0.2):
                try:
                    self.give_hub_pods_its_address()
                except Exception:  # the next round retries
                    pass

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    def requests(self) -> list[dict]:
        import json

        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
