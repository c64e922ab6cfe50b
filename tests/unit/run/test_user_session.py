"""The user test's pure parts: scopes, the kernel protocol, and the chart values it needs."""

from __future__ import annotations

from deployer.adapters.jupyterhub import KernelOutput, absorb, execute_request
from deployer.plan.user_test_service import service_values
from deployer.run.user_session import EXPECTED_OUTPUT, user_scopes


def test_the_temporary_users_token_reaches_its_own_server_only():
    assert user_scopes("deployer-test-1a2b3c4d") == ["servers!user=deployer-test-1a2b3c4d",
                                                     "access:servers!user=deployer-test-1a2b3c4d"]


def test_the_chart_registers_the_user_test_service_with_its_role():
    assert service_values() == {"hub": {
        "services": {"deployer-user-test": {"display": False}},
        "loadRoles": {"deployer-user-test": {
            "description": "deployer's user test: a temporary user, its server and kernel",
            "scopes": ["admin:users", "tokens", "servers", "access:servers"],
            "services": ["deployer-user-test"]}},
    }}


def test_an_execute_request_is_a_jupyter_message_on_the_shell_channel():
    msg_id, msg = execute_request("print(1)", "s1")
    assert msg["header"]["msg_id"] == msg_id
    assert (msg["header"]["msg_type"], msg["header"]["session"], msg["channel"]) == ("execute_request", "s1", "shell")
    assert msg["content"]["code"] == "print(1)"
    assert msg["content"]["allow_stdin"] is False


def _msg(kind: str, parent: str, **content) -> dict:
    return {"header": {"msg_type": kind}, "parent_header": {"msg_id": parent}, "content": content}


def test_output_is_collected_from_the_answers_to_our_request_only():
    out = KernelOutput()
    absorb(out, _msg("status", "m1", execution_state="busy"), "m1")
    absorb(out, _msg("stream", "other", name="stdout", text="not ours\n"), "m1")
    absorb(out, _msg("stream", "m1", name="stdout", text="42 "), "m1")
    absorb(out, _msg("stream", "m1", name="stderr", text="warning\n"), "m1")
    absorb(out, _msg("stream", "m1", name="stdout", text="3\n"), "m1")
    assert not out.done
    absorb(out, _msg("execute_reply", "m1", status="ok"), "m1")
    assert (out.stdout.strip(), out.error, out.done) == (EXPECTED_OUTPUT, "", True)


def test_a_kernel_error_is_reported_with_its_name_and_value():
    out = KernelOutput()
    absorb(out, _msg("error", "m1", ename="NameError", evalue="name 'x' is not defined", traceback=[]), "m1")
    absorb(out, _msg("execute_reply", "m1", status="error", ename="NameError", evalue="name 'x' is not defined"), "m1")
    assert (out.error, out.done) == ("NameError: name 'x' is not defined", True)


# -- the whole flow against a small stand-in for the hub's REST API (no cluster) ------------------------

import json as _json  # noqa: E402
import threading  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from http import HTTPStatus  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

import pytest  # noqa: E402

from deployer.plan.user_test_service import SERVICE_TOKEN_KEY  # noqa: E402
from deployer.run.user_session import UserTest, UserTestOptions  # noqa: E402


