"""One view of the fleet: per hub, its helm release (revision, chart version, status, last
deployed) and its health, gathered concurrently.

Per cluster it costs one `helm list --all-namespaces`, three cluster-wide API lists (pods,
volume claims, events) and a few service-proxy requests per hub, all in parallel; clusters are
gathered in parallel too. Health here is a single attempt (no retries): `deployer health` is
the command that waits.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from deployer.adapters.helm import Helm
from deployer.adapters.kube import Kube
from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.config.models import Cluster
from deployer.errors import DeployerError
from deployer.plan.deploy_order import SUPPORT
from deployer.run.alerts import read_alerts
from deployer.run.cluster_connection import kube_for, open_cluster_async
from deployer.run.engine import run_each, run_each_async
from deployer.run.health import REQUESTS_PER_ATTEMPT, HealthOptions, HubChecker, HubHealth

log = logging.getLogger("deployer.status")


@dataclass
class HubStatus:
    cluster: str
    hub: str  # the hub, or `support` for the cluster's support stack (kind "support")
    revision: Optional[int] = None
    chart: str = ""
    chart_version: str = ""
    helm_status: str = "not deployed"
    last_deployed: str = ""
    health: str = "unknown"  # healthy | unhealthy | not deployed | unknown | skipped
    health_detail: str = ""
    sync: str = "unknown"  # in sync | out of date | drifted | not deployed | unknown | skipped
    sync_detail: str = ""
    drifted: list[str] = field(default_factory=list)  # objects that differ from the release manifest
    error: str = ""
    kind: str = "hub"
    # the alerts Prometheus holds for this hub (for the support row: those about no hub); with health only
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alerts_error: str = ""

    def alerts_text(self) -> str:
        if self.alerts_error:
            return f"not read: {self.alerts_error}"
        firing = [a["name"] for a in self.alerts if a["state"] == "firing"]
        pending = [a["name"] for a in self.alerts if a["state"] != "firing"]
        return "; ".join(part for part in (f"{len(firing)} firing: {', '.join(firing)}" if firing else "",
                                          f"{len(pending)} pending: {', '.join(pending)}" if pending else "") if part)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def chart_name_version(chart: str) -> tuple[str, str]:
    """helm's `name-version` (the version may itself hold dashes: 1.2.3-rc.1)."""
    parts = chart.split("-")
    for i in range(1, len(parts)):
        if parts[i][:1].isdigit():
            return "-".join(parts[:i]), "-".join(parts[i:])
    return chart, ""


def short_time(updated: str) -> str:
    """helm's `2026-11-26 13:15:00.123456789 +0000 UTC` as `2026-11-26 13:15:00 +0000`."""
    bits = updated.split()
    if len(bits) >= 3:
        return f"{bits[0]} {bits[1].split('.')[0]} {bits[2]}"
    return updated


@dataclass
class StatusOptions:
    health: bool = True
    request_timeout: float = 10.0
    concurrency: int = 16  # hubs of a cluster checked at once
    sync: bool = True  # the ledger and drift
    cluster_timeout: float = 300.0  # one cluster: credentials, helm's list, the API lists and its hubs' checks
    hub_timeout: Optional[float] = None  # one hub's health check (one attempt); default from request_timeout

    def hub_check_timeout(self) -> float:
        return self.hub_timeout if self.hub_timeout is not None else REQUESTS_PER_ATTEMPT * self.request_timeout + 5.0


def _rows(cluster: Cluster) -> dict[str, HubStatus]:
    rows = {h.name: HubStatus(cluster.name, h.name) for h in cluster.hubs}
    if cluster.support is not None and SUPPORT not in rows:  # the support stack: helm's view and sync only
        rows[SUPPORT] = HubStatus(cluster.name, SUPPORT, kind="support")
    return rows


def _unreadable(rows: dict[str, HubStatus], message: str) -> list[HubStatus]:
    for row in rows.values():
        row.error = message
        row.health = "unknown"
        row.helm_status = "unknown"
    return list(rows.values())


async def cluster_status(root: Path, cluster: Cluster, runner: ProcessRunner, options: StatusOptions,
                         work_dir: Path, state_dir: Optional[Path] = None) -> list[HubStatus]:
    """One cluster's rows: open it (its credentials got off the event loop), then helm's view,
    the health checks and the sync at once."""
    rows = _rows(cluster)
    if not rows:
        return []
    sops = Sops(runner)
    try:
        from deployer.run.hub_secrets import register_secrets

        try:  # before any answer can echo a secret; status shows no values, so without a key it goes on
            await asyncio.to_thread(register_secrets, root, cluster, list(rows), sops)
        except DeployerError as e:
            log.debug("status of %s: secrets not registered: %s", cluster.name, e.message)
        async with open_cluster_async(root, cluster, runner, work_dir, sops=sops, state_dir=state_dir) as conn:
            await _gather(cluster, conn.helm, conn.access, runner, rows, options, root)
    except DeployerError as e:
        return _unreadable(rows, e.message)
    return list(rows.values())


