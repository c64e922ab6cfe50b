"""`deployer render [CLUSTER [HUB ...]]`: render every release offline as deploy would, and check it."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from deployer.cli.app import OutputFormat, state
from deployer.cli.deploy_cmd import CHART_REPO_ENV, chart_repo_folder
from deployer.errors import EXIT_FAILED, EXIT_OK, UsageError
from deployer.redact import dumps_redacted


def render(
    ctx: typer.Context,
    cluster: Optional[str] = typer.Argument(None, help="Cluster to render (default: every cluster)."),
    hubs: Optional[List[str]] = typer.Argument(None, help="Hubs to render (default: the support stack and every hub)."),
    chart_repo: Optional[Path] = typer.Option(
        None, "--chart-repo", envvar=CHART_REPO_ENV, file_okay=False,
        help="Local Helm chart repository that chart dependencies come from (as for deploy)."),
    concurrency: int = typer.Option(4, "--concurrency", "-j", min=1, max=64, help="Releases rendered at once."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text, or json for scripts."),
) -> int:
    """Render each release offline with `helm template` (values layered as deploy does, the real chart and
    its dependencies, helm's schema checks), check every object against the Kubernetes API of the
    cluster's version (cluster.yaml `kubernetes_version`, default 1.34), then the fleet checks:
    cluster-scoped objects of two releases, two Ingresses on one host and path, a hub's domain missing
    from its Ingress, a chart whose kubeVersion excludes the cluster.

    Encrypted values files are decrypted in memory when an age key is available (SOPS_AGE_KEY_FILE);
    otherwise their keys are kept with placeholder values, and the output says so.

    Exit 0 when nothing is wrong, 1 when a problem was found, 2 on a usage error.
    """
    from deployer.adapters.sops import check_age_key_file
    from deployer.render.pipeline import render_fleet
    from deployer.render.renderer import RenderOptions
    from deployer.toolchain import find_tool

    if hubs and not cluster:
        raise UsageError("name the cluster before its hubs", hint="deployer render <cluster> [<hub> ...]")
    app = state(ctx).app
    root = app.root()
    check_age_key_file()  # set but missing: an error, not a quiet fall-back to placeholder values
    options = RenderOptions(work_dir=app.charts_work_dir(), chart_repo=chart_repo_folder(chart_repo),
                            concurrency=concurrency)
    runner = app.runner
    report = render_fleet(root, cluster, hubs or None, options, runner, find_tool("helm"))
    if output is OutputFormat.json:
        typer.echo(dumps_redacted(report.to_json(), runner.redactor, indent=2))
    else:
        _print_text(report, runner.redactor)
    return EXIT_OK if report.ok else EXIT_FAILED


def _print_text(report, redact) -> None:
    failed = {p.release for p in report.errors}
    for c in report.clusters:
        typer.echo(f"cluster {c.name} (Kubernetes {c.kubernetes_version})")
        for r in c.releases:
            state_word = "FAILED" if r.id in failed else "ok"
            line = f"  {state_word:<6} {r.id:<40} {len(r.objects):>4} objects"
            if r.rendered:
                line += f", {r.schema_checked} checked against the Kubernetes API"
                if r.schema_skipped:
                    line += f", {r.schema_skipped} custom resources not checked"
            typer.echo(redact(line))
            if r.placeholders:
                typer.echo(redact(f"         no key to decrypt {', '.join(r.placeholders)}: their keys were kept "
                                  "with placeholder values"))
    problems = report.problems
    for p in problems:
        typer.echo(redact(f"{p.severity}: {p.where}: [{p.code}] {p.message}"), err=True)
        if p.hint:
            typer.echo(redact(f"  hint: {p.hint}"), err=True)
    releases = [r for c in report.clusters for r in c.releases]
    clean = sum(1 for r in releases if r.rendered and r.id not in failed)
    typer.echo(f"{len(releases)} release(s) rendered in {report.seconds:.1f}s: {clean} clean, "
               f"{len(report.errors)} problem(s)")


def register(app: typer.Typer) -> None:
    app.command("render")(render)
