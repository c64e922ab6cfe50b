"""`deployer local up | down | status`: the embedded local cluster (it runs no containers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from deployer.cli.app import OutputFormat
from deployer.errors import EXIT_FAILED, EXIT_OK

local_app = typer.Typer(
    name="local",
    help="An embedded Kubernetes API on 127.0.0.1 to deploy to (etcd, kube-apiserver, "
    "kube-controller-manager and a simulated node: no container ever runs).",
    no_args_is_help=True,
)

StateDir = typer.Option(
    None, "--state-dir", file_okay=False,
    help="Folder for the cluster's state (default: $DEPLOYER_STATE_DIR/local, else <repo>/.state/local).",
)
Output = typer.Option(OutputFormat.text, "--output", "-o", help="text or json.")


def _cluster(state_dir: Optional[Path]):
    from deployer.local.cluster import LocalCluster

    return LocalCluster(state_dir)


def _print_status(status) -> None:
    typer.echo(status.message)
    for c in status.components:
        where = f"port {c.port}" if c.port else ""
        pid = f"pid {c.pid}" if c.pid else "not started"
        typer.echo(f"  {c.name:<24} {'running' if c.running else 'DEAD':<8} {pid:<12} {where}")
    if status.healthy and status.kubeconfig:
        typer.echo(f"kubeconfig: {status.kubeconfig}")
        typer.echo(f"  export KUBECONFIG={status.kubeconfig}")
    if status.hint:
        typer.echo(f"  hint: {status.hint}")


@local_app.command("up")
def up(
    state_dir: Optional[Path] = StateDir,
    port: Optional[int] = typer.Option(None, "--port", help="API server port on 127.0.0.1 (default: a free one)."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the cluster to be ready."),
    output: OutputFormat = Output,
) -> None:
    """Start the local cluster (or say it is already up) and write its kubeconfig."""
    result = _cluster(state_dir).up(port=port, timeout=timeout)
    if output is OutputFormat.json:
        typer.echo(json.dumps({**result.status.to_json(), "already_running": result.already_running,
                               "seconds": round(result.seconds, 2), "cleaned": result.cleaned}, indent=2))
    else:
        if result.cleaned:
            typer.echo(result.cleaned)
        if result.already_running:
            typer.echo("the local cluster is already up; nothing to do")
        else:
            typer.echo(f"started in {result.seconds:.1f}s (no containers run: a simulated node reports Pods Ready)")
        _print_status(result.status)
    raise typer.Exit(EXIT_OK if result.status.healthy else EXIT_FAILED)


@local_app.command("down")
def down(state_dir: Optional[Path] = StateDir, output: OutputFormat = Output) -> None:
    """Stop exactly the processes `up` started (by recorded PID) and remove the cluster's state."""
    result = _cluster(state_dir).down()
    if output is OutputFormat.json:
        typer.echo(json.dumps({"state_dir": result.state_dir, "was_recorded": result.was_recorded,
                               "stopped": [{"name": n, "pid": p} for n, p in result.stopped]}, indent=2))
    elif not result.was_recorded:
        typer.echo("the local cluster was not running; nothing to stop")
    else:
        names = ", ".join(f"{n} (pid {p})" for n, p in result.stopped) or "nothing was still running"
        typer.echo(f"stopped: {names}; removed {result.state_dir}")


@local_app.command("status")
def status(state_dir: Optional[Path] = StateDir, output: OutputFormat = Output) -> None:
    """Report each component (running or dead, pid, port). Exit 1 unless the cluster is up and ready."""
    st = _cluster(state_dir).status()
    if output is OutputFormat.json:
        typer.echo(json.dumps(st.to_json(), indent=2))
    else:
        _print_status(st)
    raise typer.Exit(EXIT_OK if st.healthy else EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.add_typer(local_app, name="local")
