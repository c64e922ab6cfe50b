"""`deployer health CLUSTER [HUB ...]`: is each hub working, and if not, why."""

from __future__ import annotations

from typing import List, Optional

import typer

from deployer.cli.options import seconds_option
from deployer.cli.app import OutputFormat, state
from deployer.errors import EXIT_FAILED, EXIT_OK
from deployer.redact import dumps_redacted


def health(
    ctx: typer.Context,
    cluster: str = typer.Argument(..., help="Cluster whose hubs to check."),
    hubs: Optional[List[str]] = typer.Argument(None, help="Hubs to check (default: every hub of the cluster)."),
    retries: int = typer.Option(5, "--retries", min=0, max=100, help="Attempts after the first, for a hub that is not healthy yet."),
    interval: float = seconds_option(3.0, "--interval", minimum=0, help="Seconds between attempts."),
    request_timeout: float = seconds_option(10.0, "--request-timeout", minimum=0.5, help="Seconds allowed per API request."),
    concurrency: int = typer.Option(8, "--concurrency", "-j", min=1, max=64, help="Hubs checked at once."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text, or json for scripts."),
    user_test: bool = typer.Option(False, "--user-test", help="Also, on each healthy hub: create a temporary user, "
                                   "start its server, run Python in a kernel, stop it, delete the user."),
    user_test_start_timeout: float = seconds_option(180.0, "--user-test-start-timeout", minimum=1,
                                                  help="Seconds a user server may take to be ready."),
) -> int:
    """Check each hub: pods Ready, /hub/health and the hub API answer (through the API server's
    service proxy), and the hub lists its services. Says why when not (image pull failure,
    unschedulable, crash loop, pending volume, no endpoints, ...).

    Exit 0 when every hub is healthy, 1 when any is not, 2 for usage errors.
    """
    from deployer.run.alerts import cluster_alerts
    from deployer.run.health import HealthOptions, run_health
    from deployer.run.cluster_connection import connect

    root = state(ctx).root()
    runner = state(ctx).runner
    options = HealthOptions(retries=retries, interval=interval, request_timeout=request_timeout,
                            concurrency=concurrency)
    say = lambda text: typer.echo(runner.redactor(text), err=True)  # noqa: E731
    text_mode = output is OutputFormat.text

    def on_attempt(h) -> None:
        if text_mode:
            say(f"{h.hub}: attempt {h.attempts} unhealthy ({h.summary[:100]}); retrying in {interval:g}s")

    with connect(root, cluster, hubs or None, runner, state(ctx).charts_work_dir(),
                 state(ctx).state_dir()) as conn:
        results = run_health(conn, hubs or None, options, on_attempt=on_attempt)
        user_tests = _user_tests(conn, [r.hub for r in results if r.healthy], user_test_start_timeout,
                                 say if text_mode else None) if user_test else []
        alerts = cluster_alerts(conn, request_timeout)  # what the cluster's Prometheus says fires
        all_hubs = [h.name for h in conn.cluster.hubs]
    healthy = all(r.healthy for r in results) and all(t.ok for t in user_tests)
    if output is OutputFormat.json:
        payload = {"ok": healthy, "cluster": cluster,
                   "hubs": [{**r.to_json(), "alerts": [a.to_json() for a in alerts.for_hub(r.hub)]} for r in results],
                   "alerts": {**alerts.to_json(), "cluster": [a.to_json() for a in alerts.not_of(all_hubs)]}}
        if user_test:
            payload["user_tests"] = [t.to_json() for t in user_tests]
        typer.echo(dumps_redacted(payload, runner.redactor, indent=2))
    else:
        for r in results:
            mark = "✓" if r.healthy else "✗"
            typer.echo(runner.redactor(f"{mark} {cluster}/{r.hub}: {'healthy' if r.healthy else 'UNHEALTHY'} "
                                       f"({r.attempts} attempt(s), {r.seconds:.1f}s)"))
            for c in r.checks:
                sign = {True: "ok  ", False: "FAIL", None: "skip"}[c.ok]
                typer.echo(runner.redactor(f"    {sign} {c.name:<8} {c.message}"))
            if not r.healthy:
                for f in r.findings:
                    typer.echo(runner.redactor(f"    why: {f.line()}"))
                    if f.hint:
                        typer.echo(runner.redactor(f"    fix: {f.hint}"))
            for a in alerts.for_hub(r.hub):
                typer.echo(runner.redactor(f"    alert: {a.line()}"))
        _print_cluster_alerts(runner, cluster, alerts, all_hubs)
        for t in user_tests:
            _print_user_test(runner, cluster, t)
        bad = [r.hub for r in results if not r.healthy] + [t.hub for t in user_tests if not t.ok]
        answered = [f"{r.hub} (JupyterHub {r.version})" for r in results if r.healthy and r.version]
        typer.echo(f"{'ok' if healthy else 'FAILED'}: {len(results) - len(bad)} healthy"
                   + (f", {len(bad)} unhealthy ({', '.join(bad)})" if bad else "")
                   + (f"; /hub/health and /hub/api/ answered by {', '.join(answered)}" if answered else ""))
    return EXIT_OK if healthy else EXIT_FAILED


def _print_cluster_alerts(runner, cluster: str, alerts, hubs: list[str]) -> None:
    if alerts.error:
        typer.echo(runner.redactor(f"alerts of {cluster}: not read: {alerts.error}"))
        return
    others = alerts.not_of(hubs)
    firing = sum(1 for a in alerts.alerts if a.state == "firing")
    typer.echo(f"alerts of {cluster}: {firing} firing, {len(alerts.alerts) - firing} pending"
               + (f"; about the cluster: {len(others)}" if others else ""))
    for a in others:
        typer.echo(runner.redactor(f"    alert: {a.line()}" + (f" [{a.hub}]" if a.hub else "")))


def _user_tests(conn, hubs: list[str], start_timeout: float, say):
    import tempfile
    from pathlib import Path

    from deployer.run.user_session import UserTestOptions, run_user_tests

    if say:
        say(f"user test on {', '.join(hubs) or 'no healthy hub'}")
    with tempfile.TemporaryDirectory(prefix="deployer-user-test-") as work:
        return run_user_tests(conn, hubs, UserTestOptions(start_timeout=start_timeout), Path(work))


def _print_user_test(runner, cluster: str, t) -> None:
    mark = "✓" if t.ok else "✗"
    typer.echo(runner.redactor(f"{mark} {cluster}/{t.hub}: user test {'passed' if t.ok else 'FAILED'} "
                               f"({t.seconds:.1f}s, temporary user {t.user})"))
    for p in t.phases:
        typer.echo(runner.redactor(f"    {'ok  ' if p.ok else 'FAIL'} {p.name:<8} {p.seconds:5.1f}s {p.message}"))
    if not t.ok:
        typer.echo(runner.redactor(f"    why: {t.reason}"))
        for line in t.pod_log:
            typer.echo(runner.redactor(f"    log: {line}"))
    typer.echo(runner.redactor(f"    cleanup: {t.cleanup}"))


def register(app: typer.Typer) -> None:
    app.command("health")(health)
