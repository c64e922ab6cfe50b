"""`deployer rollback CLUSTER HUB [--revision N]`: go back to an earlier helm revision."""

from __future__ import annotations

from typing import Optional

import typer

from deployer.cli.options import seconds_option
from deployer.cli.app import OutputFormat, state
from deployer.errors import EXIT_OK
from deployer.redact import dumps_redacted


def rollback(
    ctx: typer.Context,
    cluster: str = typer.Argument(..., help="Cluster of the hub."),
    hub: str = typer.Argument(..., help="Hub to roll back."),
    revision: Optional[int] = typer.Option(None, "--revision", "-r", min=1,
                                           help="Revision to return to (default: the one before the current)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would happen; change nothing."),
    timeout: float = seconds_option(600.0, "--timeout", minimum=1, help="Seconds helm may wait for the hub to be ready."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text, or json for scripts."),
) -> int:
    """Roll a hub's release back with `helm rollback --wait` (a new revision with the old
    objects). Exit 0 on success, 1 when helm fails, 2 for an unknown cluster, hub or revision
    (the error lists the existing revisions)."""
    from deployer.run.cluster_connection import connect
    from deployer.run.rollback import run_rollback

    root = state(ctx).root()
    runner = state(ctx).runner
    with connect(root, cluster, [hub], runner, state(ctx).charts_work_dir(),
                 state(ctx).state_dir()) as conn:
        result = run_rollback(conn, hub, revision, dry_run=dry_run, timeout=timeout)
    if output is OutputFormat.json:
        typer.echo(dumps_redacted({"ok": True, "cluster": cluster, **result.to_json()}, runner.redactor, indent=2))
    else:
        typer.echo(runner.redactor(result.message))
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("rollback")(rollback)
