"""`deployer deploy` and `deployer deploy-support`: install or upgrade releases with helm."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from deployer.cli.options import seconds_option
from deployer.cli.app import OutputFormat, state
from deployer.errors import EXIT_FAILED, EXIT_OK, UsageError

CHART_REPO_ENV = "DEPLOYER_CHART_REPO"

_CHART_REPO = typer.Option(
    None, "--chart-repo", envvar=CHART_REPO_ENV, file_okay=False,
    help="Local Helm chart repository (index.yaml + .tgz) that chart dependencies come from instead of "
         "their public repositories (offline use).")
_TIMEOUT = seconds_option(600.0, "--timeout", minimum=1, help="Seconds helm may wait for one release to be ready.")
_DRY = typer.Option(False, "--dry-run", help="Render and validate everything, change nothing, print the plan.")
_NO_ROLLBACK = typer.Option(False, "--no-rollback", help="Keep a failed release for debugging instead of rolling back.")
_REPORT = typer.Option(None, "--report-file", dir_okay=False, help="Also write the run report as JSON to this file.")
_OUTPUT = typer.Option(OutputFormat.text, "--output", "-o", help="text, or json (the run report) for scripts.")
_FORCE = typer.Option(False, "--force",
                      help="Deploy releases the cluster's ledger shows unchanged too (default: they are skipped).")


def deploy(
    ctx: typer.Context,
    cluster: Optional[str] = typer.Argument(None, help="Cluster whose hubs to deploy (not with --plan)."),
    hubs: Optional[List[str]] = typer.Argument(None, help="Hubs to deploy (default: every hub of the cluster)."),
    plan: Optional[Path] = typer.Option(None, "--plan", dir_okay=False,
                                        help="Run a plan from `plan-upgrade --output json` (support, staging, prod)."),
    concurrency: int = typer.Option(4, "--concurrency", "-j", min=1, max=64, help="Hubs deployed at once."),
    timeout: float = _TIMEOUT,
    dry_run: bool = _DRY,
    no_rollback: bool = _NO_ROLLBACK,
    chart_repo: Optional[Path] = _CHART_REPO,
    report_file: Optional[Path] = _REPORT,
    output: OutputFormat = _OUTPUT,
    health_check: bool = typer.Option(False, "--health-check",
                                      help="Check each hub's health after deploying it; an unhealthy hub counts as failed."),
    health_retries: int = typer.Option(5, "--health-retries", min=0, max=100,
                                       help="With --health-check: attempts after the first, for a hub not healthy yet."),
    health_interval: float = seconds_option(2.0, "--health-interval", minimum=0,
                                          help="With --health-check: seconds between attempts."),
    force: bool = _FORCE,
) -> int:
    """Install or upgrade hubs: staging hubs first, prod hubs only if every staging hub succeeded.

    A hub whose inputs equal those recorded in the cluster at its last (deployed) revision is
    reported `unchanged` and not touched, unless --force.
    Exit 0 when every hub succeeded or was unchanged, 1 when any failed or was skipped.
    """
    from deployer.run.deploy import DeployRequest
    from deployer.run.health import HealthOptions

    if plan is not None and (cluster or hubs):
        raise UsageError("give either --plan or a cluster (and hubs), not both")
    if plan is None and not cluster:
        raise UsageError("name a cluster to deploy, or --plan FILE", hint="deployer deploy <cluster> [<hub> ...]")
    root = _root_and_report_file(ctx, report_file)
    request = DeployRequest(
        root, cluster or "", hubs or None, support=False, concurrency=concurrency,
        options=_options(ctx, timeout, dry_run, no_rollback, chart_repo), force=force, plan_file=plan,
        health=HealthOptions(retries=health_retries, interval=health_interval) if health_check else None,
        state_dir=state(ctx).state_dir())
    return _run(ctx, request, output, report_file)


def deploy_support(
    ctx: typer.Context,
    cluster: str = typer.Argument(..., help="Cluster whose support stack to deploy."),
    timeout: float = _TIMEOUT,
    dry_run: bool = _DRY,
    no_rollback: bool = _NO_ROLLBACK,
    chart_repo: Optional[Path] = _CHART_REPO,
    report_file: Optional[Path] = _REPORT,
    output: OutputFormat = _OUTPUT,
    force: bool = _FORCE,
) -> int:
    """Install or upgrade the cluster's support stack (ingress, cert-manager, Prometheus, Grafana).

    Skipped as `unchanged` when the cluster's ledger shows its inputs deployed already, unless --force."""
    from deployer.run.deploy import DeployRequest

    root = _root_and_report_file(ctx, report_file)
    request = DeployRequest(root, cluster, None, support=True, concurrency=1,
                            options=_options(ctx, timeout, dry_run, no_rollback, chart_repo), force=force,
                            state_dir=state(ctx).state_dir())
    return _run(ctx, request, output, report_file)


