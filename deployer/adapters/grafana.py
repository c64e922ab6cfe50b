"""Grafana's HTTP API, over urllib3 (already here for the kubernetes client): the only module
that talks to Grafana.

Holds no policy: ensure a folder by UID, put a dashboard (overwrite on), search a folder,
post an annotation. Every request has a timeout; failures become `GrafanaError` with the
token redacted.

Why not PyPI `grafana-client` (used before): it depends on niquests/urllib3-future, whose wheel
replaces the `urllib3` package of the whole environment (the kubernetes client's HTTP library)
and writes a `.u3f_sync` file into site-packages at import time: in a user's `pipx install`
deployer would change its own installed files. Four endpoints do not need a client library.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Optional
from urllib.parse import quote, urlencode, urlparse

from deployer.errors import ToolError
from deployer.redact import Redactor

log = logging.getLogger("deployer.grafana")

DEFAULT_TIMEOUT = 15.0


class GrafanaError(ToolError):
    def __init__(self, message: str, hint: Optional[str] = None, status: Optional[int] = None) -> None:
        super().__init__(message, hint)
        self.status = status


class Grafana:
    def __init__(self, url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT,
                 redactor: Optional[Redactor] = None) -> None:
        import urllib3

        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise GrafanaError(f"Grafana URL {url!r} is not an http(s) URL",
                               hint="set support.grafana_url in cluster.yaml, e.g. https://grafana.example.org")
        self.url = url.rstrip("/")
        self.redactor = redactor or Redactor()
        self.redactor.add(token)
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                         "Content-Type": "application/json"}
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout), retries=False)

    def _request(self, what: str, method: str, path: str, body: Any = None, query: Optional[dict] = None) -> Any:
        import urllib3

        url = self.url + path + (f"?{urlencode(query, doseq=True)}" if query else "")
        log.debug("grafana: %s (%s %s)", what, method, path)
        try:
            resp = self._http.request(method, url, headers=self._headers,
                                      body=None if body is None else json.dumps(body).encode())
        except urllib3.exceptions.TimeoutError as e:
            raise GrafanaError(f"Grafana at {self.url}: {what}: no answer in time",
                               hint="check that Grafana is up and reachable from here") from e
        except urllib3.exceptions.HTTPError as e:
            raise GrafanaError(f"Grafana at {self.url}: {what}: cannot connect ({type(e).__name__})",
                               hint="check the Grafana URL and that it is reachable from here") from e
        text = resp.data.decode("utf-8", "replace")
        if resp.status == 401:
            raise GrafanaError(f"Grafana at {self.url}: {what}: the token was refused (401)",
                               hint="renew the token in enc-grafana-token.secret.yaml (a service-account token "
                                    "with the Editor role)", status=401)
        if resp.status >= 400:
            try:
                message = json.loads(text).get("message") or text
            except (ValueError, AttributeError):
                message = text
            raise GrafanaError(f"Grafana at {self.url}: {what}: {self.redactor(str(message))[:300]}",
                               status=resp.status)
        try:
            return json.loads(text) if text.strip() else {}
        except ValueError as e:
            raise GrafanaError(f"Grafana at {self.url}: {what}: the answer is not JSON") from e

    def ensure_folder(self, uid: str, title: str) -> dict[str, Any]:
        """The folder with this UID, created (or renamed back to `title`) as needed."""
        try:
            folder = self._request(f"get folder {uid}", "GET", f"/api/folders/{quote(uid)}")
        except GrafanaError as e:
            if e.status != 404:
                raise
            return self._request(f"create folder {uid}", "POST", "/api/folders", {"title": title, "uid": uid})
        if folder.get("title") != title:
            folder = self._request(f"update folder {uid}", "PUT", f"/api/folders/{quote(uid)}",
                                   {"title": title, "overwrite": True})
        return folder

    def put_dashboard(self, dashboard: dict[str, Any], folder_uid: str, message: str) -> dict[str, Any]:
        payload = {"dashboard": {**dashboard, "id": None}, "folderUid": folder_uid, "overwrite": True,
                   "message": message}
        return self._request(f"put dashboard {dashboard.get('uid')}", "POST", "/api/dashboards/db", payload)

    def dashboards_in(self, folder_uid: str) -> list[dict[str, Any]]:
        found = self._request(f"search folder {folder_uid}", "GET", "/api/search",
                              query={"type": "dash-db", "folderUIDs": folder_uid})
        return list(found or [])

    def annotate(self, text: str, tags: list[str], time_ms: int) -> dict[str, Any]:
        return self._request("add annotation", "POST", "/api/annotations",
                             {"time": time_ms, "timeEnd": time_ms, "tags": tags, "text": text})
