"""Grafana's HTTP API through PyPI `grafana-client`: the only module that imports it.

Holds no policy: ensure a folder by UID, put a dashboard (overwrite on), search a folder,
post an annotation. Every request has a timeout; failures become `GrafanaError` with the
token redacted. grafana-client is imported lazily.
"""

from __future__ import annotations

import logging
from typing import Any, Optional
from urllib.parse import urlparse

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
        from grafana_client import GrafanaApi

        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise GrafanaError(f"Grafana URL {url!r} is not an http(s) URL",
                               hint="set support.grafana_url in cluster.yaml, e.g. https://grafana.example.org")
        self.url = url.rstrip("/")
        self.redactor = redactor or Redactor()
        self.redactor.add(token)
        self._api = GrafanaApi.from_url(self.url, credential=token, timeout=timeout)

    def _call(self, what: str, fn, *args: Any, **kwargs: Any) -> Any:
        from grafana_client.client import (GrafanaClientError, GrafanaException, GrafanaServerError,
                                           GrafanaTimeoutError, GrafanaUnauthorizedError)

        log.debug("grafana: %s", what)
        try:
            return fn(*args, **kwargs)
        except GrafanaUnauthorizedError:
            raise GrafanaError(f"Grafana at {self.url}: {what}: the token was refused (401)",
                               hint="renew the token in enc-grafana-token.secret.yaml (a service-account token "
                                    "with the Editor role)", status=401) from None
        except GrafanaTimeoutError:
            raise GrafanaError(f"Grafana at {self.url}: {what}: no answer in time",
                               hint="check that Grafana is up and reachable from here") from None
        except (GrafanaClientError, GrafanaServerError) as e:
            raise GrafanaError(f"Grafana at {self.url}: {what}: {self.redactor(str(e.message))[:300]}",
                               status=e.status_code) from None
        except GrafanaException as e:
            raise GrafanaError(f"Grafana at {self.url}: {what}: {self.redactor(str(e))[:300]}") from None
        except Exception as e:  # the HTTP library's own connection errors
            if type(e).__module__.split(".")[0] in ("niquests", "urllib3", "urllib3_future", "requests"):
                raise GrafanaError(f"Grafana at {self.url}: {what}: cannot connect ({type(e).__name__})",
                                   hint="check the Grafana URL and that it is reachable from here") from None
            raise

    def ensure_folder(self, uid: str, title: str) -> dict[str, Any]:
        """The folder with this UID, created (or renamed back to `title`) as needed."""
        try:
            folder = self._call(f"get folder {uid}", self._api.folder.get_folder, uid)
        except GrafanaError as e:
            if e.status != 404:
                raise
            return self._call(f"create folder {uid}", self._api.folder.create_folder, title, uid=uid)
        if folder.get("title") != title:
            folder = self._call(f"update folder {uid}", self._api.folder.update_folder, uid, title=title,
                                overwrite=True)
        return folder

    def put_dashboard(self, dashboard: dict[str, Any], folder_uid: str, message: str) -> dict[str, Any]:
        payload = {"dashboard": {**dashboard, "id": None}, "folderUid": folder_uid, "overwrite": True,
                   "message": message}
        return self._call(f"put dashboard {dashboard.get('uid')}", self._api.dashboard.update_dashboard, payload)

    def dashboards_in(self, folder_uid: str) -> list[dict[str, Any]]:
        found = self._call(f"search folder {folder_uid}", self._api.search.search_dashboards, type_="dash-db",
                           folder_uids=[folder_uid])
        return list(found or [])

    def annotate(self, text: str, tags: list[str], time_ms: int) -> dict[str, Any]:
        return self._call("add annotation", self._api.annotations.add_annotation, time_from=time_ms, time_to=time_ms,
                          tags=tags, text=text)