class FakeHub:
    """Users, tokens and one server per user; the server never becomes ready (a spawn that hangs)."""

    def __init__(self) -> None:
        self.users: dict[str, dict] = {}
        self.calls: list[str] = []
        self.bodies: list[str] = []  # the bodies of POST requests, in order
        self.proxy_unavailable = 0  # how many requests the proxy answers itself (the hub not routed yet)
        self.proxy_status = 503  # with this status
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body=None):
                data = _json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str):
                token = self.headers.get("Authorization", "")
                hub.calls.append(f"{method} {self.path} {token}")
                if hub.proxy_unavailable:
                    hub.proxy_unavailable -= 1
                    data = HTTPStatus(hub.proxy_status).phrase.encode()
                    self.send_response(hub.proxy_status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    return self.wfile.write(data)
                if method == "GET" and self.path == "/hub/api/":
                    return self._send(200, {"version": "5.4.4"})
                parts = self.path.split("/")  # '', hub, api, users, NAME, ...
                name = parts[4] if len(parts) > 4 else ""
                rest = "/".join(parts[5:])
                if method == "POST" and not rest:
                    hub.users[name] = {"name": name, "servers": {}}
                    return self._send(201, hub.users[name])
                if name not in hub.users:
                    return self._send(404, {"message": "no such user"})
                user = hub.users[name]
                if method == "POST" and rest == "tokens":
                    return self._send(201, {"token": "user-token"})
                if method == "POST" and rest == "server":
                    user["servers"][""] = {"ready": False, "pending": "spawn", "url": f"/user/{name}/"}
                    return self._send(202)
                if method == "GET" and not rest:
                    return self._send(200, user)
                if method == "DELETE" and rest == "server":
                    user["servers"] = {}
                    return self._send(204)
                if method == "DELETE" and not rest:
                    del hub.users[name]
                    return self._send(204)
                return self._send(400, {"message": f"unexpected {method} {self.path}"})

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                hub.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                self._route("POST")

            def do_DELETE(self):
                self._route("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class FakeKube:
    """The service token and the chart's values in the Secret; no server pods."""

    values = "singleuser: {}\n"

    def secret_value(self, ns, name, key):
        assert (ns, name, key) == ("hub1", "hub", SERVICE_TOKEN_KEY)
        return "service-token"

    def secret_document(self, ns, name, key):
        assert (ns, name, key) == ("hub1", "hub", "values.yaml")
        return self.values

    def pods(self, ns, selector=""):
        return []


class StandInTest(UserTest):
    def __init__(self, hub: FakeHub, tmp_path, interrupt_after_polls: int | None = None, **options):
        super().__init__(FakeKube(), None, tmp_path / "kubectl", tmp_path / "kubeconfig", None, "hub1", tmp_path,
                         UserTestOptions(**options))
        self.hub = hub
        self.polls = 0
        self.interrupt_after_polls = interrupt_after_polls

    @contextmanager
    def connect(self):
        yield self.hub.url

    def _server(self, http, token, u):
        self.polls += 1
        if self.interrupt_after_polls is not None and self.polls > self.interrupt_after_polls:
            raise KeyboardInterrupt
        return super()._server(http, token, u)


@pytest.fixture
def fake_hub():
    hub = FakeHub()
    yield hub
    hub.server.shutdown()


def test_a_server_that_never_gets_ready_fails_the_ready_phase_and_the_user_is_deleted(fake_hub, tmp_path):
    test = StandInTest(fake_hub, tmp_path, start_timeout=1.0)
    result = test.run()
    assert not result.ok
    assert [(p.name, p.ok) for p in result.phases] == [("connect", True), ("user", True), ("start", True),
                                                        ("ready", False)]
    assert result.reason == "ready: the server was not ready within 1s (pending: spawn)"
    assert result.cleanup == f"user {test.user} and its token deleted"
    assert fake_hub.users == {}
    u = test.user
    assert [c for c in fake_hub.calls if not c.startswith("GET")] == [
        f"POST /hub/api/users/{u} token service-token",
        f"POST /hub/api/users/{u}/tokens token service-token",
        f"POST /hub/api/users/{u}/server token user-token",
        f"DELETE /hub/api/users/{u}/server token service-token",
        f"DELETE /hub/api/users/{u} token service-token",
    ]


def test_ctrl_c_while_waiting_still_stops_the_server_and_deletes_the_user(fake_hub, tmp_path):
    test = StandInTest(fake_hub, tmp_path, interrupt_after_polls=2, start_timeout=60.0)
    with pytest.raises(KeyboardInterrupt):
        test.run()
    assert fake_hub.users == {}
    assert fake_hub.calls[-1] == f"DELETE /hub/api/users/{test.user} token service-token"


def test_a_hub_without_the_user_test_service_is_reported_without_touching_the_hub(fake_hub, tmp_path):
    test = StandInTest(fake_hub, tmp_path)
    test.kube = type("NoToken", (), {"secret_value": lambda self, *a: None})()
    result = test.run()
    assert (result.ok, result.phases, fake_hub.calls) == (False, [], [])
    assert result.reason == ("the hub registers no `deployer-user-test` service (no "
                             "hub.services.deployer-user-test.apiToken in the Secret hub); the chart's values must "
                             "add it (deployer.plan.user_test_service.service_values)")


def test_the_connect_phase_waits_while_the_proxy_cannot_reach_the_hub_yet(fake_hub, tmp_path):
    fake_hub.proxy_unavailable = 3  # right after a deploy: the proxy answers 503 until the hub is routed
    test = StandInTest(fake_hub, tmp_path, start_timeout=0.5, connect_timeout=10.0)
    result = test.run()
    assert [(p.name, p.ok) for p in result.phases][:2] == [("connect", True), ("user", True)]
    assert result.phases[0].message == f"{fake_hub.url} -> svc/proxy-public: JupyterHub 5.4.4 answered"
    assert fake_hub.calls[:4] == ["GET /hub/api/ token service-token"] * 4
    assert fake_hub.calls[4] == f"POST /hub/api/users/{test.user} token service-token"


def test_a_proxy_that_never_reaches_the_hub_fails_the_connect_phase_and_creates_no_user(fake_hub, tmp_path):
    fake_hub.proxy_unavailable = 10**6
    test = StandInTest(fake_hub, tmp_path, connect_timeout=1.0)
    result = test.run()
    assert (result.ok, [(p.name, p.ok) for p in result.phases]) == (False, [("connect", False)])
    assert result.reason == ("the proxy did not reach the hub within 1s: GET /hub/api/ answered 503: "
                             "Service Unavailable")
    assert {c for c in fake_hub.calls} == {"GET /hub/api/ token service-token"} and fake_hub.users == {}


def test_a_proxy_answering_other_than_5xx_fails_the_connect_phase_at_once(fake_hub, tmp_path):
    fake_hub.proxy_unavailable, fake_hub.proxy_status = 10**6, 404  # e.g. a proxy with no route to the hub
    test = StandInTest(fake_hub, tmp_path, connect_timeout=30.0)
    result = test.run()
    assert (result.ok, [(p.name, p.ok) for p in result.phases]) == (False, [("connect", False)])
    assert result.reason == "the proxy did not pass GET /hub/api/ on to the hub: it answered 404: Not Found"
    assert fake_hub.calls == ["GET /hub/api/ token service-token"]  # asked once: no waiting


# -- the home phases: a file written before the server stops is read back after it starts again ---------

class HomeTest(StandInTest):
    """Servers get ready at once; kernels run against a home that survives restarts or not."""

    def __init__(self, hub: FakeHub, tmp_path, *, kept: bool, claims: tuple = ("claim-x",)):
        super().__init__(hub, tmp_path)
        self.kept, self.home, self.runs, self.claims = kept, {}, [], claims

    def _wait_ready(self, http, token, u):
        return "server ready", f"/user/{self.user}/"

    def _stop(self, http, token, u):
        if not self.kept:
            self.home.clear()
        return super()._stop(http, token, u)

    def _run(self, http, token, url, code):
        from deployer.run.user_session import EXPECTED_OUTPUT, HOME_FILE

        self.runs.append(code)
        if "f.write(" in code:
            self.home[HOME_FILE] = code.split("f.write(")[1].split(")")[0].strip("'")
            return EXPECTED_OUTPUT
        return self.home.get(HOME_FILE, "MISSING:/home/jovyan")

    def _has_home_volume(self):
        return bool(self.claims)


def test_a_file_in_the_home_survives_the_servers_restart(fake_hub, tmp_path):
    test = HomeTest(fake_hub, tmp_path, kept=True)
    result = test.run()
    assert result.ok, result.reason
    assert [p.name for p in result.phases] == ["connect", "user", "start", "ready", "kernel", "stop", "restart",
                                               "home"]
    assert result.phases[-1].message == ("the file written in the home before the restart was read back "
                                         "(.deployer-user-test)")
    assert fake_hub.users == {}


def test_a_home_lost_at_the_restart_fails_the_home_phase(fake_hub, tmp_path):
    result = HomeTest(fake_hub, tmp_path, kept=False).run()
    assert not result.ok
    assert result.reason == ("home: /home/jovyan/.deployer-user-test, written before the server stopped, is gone "
                             "after its restart")


def test_a_hub_whose_servers_get_no_home_volume_skips_the_home_phase(fake_hub, tmp_path):
    result = HomeTest(fake_hub, tmp_path, kept=False, claims=()).run()
    assert result.ok, result.reason
    assert result.phases[-1].message.startswith("skipped: the user server has no home volume (singleuser.storage)")


def test_a_hub_with_a_profile_list_starts_the_server_with_its_default_profile_named(fake_hub, tmp_path):
    test = StandInTest(fake_hub, tmp_path, start_timeout=0.5)
    test.kube.values = """singleuser:
  profileList:
  - display_name: Small (1 CPU)
    profile_options:
      image:
        choices:
          pangeo: {display_name: Pangeo}
          scipy: {display_name: SciPy, default: true}
        unlisted_choice: {enabled: true}
  - display_name: Large
    default: true
    slug: big
    profile_options:
      image:
        choices:
          r: {display_name: R}
          py: {display_name: Python, default: true}
      resources:
        unlisted_choice: {enabled: true}
"""
    result = test.run()
    assert result.profile == {"profile": "big", "image": "py"}
    start = next(p for p in result.phases if p.name == "start")
    assert start.message == "spawn pending with profile `big` (image: py)"
    assert _json.loads(fake_hub.bodies[2]) == {"profile": "big", "image": "py"}  # user, token, then the server


def test_a_hub_without_a_profile_list_starts_the_server_with_no_options(fake_hub, tmp_path):
    result = StandInTest(fake_hub, tmp_path, start_timeout=0.5).run()
    assert result.profile is None
    assert next(p for p in result.phases if p.name == "start").message == "spawn pending"
    assert _json.loads(fake_hub.bodies[2]) == {}


def test_what_the_hub_logged_about_a_failed_spawn_is_its_lines_naming_the_user_and_their_traceback():
    from deployer.run.user_session import spawn_log

    log = ["[I 18:30:00 JupyterHub log:192] 200 GET /hub/api/ (deployer-user-test@10.0.0.1)",
           "[E 18:30:01 JupyterHub user:1002] Unhandled error starting deployer-test-ab12's server: boom",
           "    Traceback (most recent call last):",
           "      File \"/opt/venv/lib/kubespawner/spawner.py\", line 3000, in _start",
           "ValueError: boom",
           "[I 18:30:02 JupyterHub log:192] 200 GET /hub/api/users (deployer-user-test@10.0.0.1)",
           "[W 18:30:03 JupyterHub base:1300] deployer-test-ab12's server failed to start"]
    assert spawn_log(log, "deployer-test-ab12") == log[1:5] + log[6:]
    assert spawn_log(log, "deployer-test-ab12", keep=2) == [log[4], log[6]]
    assert spawn_log(log, "someone-else") == []
