"""`deployer preview CLUSTER HUB [--rm]`: a fleet hub's real configuration on the local cluster."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Optional

import typer

from deployer.cli.app import OutputFormat, state
from deployer.cli.deploy_cmd import _CHART_REPO, _OUTPUT, _REPORT, chart_repo_folder
from deployer.errors import EXIT_FAILED, EXIT_OK


def preview(
    ctx: typer.Context,
    cluster: str = typer.Argument(..., help="The fleet cluster the hub belongs to."),
    hub: str = typer.Argument(..., help="The hub to preview."),
    rm: bool = typer.Option(False, "--rm", help="Remove the hub's preview (its release and namespace) instead."),
    timeout: float = typer.Option(300.0, "--timeout", min=1, help="Seconds helm may wait for the release."),
    no_user_test: bool = typer.Option(False, "--no-user-test", help="Check health only, no user test."),
    chart_repo: Optional[Path] = _CHART_REPO,
    report_file: Optional[Path] = _REPORT,
    output: OutputFormat = _OUTPUT,
) -> int:
    """Deploy HUB of CLUSTER as it runs in production (its chart, its values files in order, its secrets
    decrypted when an age key is available) to the local cluster as a release of its own, with only the
    substitutions the local cluster needs (each listed), then check its health and run the user test.

    Exit 0 when the preview runs and passes, 1 when it fails (the reason from the hub's own pods and
    log), 2 for usage errors (an unknown cluster or hub)."""
    from deployer.cli.progress import Progress, render_summary, report_json, write_report
    from deployer.run.preview import PreviewRequest, preview as run_preview, remove
    from deployer.run.release import DeployOptions

    app = state(ctx)
    runner = app.runner
    err = lambda text: typer.echo(runner.redactor(text), err=True)  # noqa: E731
    root = app.root()
    # the local cluster of the state folder (`deployer --state-dir DIR preview ...`, as `local up --state-dir DIR`)
    request = PreviewRequest(root, cluster, hub, app.state_dir() / "local",
                             DeployOptions(timeout=timeout, chart_repo=chart_repo_folder(chart_repo),
                                           work_dir=app.charts_work_dir()),
                             user_test=not no_user_test)
    if rm:
        removed = remove(request, runner)
        if output is OutputFormat.json:
            typer.echo(json.dumps(removed.to_json(), indent=2))
        else:
            typer.echo(f"removed the preview of {cluster}/{hub}: release {removed.release} "
                       f"{'uninstalled' if removed.uninstalled else '(none)'}, namespace {removed.namespace} "
                       f"{'deleted with its volumes' if removed.namespace_deleted else 'kept (not made by deployer)'}")
        return EXIT_OK
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with Progress(runner.redactor, live=False if output is OutputFormat.json else None) as progress:
            report = run_preview(request, runner, progress.event, on_note=err)
    finally:
        signal.signal(signal.SIGTERM, previous)
    text = report_json(report, runner.redactor, {"cluster": cluster, "hub": hub, "preview": True})
    if report_file is not None:
        write_report(report_file, text)
    if output is OutputFormat.json:
        typer.echo(text)
    else:
        render_summary(report, runner.redactor)
        for result in report.results:
            for line in result.details.get("local_substituted") or []:
                err(f"  substituted  {line}")
            for line in result.details.get("local_switched_off") or []:
                err(f"  switched off {line}")
    if report.interrupted:
        return 130
    return EXIT_OK if report.ok else EXIT_FAILED


def register(app: typer.Typer) -> None:
    app.command("preview")(preview)
