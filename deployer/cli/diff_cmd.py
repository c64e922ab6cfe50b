"""`deployer diff CLUSTER [HUB ...]`: what a deploy would change, as a unified diff."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from deployer.cli.app import OutputFormat, print_error, state
from deployer.errors import EXIT_FAILED, EXIT_OK, DeployerError
from deployer.redact import dumps_redacted

EXIT_CHANGES = 2


def diff(
    ctx: typer.Context,
    cluster: str = typer.Argument(..., help="Cluster whose hubs to compare."),
    hubs: Optional[List[str]] = typer.Argument(None, help="Hubs to compare (default: every hub of the cluster)."),
    chart_repo: Optional[Path] = typer.Option(
        None, "--chart-repo", envvar="DEPLOYER_CHART_REPO", file_okay=False,
        help="Local Helm chart repository that chart dependencies come from (as for deploy)."),
    context_lines: int = typer.Option(3, "--context", "-U", min=0, max=100, help="Lines of context around a change."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text, or json for scripts."),
) -> int:
    """Render each hub as deploy would (same values, secrets decrypted in memory, same chart) and
    diff it against the live release's manifest. Secrets show only which keys changed.

    Exit 0 when nothing would change, 2 when something would, 1 on error.
    """
    from deployer.run.cluster_connection import connect
    from deployer.run.diff import run_diff
    from deployer.cli.deploy_cmd import chart_repo_folder
    from deployer.run.release import DeployOptions

    runner = state(ctx).runner
    try:
        root = state(ctx).root()
        work = state(ctx).charts_work_dir()
        options = DeployOptions(chart_repo=chart_repo_folder(chart_repo), work_dir=work)
        with connect(root, cluster, hubs or None, runner, work, state(ctx).state_dir()) as conn:
            results = run_diff(conn, hubs or None, options)
    except DeployerError as e:  # 2 means "changes" here, so every error (a usage one too) is 1
        print_error(e, state(ctx))
        return EXIT_FAILED
    errors = [r for r in results if r.error]
    changed = [r for r in results if r.changes]
    if output is OutputFormat.json:
        payload = {"cluster": cluster, "changed": bool(changed), "errors": len(errors),
                   "hubs": [r.to_json() for r in results]}
        typer.echo(dumps_redacted(payload, runner.redactor, indent=2))
    else:
        for r in results:
            typer.echo(runner.redactor(f"=== {cluster}/{r.hub}: {r.summary}"))
            if r.error and r.hint:
                typer.echo(runner.redactor(f"    hint: {r.hint}"))
            for c in r.changes:
                typer.echo(runner.redactor(c.diff if not c.secret else c.diff + "\n(Secret: values hidden; "
                                           "only which keys changed is shown)"))
        typer.echo(f"{len(changed)} hub(s) would change, {len(results) - len(changed) - len(errors)} unchanged"
                   + (f", {len(errors)} error(s)" if errors else ""))
    if errors:
        return EXIT_FAILED
    return EXIT_CHANGES if changed else EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("diff")(diff)
