"""The alerts a cluster's Prometheus holds (the support chart's alert-rules, and any rule of the cluster's
own), for `deployer health` and `deployer status`: which fire (or are pending) for which hub.

They are read from Prometheus' `/api/v1/alerts` on the support stack's server (Service
`support-prometheus-server`, port 80, namespace `support`) through the API server's service proxy, so
no port or public DNS is needed; a Prometheus that asks for credentials (`serverFiles.web.yml` basic
auth) is asked again, with those of the Secret `prometheus-auth`, on a ready server pod through the
API's port-forward (the service proxy consumes the Authorization header). The answer is data only: a
cluster whose Prometheus cannot be read says why, and nothing else depends on it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Optional

from deployer.adapters.kube import Kube, KubeError

NAMESPACE = "support"
SERVICE = "support-prometheus-server"
PORT = 80
SERVER_POD_SELECTOR = "app.kubernetes.io/name=prometheus,app.kubernetes.io/component=server"
SERVER_CONTAINER_PORT = 9090
AUTH_SECRET = "prometheus-auth"
PATH = "/api/v1/alerts"


@dataclass(frozen=True)
class Alert:
    name: str
    state: str  # firing | pending
    severity: str
    hub: str  # the hub (label `hub`, else `namespace`) it concerns; "" for the cluster as a whole
    summary: str
    since: str = ""  # when its condition started to hold (RFC 3339)
    labels: tuple[tuple[str, str], ...] = ()

    def line(self) -> str:
        return f"{self.state.upper()} {self.name} ({self.severity or 'no severity'}): {self.summary or self.name}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "severity": self.severity, "hub": self.hub or None,
                "summary": self.summary, "since": self.since, "labels": dict(self.labels)}


@dataclass
class ClusterAlerts:
    alerts: list[Alert] = field(default_factory=list)
    error: Optional[str] = None  # why they could not be read (then `alerts` is empty)

    def for_hub(self, hub: str) -> list[Alert]:
        return [a for a in self.alerts if a.hub == hub]

    def not_of(self, hubs: list[str]) -> list[Alert]:
        """Alerts about no hub of `hubs` (nodes, volumes of the support stack, scrape targets, ...)."""
        return [a for a in self.alerts if a.hub not in hubs]

    def to_json(self) -> dict[str, Any]:
        return {"source": f"prometheus {NAMESPACE}/{SERVICE}", "error": self.error,
                "alerts": [a.to_json() for a in self.alerts]}


def parse_alerts(payload: Any) -> list[Alert]:
    """Prometheus' answer to GET /api/v1/alerts (firing first, then pending; each by name)."""
    data = payload.get("data") if isinstance(payload, dict) else None
    raw = data.get("alerts") if isinstance(data, dict) else None
    out: list[Alert] = []
    for a in raw if isinstance(raw, list) else []:
        if not isinstance(a, dict):
            continue
        labels = {str(k): str(v) for k, v in (a.get("labels") or {}).items()}
        annotations = a.get("annotations") or {}
        out.append(Alert(labels.get("alertname", "?"), str(a.get("state", "")), labels.get("severity", ""),
                         labels.get("hub") or labels.get("namespace", ""), str(annotations.get("summary", "")),
                         str(a.get("activeAt", "")), tuple(sorted(labels.items()))))
    return sorted(out, key=lambda a: (a.state != "firing", a.name, a.hub, a.labels))


def read_alerts(kube: Kube, timeout: float = 10.0) -> ClusterAlerts:
    try:
        resp = kube.service_get(NAMESPACE, SERVICE, PORT, PATH, timeout=timeout)
        if resp.status == 401:
            resp = _with_credentials(kube, timeout) or resp
    except KubeError as e:
        return ClusterAlerts(error=f"Prometheus ({NAMESPACE}/{SERVICE}) could not be asked: {e.message}")
    if resp.status == 503 or resp.status == 404:
        return ClusterAlerts(error=f"no Prometheus answers at {NAMESPACE}/{SERVICE} ({resp.status}: "
                                   f"{resp.proxy_message()[:120]}); is the support stack deployed?")
    if not resp.ok:
        return ClusterAlerts(error=f"Prometheus answered {resp.status} to {PATH}: {resp.proxy_message()[:160]}")
    try:
        return ClusterAlerts(parse_alerts(resp.json()))
    except ValueError:
        return ClusterAlerts(error=f"Prometheus' answer to {PATH} is not JSON: {resp.text(120)}")


def _with_credentials(kube: Kube, timeout: float):
    user = kube.secret_value(NAMESPACE, AUTH_SECRET, "username")
    password = kube.secret_value(NAMESPACE, AUTH_SECRET, "password")
    if not user or not password:
        return None
    pods = [p for p in kube.pods(NAMESPACE, SERVER_POD_SELECTOR) if p.ready and not p.deleting]
    if not pods:
        return None
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    kube.redactor.add(password)
    kube.redactor.add(token)
    return kube.pod_get(NAMESPACE, pods[0].name, SERVER_CONTAINER_PORT, PATH, {"Authorization": f"Basic {token}"},
                        timeout=timeout)


def cluster_alerts(conn, request_timeout: float) -> ClusterAlerts:
    """The alerts of a connected cluster (`run.cluster_connection.connect`)."""
    try:
        with conn.kube(request_timeout) as kube:
            return read_alerts(kube, request_timeout)
    except KubeError as e:
        return ClusterAlerts(error=f"Prometheus could not be asked: {e.message}")
