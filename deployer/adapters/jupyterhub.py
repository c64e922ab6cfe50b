"""JupyterHub's REST API and a kernel's websocket, as the user test drives them (`run/user_session.py`):
HTTP over the standard library, the kernel's messaging protocol (execute a piece of code, fold the
answers), the websocket through websocket-client (a dependency of the kubernetes client already).
Every call has a timeout; a call that gets no answer raises HubCallFailed."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from deployer.errors import DeployerError


class HubCallFailed(DeployerError):
    """A call to the hub, or to a kernel through it, got no (usable) answer."""


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
            raise HubCallFailed(f"{method} {path}: no answer ({getattr(e, 'reason', e)})") from e


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
        raise HubCallFailed(f"the kernel's websocket did not open: {e}") from e
    out = KernelOutput()
    try:
        msg_id, msg = execute_request(code, uuid.uuid4().hex)
        ws.send(json.dumps(msg))
        while not out.done:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HubCallFailed(f"the kernel did not finish running the code within {timeout:g}s")
            ws.settimeout(left)
            try:
                raw = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError) as e:
                raise HubCallFailed(f"the kernel's websocket closed: {e}") from e
            if isinstance(raw, bytes):  # binary frames carry buffers; our code makes none
                continue
            absorb(out, json.loads(raw), msg_id)
    finally:
        ws.close()
    return out