async def _gather(cluster: Cluster, helm: Helm, access, runner: ProcessRunner, rows: dict[str, HubStatus],
                  options: StatusOptions, root: Optional[Path] = None) -> None:
    """helm's view and the health checks at once (the Kubernetes client, slow to import, is made
    while helm runs)."""
    async def releases() -> None:
        try:
            listed = await helm.list_releases()
        except DeployerError as e:
            for row in rows.values():
                row.error, row.helm_status = e.message, "unknown"
            return
        for r in listed:
            row = rows.get(str(r.get("name")))
            if row is None or r.get("namespace") != row.hub:  # a hub's release and namespace share its name
                continue
            row.revision = int(r.get("revision", 0) or 0)
            row.chart, row.chart_version = chart_name_version(str(r.get("chart", "")))
            row.helm_status = str(r.get("status", ""))
            row.last_deployed = short_time(str(r.get("updated", "")))

    async def health() -> list[HubHealth]:
        if not options.health:
            return []
        try:
            kube = await asyncio.to_thread(kube_for, access, runner, options.request_timeout)
        except DeployerError as e:
            for row in rows.values():
                row.health, row.health_detail = "unknown", e.message
            return []
        try:
            return await _health(kube)
        finally:
            kube.close()

    async def _health(kube: Kube) -> list[HubHealth]:
        checker = HubChecker(kube, cluster.name, HealthOptions(retries=0, request_timeout=options.request_timeout))
        try:
            pods, claims, events, nodes, alerts = await asyncio.gather(
                asyncio.to_thread(kube.pods_by_namespace), asyncio.to_thread(kube.claims_by_namespace),
                asyncio.to_thread(kube.events_by_namespace), asyncio.to_thread(kube.nodes),
                asyncio.to_thread(read_alerts, kube, options.request_timeout))
        except DeployerError as e:
            for row in rows.values():
                row.health, row.health_detail = "unknown", e.message
            return []
        hub_names = [n for n, r in rows.items() if r.kind == "hub"]
        for name, row in rows.items():
            found = alerts.for_hub(name) if row.kind == "hub" else alerts.not_of(hub_names)
            row.alerts = [a.to_json() for a in found]
            row.alerts_error = (alerts.error or "") if row.kind == "support" else ""

        async def one(name: str) -> HubHealth:
            return await asyncio.to_thread(checker.check_once, cluster.hub(name),
                                           pods.get(name, []), claims.get(name, []), events.get(name, []), nodes)

        names = [n for n in rows if n in pods and rows[n].kind == "hub"]  # a hub without pods: reported below
        checked = await run_each_async(names, one, concurrency=options.concurrency,
                                       timeout=options.hub_check_timeout(), group=f"{cluster.name} health")
        for m in checked:
            if not m.ok:  # that hub only: timed out, or its check broke
                rows[m.item].health_detail = f"the health check did not finish: {m.step.message}"
        return [m.value for m in checked if m.ok]

    async def sync() -> None:
        if not options.sync or root is None:
            for row in rows.values():
                row.sync = "skipped"
            return
        await asyncio.to_thread(_sync, root, cluster, access, runner, rows, options)

    _, results, _ = await asyncio.gather(releases(), health(), sync())
    by_hub = {r.hub: r for r in results}
    for name, row in rows.items():
        if row.kind == "support":
            row.health = "n/a"  # `deployer health` checks hubs; the support stack's pods are in `kubectl`
        elif not options.health:
            row.health = "skipped"
        elif name in by_hub:
            h = by_hub[name]
            row.health = "healthy" if h.healthy else "unhealthy"
            row.health_detail = "" if h.healthy else h.summary
        elif row.health_detail:
            pass  # the cluster-wide reads failed; said above
        elif row.revision is None:
            row.health = "not deployed"
        else:
            row.health, row.health_detail = "unhealthy", "no pods in the hub's namespace"


def run_status(root: Path, clusters: list[Cluster], runner: ProcessRunner, options: StatusOptions, work_dir: Path,
               on_cluster: Callable[[str, list[HubStatus]], None] = lambda c, r: None,
               state_dir: Optional[Path] = None) -> list[HubStatus]:
    """Every cluster at once, each a step of the engine (`run_each`) within
    `options.cluster_timeout`: a cluster that is slow, unreachable or broken shows its hubs with
    the error, and never holds up the others."""

    async def one(cluster: Cluster) -> list[HubStatus]:
        rows = await cluster_status(root, cluster, runner, options, work_dir, state_dir)
        on_cluster(cluster.name, rows)
        return rows

    # credentials, helm and the API are per cluster, and mostly wait: threads for every cluster's
    # blocking calls, as many as one cluster alone would have
    threads = max(1, len(clusters)) * min(32, (os.cpu_count() or 1) + 4)
    done = run_each(clusters, one, concurrency=max(1, len(clusters)), timeout=options.cluster_timeout,
                    label=lambda c: c.name, group="status", threads=min(threads, 256))
    out: list[HubStatus] = []
    for m in done:
        if not m.ok:
            m.value = _unreadable(_rows(m.item), m.step.message)
            on_cluster(m.item.name, m.value)
        out.extend(m.value)
    return out


