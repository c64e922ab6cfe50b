"""`deployer status [CLUSTER]`: one table for the fleet."""

from __future__ import annotations

import sys
import time
from typing import Optional

import typer

from deployer.cli.options import seconds_option
from deployer.cli.app import OutputFormat, state
from deployer.errors import EXIT_FAILED, EXIT_OK
from deployer.redact import dumps_redacted

COLUMNS = ("cluster", "hub", "revision", "chart", "helm status", "last deployed", "sync", "health", "alerts")


def status(
    ctx: typer.Context,
    cluster: Optional[str] = typer.Argument(None, help="Cluster to show (default: every cluster)."),
    no_health: bool = typer.Option(False, "--no-health", help="Only helm's view; skip the health checks."),
    no_sync: bool = typer.Option(False, "--no-sync",
                                 help="Skip the ledger and drift: in sync / out of date / drifted."),
    request_timeout: float = seconds_option(10.0, "--request-timeout", minimum=0.5, help="Seconds allowed per API request."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text, or json for scripts."),
) -> int:
    """Per hub: release revision, chart version, helm status, last deployed, sync (in sync, out of
    date with the repository, or drifted: live objects edited by hand, named) and health (one
    attempt, no retries), gathered concurrently across hubs and clusters.

    Exit 0 when every cluster could be read (whatever the hubs' health), 1 when one could not.
    """
    from deployer.run.status import StatusOptions, fleet_status, status_targets

    started = time.monotonic()
    root = state(ctx).root()
    runner = state(ctx).runner
    targets = status_targets(root, cluster)  # validated; the clusters that cannot be read, and why
    options = StatusOptions(health=not no_health, request_timeout=request_timeout, sync=not no_sync)
    fleet = fleet_status(root, targets, runner, options, state(ctx).charts_work_dir(), state(ctx).state_dir())
    rows, failed = fleet.rows, not fleet.ok
    elapsed = time.monotonic() - started
    if output is OutputFormat.json:
        payload = {"ok": not failed, "seconds": round(elapsed, 2), "hubs": [r.to_json() for r in rows]}
        typer.echo(dumps_redacted(payload, runner.redactor, indent=2))
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
                   + (f"{firing} alert(s) firing, " if (firing := sum(1 for r in rows for a in r.alerts
                                                                      if a["state"] == "firing")) else "")
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
                      r.last_deployed, redactor(sync)[:200], redactor(health)[:160], redactor(r.alerts_text())[:160])
    Console(file=sys.stdout, width=max(140, Console().width)).print(table)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
