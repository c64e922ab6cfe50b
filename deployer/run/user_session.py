"""The user test: what a user does, done by deployer against a running hub, then undone.

1. connect:  a port-forward on 127.0.0.1 to the hub's public proxy (`proxy-public`), so requests and the
             kernel's websocket go the way a user's do (CHP, then the hub or the user's server); then
             wait, within the connect timeout, until the proxy passes `/hub/api/` on to the hub;
2. user:     with the token of the `deployer-user-test` service (its role: admin:users, tokens, servers,
             access:servers; the chart keeps its token in the Secret `hub`), create a temporary user and
             give it a token of its own, scoped to that user's server only, expiring in 15 minutes;
3. start:    the user starts its server (POST /hub/api/users/<name>/server); on a hub with a `profileList`
             (read from the chart's values in the Secret `hub`), with its default profile and each of its
             options' default choice named (`plan/profile_choice.py`), as a user pressing Start gets; on
             an unauthenticated BinderHub hub, as BinderHub starts it: with the hub's image and a token of
             the test's own, which the kernel calls then use (`plan/binder_launch.py`);
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

import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

from deployer.adapters.jupyterhub import Answer, Http, HubCallFailed, run_code  # noqa: F401 (Answer: a result type)
from deployer.adapters.port_forward import PortForwardFailed, port_forward
from deployer.errors import DeployerError

from deployer.plan.binder_launch import BinderLaunch, binder_launch
from deployer.plan.profile_choice import ProfileChoice, default_profile
from deployer.plan.user_test_service import HUB_SECRET, PROXY_SERVICE, SERVICE, SERVICE_TOKEN_KEY

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
    profile: Optional[dict[str, Any]] = None  # the profileList entry the server started with, if any

    def to_json(self) -> dict[str, Any]:
        return {"hub": self.hub, "user": self.user, "ok": self.ok, "seconds": round(self.seconds, 2),
                "profile": self.profile,
                "reason": self.reason or None, "phases": [p.to_json() for p in self.phases],
                "pod_log": self.pod_log, "cleanup": self.cleanup}


class PhaseFailed(HubCallFailed):
    """A phase of the user test failed (the hub answered something else than a user would get)."""


# -- the test -------------------------------------------------------------------------------------------

class UserTest:
    def __init__(self, kube, runner, kubectl: Path, kubeconfig: Path, context: Optional[str], namespace: str,
                 work_dir: Path, options: Optional[UserTestOptions] = None) -> None:
        self.kube, self.runner, self.kubectl = kube, runner, kubectl
        self.kubeconfig, self.context, self.ns = kubeconfig, context, namespace
        self.work_dir = work_dir
        self.options = options or UserTestOptions()
        self.user = USER_PREFIX + secrets.token_hex(4)
        self.profile: Optional[ProfileChoice] = None  # the profile the server starts with (run() reads it)
        self.binder: Optional[BinderLaunch] = None  # started as BinderHub starts a server (run() reads it)
        self.server_token = secrets.token_hex(24)  # the server's own token, on a BinderHub hub only

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
                             f"{HUB_SECRET}); the chart's values must add it (deployer.plan.user_test_service.service_values)")
            return result
        values = self._hub_values()
        self.profile = default_profile(values)
        self.binder = binder_launch(values)
        if self.profile:
            result.profile = self.profile.user_options()
        try:
            with self.connect() as base:
                http = Http(base, self.options.request_timeout)
                reached = self._reach_hub(http, service_token, started + self.options.connect_timeout)
                result.phases.append(Phase("connect", True, time.monotonic() - started,
                                           f"{base} -> svc/{PROXY_SERVICE}: {reached}"))
                try:
                    self._steps(http, service_token, result)
                    result.ok = True
                except (HubCallFailed, PortForwardFailed) as e:
                    result.reason = e.message
                    self._explain(result)
                finally:
                    result.cleanup = self._cleanup(http, service_token)
        except (HubCallFailed, PortForwardFailed) as e:  # the port-forward itself, or a proxy that does not reach the hub
            result.phases.append(Phase("connect", False, time.monotonic() - started, e.message))
            result.reason = e.message
        result.seconds = time.monotonic() - started
        return result

    def _hub_values(self) -> Optional[dict]:
        """The jupyterhub chart's values, as the hub got them (in the Secret `hub`), or None."""
        import yaml

        try:
            text = self.kube.secret_document(self.ns, HUB_SECRET, "values.yaml")
            values = yaml.safe_load(text) if text else None
        except (DeployerError, yaml.YAMLError):
            return None
        return values if isinstance(values, dict) else None

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
        except (HubCallFailed, PortForwardFailed) as e:
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
        server_token = self.server_token if self.binder else user_token  # who the server lets in
        self._phase(result, "kernel", lambda: self._kernel(http, server_token, url,
                                                           write_home_code(word) if self.options.home else CODE))
        self._phase(result, "stop", lambda: self._stop(http, user_token, u))
        if not self.options.home:
            return
        url = self._phase(result, "restart", lambda: self._restart(http, user_token, u))
        self._phase(result, "home", lambda: self._read_home(http, server_token, url, word))
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
        options = self.profile.user_options() if self.profile else {}
        chosen = f" with {self.profile.describe()}" if self.profile else ""
        if self.binder:
            options = {**options, **self.binder.user_options(self.server_token)}
            chosen += f" as BinderHub starts it (image {self.binder.image or 'none'}, a token of its own)"
        a = http.call("POST", f"/hub/api/users/{u}/server", token, options)
        if a.status not in (201, 202):
            raise PhaseFailed(f"starting the server{chosen} answered {a.status}: {a.brief()}")
        return ("spawned" if a.status == 201 else "spawn pending") + chosen, None

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
        except (HubCallFailed, PortForwardFailed) as e:
            return f"could not delete user {self.user}: {e.message} (delete it by hand)"

    def _explain_from_hub(self, result: UserTestResult) -> None:
        """No server pod (the spawn failed before or after making one): what the hub logged about the user."""
        try:
            hubs = self.kube.pods(self.ns, "component=hub")
            lines = self.kube.pod_log(self.ns, hubs[0].name, tail_lines=HUB_LOG_LINES) if hubs else []
        except DeployerError:
            return
        said = spawn_log(lines, self.user)
        if said:
            result.pod_log = [f"hub: {line}" for line in said]
            errors = [line for line in said if line.startswith("[E ") or _EXCEPTION.match(line)]
            if errors:
                result.reason += f"; the hub logged: {errors[-1].strip()[:400]}"

    def _explain(self, result: UserTestResult) -> None:
        """The user server pod's state, events and last log lines, when there is a pod."""
        from deployer.checks.hub_findings import explain_pod, recent_warnings

        try:
            pods = [p for p in self.kube.pods(self.ns, "component=singleuser-server")
                    if p.labels.get("hub.jupyter.org/username") == self.user]
        except DeployerError:
            return
        if not pods:
            self._explain_from_hub(result)
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


_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b")
HUB_LOG_LINES = 200  # the hub's last log lines searched for what it said about the test's user


def spawn_log(lines: list[str], user: str, keep: int = 15) -> list[str]:
    """What the hub logged about `user`: each line naming it, with the traceback that follows such a line
    (indented lines, `Traceback ...`, and the exception's own line); the last `keep`."""
    out: list[str] = []
    inside = False
    for line in lines:
        if user in line:
            out.append(line)
            inside = True
        elif inside and (line.startswith((" ", "\t", "Traceback")) or _EXCEPTION.match(line)):
            out.append(line)
        else:
            inside = False
    return out[-keep:]


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
