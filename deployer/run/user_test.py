"""The user test: what a user does, done by deployer against a running hub, then undone.

1. connect:  a port-forward on 127.0.0.1 to the hub's public proxy (`proxy-public`), so requests and the
             kernel's websocket go the way a user's do (CHP, then the hub or the user's server); then
             wait, within the connect timeout, until the proxy passes `/hub/api/` on to the hub;
2. user:     with the token of the `deployer-user-test` service (its role: admin:users, tokens, servers,
             access:servers; the chart keeps its token in the Secret `hub`), create a temporary user and
             give it a token of its own, scoped to that user's server only, expiring in 15 minutes;
3. start:    the user starts its server (POST /hub/api/users/<name>/server);
4. ready:    wait until the hub says the server is ready;
5. kernel:   start a kernel through the Jupyter server's REST API, run a short piece of Python through
             the kernel's websocket, check its output, delete the kernel; the same code writes a file
             with a random word in the user's home;
6. stop:     the user stops its server, and the hub says it stopped;
7. restart:  the user starts its server again and the hub says it is ready;
8. home:     a kernel reads the file back: the home survived the server's restart (a hub whose user
             servers get no home volume says so, and the phase is skipped); then the server is stopped.
Always (failure, timeout, Ctrl-C): the server is stopped and the user deleted (which deletes its tokens).
On failure: the phase, the reason (from the server pod's state and events when there is one) and the
pod's last log lines.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional
from urllib.parse import quote

from deployer.errors import DeployerError

SERVICE = "deployer-user-test"
SERVICE_TOKEN_KEY = f"hub.services.{SERVICE}.apiToken"
SERVICE_SCOPES = ["admin:users", "tokens", "servers", "access:servers"]
PROXY_SERVICE = "proxy-public"
HUB_SECRET = "hub"
CODE = "import sys\nprint(6 * 7, sys.version_info[0])"
EXPECTED_OUTPUT = "42 3"
USER_PREFIX = "deployer-test-"
HOME_FILE = ".deployer-user-test"  # in the user's home


def write_home_code(word: str) -> str:
    return (CODE + f"\nimport os\nwith open(os.path.join(os.path.expanduser('~'), {HOME_FILE!r}), 'w') as f:"
            f"\n    f.write({word!r})\n")


def read_home_code() -> str:
    return ("import os\np = os.path.join(os.path.expanduser('~'), " + repr(HOME_FILE) + ")\n"
            "print(open(p).read() if os.path.exists(p) else 'MISSING:' + os.path.expanduser('~'))")


def service_values() -> dict:
    """jupyterhub chart values registering the user test's service and its role (the chart makes its token)."""
    return {"hub": {
        "services": {SERVICE: {"display": False}},
        "loadRoles": {SERVICE: {"description": "deployer's user test: a temporary user, its server and kernel",
                                "scopes": list(SERVICE_SCOPES), "services": [SERVICE]}},
    }}


def user_scopes(user: str) -> list[str]:
    """The temporary user's own token: its server only."""
    return [f"servers!user={user}", f"access:servers!user={user}"]


@dataclass
class UserTestOptions:
    connect_timeout: float = 20.0
    start_timeout: float = 180.0  # from the start request to the server being ready
    kernel_timeout: float = 60.0
    stop_timeout: float = 60.0
    request_timeout: float = 15.0
    home: bool = True  # the restart and home phases: a file in the home survives the server's restart


@dataclass
class Phase:
    name: str
    ok: bool
    seconds: float
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "seconds": round(self.seconds, 2), "message": self.message}


@dataclass
class UserTestResult:
    hub: str
    user: str
    ok: bool = False
    phases: list[Phase] = field(default_factory=list)
    reason: str = ""
    pod_log: list[str] = field(default_factory=list)
    cleanup: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"hub": self.hub, "user": self.user, "ok": self.ok, "seconds": round(self.seconds, 2),
                "reason": self.reason or None, "phases": [p.to_json() for p in self.phases],
                "pod_log": self.pod_log, "cleanup": self.cleanup}