def _root_and_report_file(ctx: typer.Context, report_file: Optional[Path]) -> Path:
    root = state(ctx).root()
    if report_file is not None:
        from deployer.userfiles import check_writable

        check_writable(report_file, "--report-file")  # before deploying anything
    return root


def _options(ctx: typer.Context, timeout: float, dry_run: bool, no_rollback: bool, chart_repo: Optional[Path]):
    from deployer.run.release import DeployOptions

    return DeployOptions(timeout=timeout, rollback=not no_rollback, dry_run=dry_run,
                         chart_repo=chart_repo_folder(chart_repo), work_dir=state(ctx).charts_work_dir())


def _run(ctx: typer.Context, request, output: OutputFormat, report_file: Optional[Path]) -> int:
    """Run a DeployRequest (deployer.run.deploy) with progress, then show and write its report."""
    from deployer.cli.progress import Progress, render_summary, report_json, write_report
    from deployer.run.deploy import deploy as run

    options = request.options
    runner = state(ctx).runner
    err = lambda text: typer.echo(runner.redactor(text), err=True)  # noqa: E731

    def on_plan(planned, where: str) -> None:
        verb = "would deploy (dry run)" if options.dry_run else "deploying"
        err(f"{verb} {len(planned)} release(s) to {where}:")
        for p in planned:
            gate = f"  after {', '.join(p.needs)}" if p.needs else ""
            err(f"  {p.id:<32} {p.stage.value if p.stage else p.kind}{gate}")
        if options.chart_repo:
            err(f"chart dependencies come from the local chart repository {options.chart_repo}")

    # SIGINT and SIGTERM cancel the run (deployer/stopping.py): the report marks the steps interrupted
    with Progress(runner.redactor, live=False if output is OutputFormat.json else None) as progress:
        report = run(request, runner, progress.event, on_plan)
    plan = request.plan_file
    extra = {"cluster": request.cluster or None, "plan": str(plan) if plan else None, "dry_run": options.dry_run,
             "chart_repo": str(options.chart_repo) if options.chart_repo else None}
    text = report_json(report, runner.redactor, extra)
    if report_file is not None:
        write_report(report_file, text)
    if output is OutputFormat.json:
        typer.echo(text)
    else:
        render_summary(report, runner.redactor)
        taken = sorted({k for r in report.results for k in (r.details.get("chart_repository") or {})})
        if taken:
            err(f"from the local chart repository {options.chart_repo}: " + ", ".join(taken))
    if report.interrupted:
        err("interrupted: releases shown as interrupted may be left pending; the next deploy recovers them")
        return 130
    return EXIT_OK if report.ok else EXIT_FAILED


def chart_repo_folder(chart_repo: Optional[Path]) -> Optional[Path]:
    """--chart-repo checked once at the boundary: a folder holding a Helm chart repository index."""
    from deployer.userfiles import is_file, is_folder

    if chart_repo is None:
        return None
    if not is_file(chart_repo / "index.yaml"):
        raise UsageError(f"--chart-repo {chart_repo}: " + ("no index.yaml in it" if is_folder(chart_repo) else "no such folder"),
                         hint="a local chart repository is a folder with index.yaml and chart .tgz files "
                              "(`helm repo index DIR` makes the index)")
    return chart_repo.resolve()


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
    app.command("deploy-support")(deploy_support)

