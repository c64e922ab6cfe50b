"""`deployer status [CLUSTER]`: one table for the fleet."""

from __future__ import annotations

import json
import sys
import time
from typing import Optional

import typer

from deployer.cli.app import OutputFormat, state
from deployer.errors import EXIT_FAILED, EXIT_OK

COLUMNS = ("cluster", "hub", "revision", "chart", "helm status", "last deployed", "sync", "health")


def status(
    ctx: typer.Context,
    cluster: Optional[str] = typer.Argument(None, help="Cluster to show (default: every cluster)."),
    no_health: bool = typer.Option(False, "--no-health", help="Only helm's view; skip the health checks."),
    no_sync: bool = typer.Option(False, "--no-sync",
                                 help="Skip the ledger and drift: in sync / out of date / drifted."),
    request_timeout: float = typer.Option(10.0, "--request-timeout", min=0.5, help="Seconds allowed per API request."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text, or json for scripts."),
) -> int:
    """Per hub: release revision, chart version, helm status, last deployed, sync (in sync, out of
    date with the repository, or drifted: live objects edited by hand, named) and health (one
    attempt, no retries), gathered concurrently across hubs and clusters.

    Exit 0 when every cluster could be read (whatever the hubs' health), 1 when one could not.
    """
    from deployer.checks.validate import broken, validate
    from deployer.run.status import HubStatus, StatusOptions, run_status

    started = time.monotonic()
    root = state(ctx).root()
    runner = state(ctx).runner
    outcome = validate(root, cluster, None)
    docs = [d for d in outcome.docs if cluster is None or d.folder_name == cluster]
    if cluster is not None and not docs:  # the folder exists (validate checked), cluster.yaml does not load
        raise broken(outcome, cluster)
    invalid: dict[str, str] = {}
    for p in outcome.report.errors:
        parts = p.file.split("/")
        if len(parts) > 2 and parts[:2] == ["config", "clusters"]:
            invalid.setdefault(parts[2], f"configuration invalid ({p.location}: {p.message}); run `deployer validate`")
    clusters = [d.model for d in docs if d.folder_name not in invalid]
    options = StatusOptions(health=not no_health, request_timeout=request_timeout, sync=not no_sync)
    rows = run_status(root, clusters, runner, options, state(ctx).charts_work_dir())
    from deployer.checks.validate import cluster_folders

    loaded = {d.folder_name for d in outcome.docs}
    for folder in cluster_folders(root):  # a cluster whose cluster.yaml does not load is shown as broken
        if (cluster is None or folder.name == cluster) and folder.name not in loaded:
            rows.append(HubStatus(folder.name, "-", helm_status="unknown", error=broken(outcome, folder.name).message))
    for d in docs:
        if d.folder_name in invalid:
            rows += [HubStatus(d.folder_name, h.name, helm_status="unknown", error=invalid[d.folder_name])
                     for h in d.model.hubs]
    order = {d.folder_name: i for i, d in enumerate(docs)}
    rows.sort(key=lambda r: (order.get(r.cluster, 0), r.cluster, r.hub))
    failed = any(r.error for r in rows)
    elapsed = time.monotonic() - started
    if output is OutputFormat.json:
        payload = {"ok": not failed, "seconds": round(elapsed, 2), "hubs": [r.to_json() for r in rows]}
        typer.echo(runner.redactor(json.dumps(payload, indent=2)))
    else:
        render(rows, runner.redactor)
        healthy = sum(1 for r in rows if r.health == "healthy")
        stacks = sum(1 for r in rows if r.kind == "support")
        typer.echo(f"{len(rows) - stacks} hub(s)" + (f" and {stacks} support stack(s)" if stacks else "")
                   + f" in {len({r.cluster for r in rows})} cluster(s): {healthy} healthy, "
                   f"{sum(1 for r in rows if r.health == 'unhealthy')} unhealthy, "
                   f"{sum(1 for r in rows if r.error)} unreadable; "
                   + "".join(f"{n} {state}, " for state in ("in sync", "out of date", "drifted")
                             if (n := sum(1 for r in rows if r.sync == state)))
                   + f"{elapsed:.1f}s")
    return EXIT_FAILED if failed else EXIT_OK


def render(rows, redactor) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for col in COLUMNS:
        table.add_column(col)
    for r in rows:
        health = r.health + (f": {r.health_detail}" if r.health_detail and r.health != "healthy" else "")
        if r.error:
            health = f"{r.health}: {r.error}"
        chart = f"{r.chart} {r.chart_version}".strip()
        sync = r.sync + (f": {r.sync_detail}" if r.sync_detail else "")
        table.add_row(r.cluster, r.hub, "" if r.revision is None else str(r.revision), chart, r.helm_status,
                      r.last_deployed, redactor(sync)[:200], redactor(health)[:160])
    Console(file=sys.stdout, width=max(140, Console().width)).print(table)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