class PhaseFailed(DeployerError):
    pass


# -- HTTP to the hub (stdlib; no new dependency) ------------------------------------------------

@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode() or "null")

    def brief(self) -> str:
        try:
            doc = self.json()
            if isinstance(doc, dict) and doc.get("message"):
                return str(doc["message"])[:200]
        except ValueError:
            pass
        return self.body.decode(errors="replace").strip()[:200]


@dataclass
class Http:
    base: str  # http://127.0.0.1:<port>
    timeout: float

    def call(self, method: str, path: str, token: str, body: Any = None) -> Answer:
        import urllib.error
        import urllib.request

        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json",
                                              "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return Answer(resp.status, resp.read())
        except urllib.error.HTTPError as e:
            return Answer(e.code, e.read() or b"")
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise PhaseFailed(f"{method} {path}: no answer ({getattr(e, 'reason', e)})") from e


# -- the kernel protocol --------------------------------------------------------------------------

def execute_request(code: str, session: str) -> tuple[str, dict]:
    msg_id = uuid.uuid4().hex
    return msg_id, {
        "header": {"msg_id": msg_id, "username": "deployer", "session": session, "msg_type": "execute_request",
                   "version": "5.3", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }


@dataclass
class KernelOutput:
    stdout: str = ""
    error: str = ""
    done: bool = False


def absorb(out: KernelOutput, msg: dict, msg_id: str) -> None:
    """Fold one kernel message into `out` (only messages answering `msg_id`)."""
    if (msg.get("parent_header") or {}).get("msg_id") != msg_id:
        return
    kind = (msg.get("header") or {}).get("msg_type") or msg.get("msg_type")
    content = msg.get("content") or {}
    if kind == "stream" and content.get("name") == "stdout":
        out.stdout += content.get("text", "")
    elif kind == "error":
        out.error = f"{content.get('ename')}: {content.get('evalue')}"
    elif kind == "execute_reply":
        if content.get("status") == "error" and not out.error:
            out.error = f"{content.get('ename')}: {content.get('evalue')}"
        out.done = True


def run_code(ws_url: str, token: str, code: str, timeout: float) -> KernelOutput:
    import websocket  # websocket-client: already a dependency of the kubernetes client

    deadline = time.monotonic() + timeout
    try:
        ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=timeout)
    except (websocket.WebSocketException, OSError) as e:
        raise PhaseFailed(f"the kernel's websocket did not open: {e}") from e
    out = KernelOutput()
    try:
        msg_id, msg = execute_request(code, uuid.uuid4().hex)
        ws.send(json.dumps(msg))
        while not out.done:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PhaseFailed(f"the kernel did not finish running the code within {timeout:g}s")
            ws.settimeout(left)
            try:
                raw = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError) as e:
                raise PhaseFailed(f"the kernel's websocket closed: {e}") from e
            if isinstance(raw, bytes):  # binary frames carry buffers; our code makes none
                continue
            absorb(out, json.loads(raw), msg_id)
    finally:
        ws.close()
    return out


