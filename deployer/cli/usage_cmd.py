"""`deployer usage [CLUSTER [HUB ...]]`: active users per hub (24 hours, 7 and 30 days) and running servers."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from deployer.cli.app import OutputFormat, state
from deployer.cli.options import seconds_option
from deployer.errors import EXIT_FAILED, EXIT_OK
from deployer.redact import dumps_redacted

COLUMNS = ("cluster", "hub", "active 24h", "active 7d", "active 30d", "running servers", "users")


def usage(
    ctx: typer.Context,
    cluster: Optional[str] = typer.Argument(None, help="Cluster whose hubs to report (default: every cluster)."),
    hubs: Optional[List[str]] = typer.Argument(None, help="Hubs to report (default: every hub of the cluster)."),
    request_timeout: float = seconds_option(10.0, "--request-timeout", minimum=0.5,
                                            help="Seconds allowed per API request."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text, or json for scripts."),
) -> int:
    """Per hub, from its own JupyterHub metrics (/hub/metrics): users active in the last 24 hours, 7 days
    and 30 days (JupyterHub recounts them hourly), running servers and users.

    Exit 0 when every hub could be read, 1 when one could not, 2 for an unknown cluster or hub.
    """
    from deployer.run.usage import PERIODS, fleet_usage

    app = state(ctx)
    fleet = fleet_usage(app.root(), cluster, hubs, app.runner, app.charts_work_dir(), app.state_dir(),
                        request_timeout)
    if output is OutputFormat.json:
        payload = {"ok": fleet.ok, "hubs": [h.to_json() for h in fleet.hubs],
                   "unreadable": [{"cluster": c, "error": e} for c, e in fleet.unreadable.items()]}
        typer.echo(dumps_redacted(payload, app.runner.redactor, indent=2))
        return EXIT_OK if fleet.ok else EXIT_FAILED
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("cluster", "hub") else "right")
    show = lambda v: "-" if v is None else str(v)  # noqa: E731
    for h in fleet.hubs:
        if h.ok:
            table.add_row(h.cluster, h.hub, *(show(h.active.get(p)) for p in PERIODS), show(h.running_servers),
                          show(h.total_users))
        else:
            table.add_row(h.cluster, h.hub, app.runner.redactor(f"not read: {h.error}")[:120], "", "", "", "")
    Console(file=sys.stdout, width=max(120, Console().width)).print(table)
    for name, error in fleet.unreadable.items():
        typer.echo(app.runner.redactor(f"{name}: not read: {error}"))
    read = [h for h in fleet.hubs if h.ok]
    typer.echo(f"{len(read)} hub(s) read" + (f", {len(fleet.hubs) - len(read)} not" if len(read) < len(fleet.hubs)
                                             else "")
               + f": {sum(h.active.get('30d') or 0 for h in read)} active user(s) in 30 days, "
               f"{sum(h.running_servers or 0 for h in read)} server(s) running")
    return EXIT_OK if fleet.ok else EXIT_FAILED


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)