def _sync(root: Path, cluster: Cluster, access, runner: ProcessRunner, rows: dict[str, HubStatus],
          options: StatusOptions) -> None:
    """Per hub: in sync (the ledger's digest is the repository's, nothing drifted), out of date
    (the inputs differ, or the last revision was not deployed by deployer or did not succeed),
    drifted (live objects differ from the release manifest), or not deployed."""
    from deployer.plan.ledger import Verdict
    from deployer.run.cluster_ledger import cluster_sync, desired_digests

    digests = {rid: d for rid, d in desired_digests(root, {cluster.name: cluster}).items()
               if rid.split("/", 1)[1] in rows}
    try:
        with kube_for(access, runner, options.request_timeout) as kube:
            synced = cluster_sync(kube, cluster.name, digests)
    except DeployerError as e:
        for row in rows.values():
            row.sync, row.sync_detail = "unknown", e.message
        return
    for rid, s in synced.items():
        row = rows[rid.split("/", 1)[1]]
        c = s.comparison
        if c.verdict is Verdict.not_installed:
            row.sync, row.sync_detail = "not deployed", ""
            continue
        row.drifted = [d.describe() for d in s.drift or []]
        if c.verdict is Verdict.unchanged:
            row.sync, row.sync_detail = ("drifted", "; ".join(row.drifted)) if row.drifted else ("in sync", "")
        else:
            row.sync = "out of date"
            row.sync_detail = c.reason + (f"; drifted: {'; '.join(row.drifted)}" if row.drifted else "")
        if s.drift_error:
            row.sync_detail = (row.sync_detail + "; " if row.sync_detail else "") + s.drift_error


# --- the fleet: which clusters can be read, then read them ---------------------------------------

@dataclass
class Targets:
    """What `status` reads: the clusters whose configuration is valid; and for the others, a row
    per hub (a row per cluster whose cluster.yaml does not load) that says why it is not read."""

    clusters: list[Cluster]
    unreadable: list[HubStatus]
    order: dict[str, int]  # cluster -> its place in the table (the repository's order)


def status_targets(root: Path, cluster: Optional[str] = None) -> Targets:
    """Validate (every cluster, or `cluster`) as `deployer validate` does, and attribute each
    error to the cluster whose checks found it (`Validation.errors_of`)."""
    from deployer.checks.validate import broken, cluster_folders, validate

    outcome = validate(root, cluster, None)
    docs = [d for d in outcome.docs if cluster is None or d.folder_name == cluster]
    if cluster is not None and not docs:  # the folder exists (validate checked), cluster.yaml does not load
        raise broken(outcome, cluster)
    clusters: list[Cluster] = []
    unreadable: list[HubStatus] = []
    loaded = {d.folder_name for d in outcome.docs}
    for folder in cluster_folders(root):  # a cluster whose cluster.yaml does not load is shown as broken
        if (cluster is None or folder.name == cluster) and folder.name not in loaded:
            unreadable.append(HubStatus(folder.name, "-", helm_status="unknown",
                                        error=broken(outcome, folder.name).message))
    for d in docs:
        errors = outcome.errors_of(d.folder_name)
        if not errors:
            clusters.append(d.model)
            continue
        first = errors[0]
        reason = f"configuration invalid ({first.location}: {first.message}); run `deployer validate`"
        unreadable += [HubStatus(d.folder_name, h.name, helm_status="unknown", error=reason) for h in d.model.hubs]
    return Targets(clusters, unreadable, {d.folder_name: i for i, d in enumerate(docs)})


@dataclass
class FleetStatus:
    rows: list[HubStatus]

    @property
    def ok(self) -> bool:
        """Every cluster could be read (whatever the hubs' health: `deployer health` is the gate)."""
        return not any(r.error for r in self.rows)


def fleet_status(root: Path, targets: Targets, runner: ProcessRunner, options: StatusOptions,
                 work_dir: Path, state_dir: Optional[Path] = None) -> FleetStatus:
    """Read the clusters `status_targets` picked (run_status): one table, in the repository's
    order, with the clusters that could not be read."""
    rows = run_status(root, targets.clusters, runner, options, work_dir, state_dir=state_dir) + targets.unreadable
    rows.sort(key=lambda r: (targets.order.get(r.cluster, 0), r.cluster, r.hub))
    return FleetStatus(rows)
