"""`deployer grafana deploy-dashboards CLUSTER`: our JupyterHub dashboards into the cluster's Grafana."""

from __future__ import annotations

from typing import Optional

import typer

from deployer.cli.options import seconds_option
from deployer.cli.app import OutputFormat, state
from deployer.errors import EXIT_OK
from deployer.redact import dumps_redacted

grafana_app = typer.Typer(name="grafana", help="The cluster's Grafana: dashboards and deploy annotations.",
                          no_args_is_help=True, rich_markup_mode=None)


@grafana_app.command("deploy-dashboards")
def deploy_dashboards(
    ctx: typer.Context,
    cluster: str = typer.Argument(..., help="Cluster whose Grafana receives the dashboards."),
    grafana_url: Optional[str] = typer.Option(None, "--grafana-url",
                                              help="Grafana's URL (default: support.grafana_url, or from the support values)."),
    timeout: float = seconds_option(15.0, "--timeout", minimum=1, help="Seconds allowed per Grafana request."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text, or json for scripts."),
) -> int:
    """Put deployer's JupyterHub dashboards (pinned JSON in deployer/dashboards) into a folder
    with a fixed UID, each with its fixed UID, overwriting earlier versions. Needs a Grafana
    token in the cluster folder's enc-grafana-token.secret.yaml (`grafana_token: ...`, sops)."""
    from deployer.checks.validate import load_valid_cluster
    from deployer.run.grafana import connect_grafana
    from deployer.run.grafana import deploy_dashboards as run

    root = state(ctx).root()
    runner = state(ctx).runner
    model = load_valid_cluster(root, cluster).model
    grafana = connect_grafana(root, model, runner, grafana_url, timeout)
    result = run(grafana, cluster)
    if output is OutputFormat.json:
        typer.echo(dumps_redacted({"ok": True, "cluster": cluster, **result.to_json()}, runner.redactor, indent=2))
    else:
        typer.echo(f"Grafana {result.grafana}, folder {result.folder_uid}:")
        for d in result.dashboards:
            typer.echo(runner.redactor(f"  {d.uid:<32} {d.title}  (version {d.version}) {d.url}"))
        typer.echo(f"ok: {len(result.dashboards)} dashboard(s) in place")
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.add_typer(grafana_app)
