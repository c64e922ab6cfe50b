"""A small real HTTP server of ours implementing the part of Grafana's HTTP API that deployer uses,
as Grafana documents it (a real Grafana server cannot be installed on this machine):

  GET  /api/folders/:uid      404 {"message": "folder not found"} when absent
  POST /api/folders           {"uid", "title"} -> the folder (409 when the uid exists)
  PUT  /api/folders/:uid      {"title", "overwrite"} -> the folder
  POST /api/dashboards/db     {"dashboard", "folderUid", "overwrite", "message"} -> {"id","uid","url","status","version"}
                              (412 "version-mismatch"/"name-exists" without overwrite, as Grafana does)
  GET  /api/search            ?type=dash-db&folderUIDs=... -> [{"uid","title","type","folderUid","url"}]
  POST /api/annotations       {"time","timeEnd","tags","text"} -> {"id", "message": "Annotation added"}
Every request needs `Authorization: Bearer <token>` (401 otherwise). Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class GrafanaState:
    token: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


def make_handler(state: GrafanaState, lock: threading.Lock):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _route(self, method: str) -> None:
            url = urlparse(self.path)
            with lock:
                state.requests.append((method, url.path))
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                return self._send(401, {"message": "Unauthorized"})
            parts = [p for p in url.path.split("/") if p]
            with lock:
                if method == "GET" and parts[:2] == ["api", "folders"] and len(parts) == 3:
                    folder = state.folders.get(parts[2])
                    return self._send(200, folder) if folder else self._send(404, {"message": "folder not found"})
                if method == "POST" and parts == ["api", "folders"]:
                    body = self._body()
                    uid = body.get("uid") or f"f{state.new_id()}"
                    if uid in state.folders:
                        return self._send(409, {"message": "a folder with the same uid already exists"})
                    state.folders[uid] = {"id": state.new_id(), "uid": uid, "title": body["title"], "version": 1,
                                          "url": f"/dashboards/f/{uid}/{_slug(body['title'])}"}
                    return self._send(200, state.folders[uid])
                if method == "PUT" and parts[:2] == ["api", "folders"] and len(parts) == 3:
                    folder = state.folders.get(parts[2])
                    if not folder:
                        return self._send(404, {"message": "folder not found"})
                    folder.update(title=self._body().get("title", folder["title"]), version=folder["version"] + 1)
                    return self._send(200, folder)
                if method == "POST" and parts == ["api", "dashboards", "db"]:
                    body = self._body()
                    dash, folder_uid = body.get("dashboard") or {}, body.get("folderUid", "")
                    uid = dash.get("uid")
                    if not uid or not dash.get("title"):
                        return self._send(400, {"message": "Dashboard title cannot be empty"})
                    if folder_uid and folder_uid not in state.folders:
                        return self._send(400, {"message": "folder not found"})
                    old = state.dashboards.get(uid)
                    if old and not body.get("overwrite"):
                        return self._send(412, {"status": "version-mismatch",
                                                "message": "The dashboard has been changed by someone else"})
                    version = (old["version"] + 1) if old else 1
                    state.dashboards[uid] = {"uid": uid, "title": dash["title"], "folderUid": folder_uid,
                                             "version": version, "id": old["id"] if old else state.new_id(),
                                             "dashboard": dash, "message": body.get("message", "")}
                    return self._send(200, {"id": state.dashboards[uid]["id"], "uid": uid, "status": "success",
                                            "version": version, "url": f"/d/{uid}/{_slug(dash['title'])}"})
                if method == "GET" and parts == ["api", "search"]:
                    q = parse_qs(url.query)
                    folders = set(q.get("folderUIDs", []))
                    hits = [{"uid": d["uid"], "title": d["title"], "type": "dash-db", "folderUid": d["folderUid"],
                             "url": f"/d/{d['uid']}/{_slug(d['title'])}"}
                            for d in state.dashboards.values() if not folders or d["folderUid"] in folders]
                    return self._send(200, sorted(hits, key=lambda h: h["title"]))
                if method == "POST" and parts == ["api", "annotations"]:
                    body = self._body()
                    annotation = {"id": state.new_id(), **body}
                    state.annotations.append(annotation)
                    return self._send(200, {"id": annotation["id"], "message": "Annotation added"})
            return self._send(404, {"message": "Not found"})

        def do_GET(self) -> None:  # noqa: N802
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._route("PUT")

    return Handler


class GrafanaStandin:
    def __init__(self, token: str) -> None:
        self.state = GrafanaState(token)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state, self._lock))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "GrafanaStandin":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
