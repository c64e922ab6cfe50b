"""How much each hub is used: active users over 24 hours, 7 days and 30 days, running servers and
users, from the hub's own JupyterHub metrics (`GET /hub/metrics`, which basehub serves without a
token: `authenticate_prometheus: false`), read through the API server's service proxy.

JupyterHub counts its active users (`jupyterhub_active_users{period="24h"|"7d"|"30d"}`: users whose
last activity falls in the period) when it starts and then every
`PeriodicMetricsCollector.active_users_update_interval` seconds (an hour by default), so those figures
may be up to that old; running servers (`jupyterhub_running_servers`) and users
(`jupyterhub_total_users`) are live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from deployer.adapters.kube import Kube, KubeError
from deployer.run.health import HUB_INFO, hub_endpoint

PERIODS = ("24h", "7d", "30d")


@dataclass
class HubUsage:
    cluster: str
    hub: str
    active: dict[str, Optional[int]] = field(default_factory=dict)  # period -> users active in it
    running_servers: Optional[int] = None
    total_users: Optional[int] = None
    error: str = ""  # why the hub's metrics could not be read

    @property
    def ok(self) -> bool:
        return not self.error

    def to_json(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "hub": self.hub, "ok": self.ok,
                "active_users": {p: self.active.get(p) for p in PERIODS},
                "running_servers": self.running_servers, "total_users": self.total_users,
                "error": self.error or None}


def parse_metrics(text: str, usage: HubUsage) -> HubUsage:
    """Fill `usage` from JupyterHub's Prometheus text exposition (prometheus_client's own parser)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as e:
        usage.error = f"the hub's /hub/metrics is not Prometheus' text format: {str(e)[:120]}"
        return usage
    for family in families:
        for sample in family.samples:
            if sample.name == "jupyterhub_active_users" and sample.labels.get("period") in PERIODS:
                usage.active[sample.labels["period"]] = int(sample.value)
            elif sample.name == "jupyterhub_running_servers":
                usage.running_servers = int(sample.value)
            elif sample.name == "jupyterhub_total_users":
                usage.total_users = int(sample.value)
    if not usage.active and usage.running_servers is None:
        usage.error = "the hub's /hub/metrics has no jupyterhub_active_users nor jupyterhub_running_servers"
    return usage


def hub_usage(kube: Kube, cluster: str, hub: str, timeout: float) -> HubUsage:
    usage = HubUsage(cluster, hub)
    try:
        endpoint = hub_endpoint(kube.config_map(hub, HUB_INFO))
    except KubeError:
        endpoint = hub_endpoint(None)
    path = endpoint.base + "metrics"
    where = f"{endpoint.service}:{endpoint.port}{path}"
    try:
        resp = kube.service_get(hub, endpoint.service, endpoint.port, path, timeout=timeout)
    except KubeError as e:
        usage.error = f"{where}: {e.message}"
        return usage
    if not resp.ok:
        message = resp.proxy_message()
        if resp.status == 503 and "no endpoints available" in message:
            usage.error = f"{where}: the hub is not running (its Service has no ready endpoints)"
        elif resp.status in (401, 403):
            usage.error = (f"{where} answered {resp.status}: the hub asks for a token for its metrics "
                           "(set hub.authenticatePrometheus: false, as basehub does)")
        else:
            usage.error = f"{where} answered {resp.status}: {message[:160]}"
        return usage
    return parse_metrics(resp.body.decode(errors="replace"), usage)


def run_usage(conn, hubs: Optional[list[str]], request_timeout: float, concurrency: int = 8) -> list[HubUsage]:
    """The usage of the named hubs (default: every hub) of a connected cluster, concurrently."""
    from deployer.plan.deploy_order import select_hubs
    from deployer.run.engine import run_each

    names = select_hubs(conn.cluster, hubs)
    with conn.kube(request_timeout) as kube:
        async def one(name: str) -> HubUsage:
            import asyncio

            return await asyncio.to_thread(hub_usage, kube, conn.cluster.name, name, request_timeout)

        done = run_each(names, one, concurrency=concurrency, timeout=request_timeout * 3 + 10, group="usage")
    return [m.value if m.ok else HubUsage(conn.cluster.name, m.item, error=f"not read: {m.step.message}")
            for m in done]


@dataclass
class FleetUsage:
    hubs: list[HubUsage] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # cluster -> why it could not be read

    @property
    def ok(self) -> bool:
        return not self.unreadable and all(h.ok for h in self.hubs)


def fleet_usage(root, cluster: Optional[str], hubs: Optional[list[str]], runner, work_dir, state_dir,
                request_timeout: float) -> FleetUsage:
    """One cluster (an unknown cluster or hub is a usage error naming the known ones), or every cluster
    of the repository (one that cannot be read is said, and the others are still read)."""
    from deployer.checks.validate import cluster_folders
    from deployer.errors import DeployerError, UsageError
    from deployer.run.cluster_connection import connect

    out = FleetUsage()
    names = [cluster] if cluster else [f.name for f in cluster_folders(root)]
    for name in names:
        try:
            with connect(root, name, hubs or None, runner, work_dir, state_dir) as conn:
                out.hubs += run_usage(conn, hubs or None, request_timeout)
        except UsageError:
            raise
        except DeployerError as e:
            if cluster:
                raise
            out.unreadable[name] = e.message
    return out