# -- the port-forward -------------------------------------------------------------------------------

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
    proc = runner.spawn(args, log_file=log_file)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] if log_file.exists() else []
                raise PhaseFailed(f"kubectl port-forward to svc/{service} exited: {' '.join(tail) or 'no output'}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise PhaseFailed(f"kubectl port-forward to svc/{service} did not listen within {timeout:g}s")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except Exception:  # noqa: BLE001 - still running: kill it
            proc.kill()
            proc.wait(5)


# -- the test -------------------------------------------------------------------------------------------

class UserTest:
    def __init__(self, kube, runner, kubectl: Path, kubeconfig: Path, context: Optional[str], namespace: str,
                 work_dir: Path, options: Optional[UserTestOptions] = None) -> None:
        self.kube, self.runner, self.kubectl = kube, runner, kubectl
        self.kubeconfig, self.context, self.ns = kubeconfig, context, namespace
        self.work_dir = work_dir
        self.options = options or UserTestOptions()
        self.user = USER_PREFIX + secrets.token_hex(4)

    def run(self) -> UserTestResult:
        result = UserTestResult(self.ns, self.user)
        started = time.monotonic()
        try:
            service_token = self.kube.secret_value(self.ns, HUB_SECRET, SERVICE_TOKEN_KEY)
        except DeployerError as e:
            result.reason = f"cannot read the Secret {HUB_SECRET}: {e.message}"
            return result
        if not service_token:
            result.reason = (f"the hub registers no `{SERVICE}` service (no {SERVICE_TOKEN_KEY} in the Secret "
                             f"{HUB_SECRET}); the chart's values must add it (deployer.run.user_test.service_values)")
            return result
        try:
            with self.connect() as base:
                http = Http(base, self.options.request_timeout)
                reached = self._reach_hub(http, service_token, started + self.options.connect_timeout)
                result.phases.append(Phase("connect", True, time.monotonic() - started,
                                           f"{base} -> svc/{PROXY_SERVICE}: {reached}"))
                try:
                    self._steps(http, service_token, result)
                    result.ok = True
                except PhaseFailed as e:
                    result.reason = e.message
                    self._explain(result)
                finally:
                    result.cleanup = self._cleanup(http, service_token)
        except PhaseFailed as e:  # the port-forward itself, or a proxy that does not reach the hub
            result.phases.append(Phase("connect", False, time.monotonic() - started, e.message))
            result.reason = e.message
        result.seconds = time.monotonic() - started
        return result

    def connect(self):
        """A base URL that reaches the hub's public proxy, for the block (a port-forward)."""
        return port_forward(self.runner, self.kubectl, self.kubeconfig, self.context, self.ns, PROXY_SERVICE,
                            self.work_dir / f"port-forward-{self.ns}.log", self.options.connect_timeout)

    def _reach_hub(self, http: Http, token: str, deadline: float) -> str:
        """Wait until the proxy passes a request on to the hub: right after a deploy the pods are Ready
        before kube-proxy routes the hub's Service, and until then the proxy answers 503 itself."""
        while True:
            a = http.call("GET", "/hub/api/", token)
            if a.status == 200:
                try:
                    doc = a.json()
                except ValueError:
                    doc = None
                version = doc.get("version") if isinstance(doc, dict) else None
                return f"JupyterHub {version} answered" if isinstance(version, str) else "the hub answered"
            if a.status not in (502, 503, 504):  # not a proxy waiting for its backend: asking again won't help
                raise PhaseFailed(f"the proxy did not pass GET /hub/api/ on to the hub: it answered {a.status}: "
                                  f"{a.brief()}")
            if time.monotonic() > deadline:
                raise PhaseFailed(f"the proxy did not reach the hub within {self.options.connect_timeout:g}s: "
                                  f"GET /hub/api/ answered {a.status}: {a.brief()}")
            time.sleep(0.5)

    def _phase(self, result: UserTestResult, name: str, fn) -> Any:
        t = time.monotonic()
        try:
            message, value = fn()
        except PhaseFailed as e:
            result.phases.append(Phase(name, False, time.monotonic() - t, e.message))
            raise PhaseFailed(f"{name}: {e.message}") from e
        result.phases.append(Phase(name, True, time.monotonic() - t, message))
        return value

    def _steps(self, http: Http, service_token: str, result: UserTestResult) -> None:
        u = quote(self.user)
        user_token = self._phase(result, "user", lambda: self._create_user(http, service_token, u))
        self._phase(result, "start", lambda: self._start(http, user_token, u))
        url = self._phase(result, "ready", lambda: self._wait_ready(http, user_token, u))
        word = secrets.token_hex(8)
        self._phase(result, "kernel", lambda: self._kernel(http, user_token, url,
                                                           write_home_code(word) if self.options.home else CODE))
        self._phase(result, "stop", lambda: self._stop(http, user_token, u))
        if not self.options.home:
            return
        url = self._phase(result, "restart", lambda: self._restart(http, user_token, u))
        self._phase(result, "home", lambda: self._read_home(http, user_token, url, word))
        self._stop(http, user_token, u)

    def _restart(self, http: Http, token: str, u: str):
        self._start(http, token, u)
        message, url = self._wait_ready(http, token, u)
        return f"started again: {message}", url

    def _read_home(self, http: Http, token: str, url: str, word: str):
        out = self._run(http, token, url, read_home_code())
        if out == word:
            return f"the file written in the home before the restart was read back ({HOME_FILE})", None
        if out.startswith("MISSING:"):
            if not self._has_home_volume():
                return (f"skipped: the user server has no home volume (singleuser.storage), so {out[8:]} starts "
                        "empty at each start"), None
            raise PhaseFailed(f"{out[8:]}/{HOME_FILE}, written before the server stopped, is gone after its restart")
        raise PhaseFailed(f"{HOME_FILE} holds {out!r} after the restart, not the {word!r} written before")

    def _has_home_volume(self) -> bool:
        try:
            pods = [p for p in self.kube.pods(self.ns, "component=singleuser-server")
                    if p.labels.get("hub.jupyter.org/username") == self.user]
        except DeployerError:
            return True
        return any(p.claims for p in pods)

    def _create_user(self, http: Http, token: str, u: str):
        a = http.call("POST", f"/hub/api/users/{u}", token)
        if a.status != 201:
            raise PhaseFailed(f"creating user {self.user} answered {a.status}: {a.brief()}")
        a = http.call("POST", f"/hub/api/users/{u}/tokens", token,
                      {"scopes": user_scopes(self.user), "expires_in": 900, "note": "deployer user test"})
        if a.status not in (200, 201):
            raise PhaseFailed(f"creating the user's token answered {a.status}: {a.brief()}")
        return f"user {self.user} with a token scoped to its server", a.json()["token"]

    def _start(self, http: Http, token: str, u: str):
        a = http.call("POST", f"/hub/api/users/{u}/server", token, {})
        if a.status not in (201, 202):
            raise PhaseFailed(f"starting the server answered {a.status}: {a.brief()}")
        return ("spawned" if a.status == 201 else "spawn pending"), None

    def _server(self, http: Http, token: str, u: str) -> Optional[dict]:
        a = http.call("GET", f"/hub/api/users/{u}", token)
        if a.status != 200:
            raise PhaseFailed(f"reading user {self.user} answered {a.status}: {a.brief()}")
        return (a.json().get("servers") or {}).get("")

    def _wait_ready(self, http: Http, token: str, u: str):
        deadline = time.monotonic() + self.options.start_timeout
        while True:
            server = self._server(http, token, u)
            if server is None:
                raise PhaseFailed("the hub dropped the server while it was starting (the spawn failed)")
            if server.get("ready"):
                return f"server ready at {server.get('url')}", server["url"]
            if time.monotonic() > deadline:
                raise PhaseFailed(f"the server was not ready within {self.options.start_timeout:g}s "
                                  f"(pending: {server.get('pending')})")
            time.sleep(0.5)

    def _kernel(self, http: Http, token: str, url: str, code: str = CODE):
        out = self._run(http, token, url, code)
        if out != EXPECTED_OUTPUT:
            raise PhaseFailed(f"the kernel printed {out!r}, expected {EXPECTED_OUTPUT!r}")
        return f"kernel ran Python: {out!r}", None

    def _run(self, http: Http, token: str, url: str, code: str) -> str:
        """What `code` prints (stripped), run in a new kernel of the server at `url`."""
        a = http.call("POST", f"{url}api/kernels", token, {})
        if a.status != 201:
            raise PhaseFailed(f"starting a kernel answered {a.status}: {a.brief()}")
        kernel = a.json()["id"]
        try:
            ws = http.base.replace("http://", "ws://", 1) + f"{url}api/kernels/{kernel}/channels"
            out = run_code(ws, token, code, self.options.kernel_timeout)
        finally:
            http.call("DELETE", f"{url}api/kernels/{kernel}", token)
        if out.error:
            raise PhaseFailed(f"the kernel raised {out.error}")
        return out.stdout.strip()

    def _stop(self, http: Http, token: str, u: str):
        a = http.call("DELETE", f"/hub/api/users/{u}/server", token)
        if a.status not in (202, 204):
            raise PhaseFailed(f"stopping the server answered {a.status}: {a.brief()}")
        deadline = time.monotonic() + self.options.stop_timeout
        while self._server(http, token, u) is not None:
            if time.monotonic() > deadline:
                raise PhaseFailed(f"the server did not stop within {self.options.stop_timeout:g}s")
            time.sleep(0.5)
        return "server stopped", None

    def _cleanup(self, http: Http, service_token: str) -> str:
        """Stop the server (if any) and delete the user with its tokens; say what happened."""
        u = quote(self.user)
        try:
            a = http.call("GET", f"/hub/api/users/{u}", service_token)
            if a.status == 404:
                return "nothing to clean up (the user was never created)"
            if (a.json() or {}).get("servers"):
                http.call("DELETE", f"/hub/api/users/{u}/server", service_token)
                deadline = time.monotonic() + self.options.stop_timeout
                while time.monotonic() < deadline:
                    a = http.call("GET", f"/hub/api/users/{u}", service_token)
                    if a.status != 200 or not (a.json() or {}).get("servers"):
                        break
                    time.sleep(0.5)
            a = http.call("DELETE", f"/hub/api/users/{u}", service_token)
            if a.status in (204, 404):
                return f"user {self.user} and its token deleted"
            return f"deleting user {self.user} answered {a.status}: {a.brief()} (delete it by hand)"
        except PhaseFailed as e:
            return f"could not delete user {self.user}: {e.message} (delete it by hand)"

    def _explain(self, result: UserTestResult) -> None:
        """The user server pod's state, events and last log lines, when there is a pod."""
        from deployer.checks.hub_findings import explain_pod, recent_warnings

        try:
            pods = [p for p in self.kube.pods(self.ns, "component=singleuser-server")
                    if p.labels.get("hub.jupyter.org/username") == self.user]
        except DeployerError:
            return
        if not pods:
            return
        pod = pods[0]
        try:
            claims = {c.name: c for c in self.kube.claims(self.ns)}
        except DeployerError:
            claims = {}
        findings = explain_pod(pod, claims)
        try:
            import datetime as dt

            events = self.kube.events(self.ns)
            findings += recent_warnings(events, dt.datetime.now(dt.timezone.utc), {f"pod/{pod.name}"}, limit=3)
        except DeployerError:
            pass
        if findings:
            result.reason += "; " + "; ".join(f.line() for f in findings[:3])
        try:
            result.pod_log = self.kube.pod_log(self.ns, pod.name, tail_lines=15)
        except DeployerError:
            result.pod_log = []


def run_user_tests(conn, hubs: list[str], options: UserTestOptions, work_dir: Path,
                   on_result=lambda r: None) -> list[UserTestResult]:
    """The user test on each named hub of a connected cluster (`run.cluster_connection.connect`), one after another."""
    from deployer.toolchain import find_tool

    kubectl = find_tool("kubectl")
    results = []
    with conn.kube(options.request_timeout) as kube:
        for hub in hubs:
            test = UserTest(kube, conn.runner, kubectl, conn.access.kubeconfig, conn.access.context, hub,
                            work_dir, options)
            result = test.run()
            on_result(result)
            results.append(result)
    return results
