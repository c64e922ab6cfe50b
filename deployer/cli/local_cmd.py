"""`deployer local up | down | status`: a real single-node Kubernetes on this machine."""

from __future__ import annotations

import json
from typing import Optional

import typer

from deployer.cli.app import OutputFormat, state
from deployer.cli.options import seconds_option
from deployer.errors import EXIT_FAILED, EXIT_OK

local_app = typer.Typer(
    name="local",
    help="A real single-node Kubernetes on this machine (etcd, the control plane, containerd, "
    "the kubelet, kube-proxy, CoreDNS) to deploy to. Needs root; one per machine.",
    no_args_is_help=True,
)

StateDir = typer.Option(
    None, "--state-dir", file_okay=False,
    help="State folder; the cluster lives in <state-dir>/local (default: $DEPLOYER_STATE_DIR, "
    "else <repo>/.deployer, else ~/.local/state/deployer).",
)
Output = typer.Option(OutputFormat.text, "--output", "-o", help="text or json.")


def _cluster(ctx: typer.Context, state_dir: Optional[str], *, node: bool = True):
    """The local cluster in `<state folder>/local`: this command's --state-dir, else the global one
    (`deployer --state-dir DIR local ...`, $DEPLOYER_STATE_DIR, the repository's .deployer)."""
    from deployer.errors import UsageError
    from deployer.local.cluster import LocalCluster
    from deployer.paths import state_dir as checked_state_dir

    if state_dir is not None and not state_dir.strip():
        raise UsageError("--state-dir is empty", hint="pass the folder of the local cluster's state, or leave the option out")
    app = state(ctx).app
    folder = (checked_state_dir(explicit=state_dir) if state_dir is not None else app.state_dir()) / "local"
    return LocalCluster(folder, node=node, runner=app.runner)


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
    ctx: typer.Context,
    state_dir: Optional[str] = StateDir,
    port: Optional[int] = typer.Option(None, "--port", help="API server port (default: a free one)."),
    timeout: float = seconds_option(90.0, "--timeout", help="Seconds to wait for the node to be Ready."),
    api_only: bool = typer.Option(False, "--api-only", help="Only etcd and the control plane on 127.0.0.1: "
                                  "no node, no pod runs, the machine is not changed (no root needed)."),
    output: OutputFormat = Output,
) -> None:
    """Start the local cluster (or say it is already up) and write its kubeconfig."""
    result = _cluster(ctx, state_dir, node=not api_only).up(port=port, timeout=timeout)
    if output is OutputFormat.json:
        typer.echo(json.dumps({**result.status.to_json(), "already_running": result.already_running,
                               "seconds": round(result.seconds, 2), "cleaned": result.cleaned,
                               "repaired": result.repaired}, indent=2))
    else:
        if result.cleaned:
            typer.echo(result.cleaned)
        if result.repaired:
            typer.echo(f"{', '.join(result.repaired)} had stopped: started again; the cluster keeps its releases, "
                       "images and volumes")
        if result.already_running:
            typer.echo("the local cluster is already up; nothing to do")
        else:
            typer.echo(f"started in {result.seconds:.1f}s")
        _print_status(result.status)
    raise typer.Exit(EXIT_OK if result.status.healthy else EXIT_FAILED)


@local_app.command("down")
def down(ctx: typer.Context, state_dir: Optional[str] = StateDir, output: OutputFormat = Output,
         keep_data: bool = typer.Option(False, "--keep-data",
                                        help="Keep the volumes' data (hub databases, users' homes) for the next "
                                             "`local up`: a hub deployed again finds it.")) -> None:
    """Stop the local cluster, take back its changes to the machine, and remove its state (and its
    volumes' data, unless --keep-data)."""
    result = _cluster(ctx, state_dir).down(keep_data=keep_data)
    if output is OutputFormat.json:
        typer.echo(json.dumps({"state_dir": result.state_dir, "was_recorded": result.was_recorded,
                               "kept_data": keep_data,
                               "seconds": round(result.seconds, 2), "leftovers": result.leftovers,
                               "stopped": [{"name": n, "pid": p} for n, p in result.stopped]}, indent=2))
    elif not result.was_recorded and not result.stopped:
        typer.echo("the local cluster was not running; nothing to stop")
    else:
        names = ", ".join(f"{n} (pid {p})" for n, p in result.stopped) or "nothing was still running"
        kept = f" (kept the volumes' data in {result.state_dir}/volumes)" if keep_data else ""
        typer.echo(f"stopped: {names}; cleaned {result.state_dir} in {result.seconds:.1f}s{kept}")
    if result.leftovers:
        left = ", ".join(f"{n} {k}" for k, n in result.leftovers.items())
        typer.echo(f"left behind: {left}", err=True)
        raise typer.Exit(EXIT_FAILED)


@local_app.command("status")
def status(ctx: typer.Context, state_dir: Optional[str] = StateDir, output: OutputFormat = Output) -> None:
    """Report each component (running or dead, pid, port). Exit 1 unless the cluster is up and Ready."""
    st = _cluster(ctx, state_dir).status()
    if output is OutputFormat.json:
        typer.echo(json.dumps(st.to_json(), indent=2))
    else:
        _print_status(st)
    raise typer.Exit(EXIT_OK if st.healthy else EXIT_FAILED)


@local_app.command("images")
def images(
    ctx: typer.Context,
    only: Optional[list[str]] = typer.Option(None, "--only", metavar="NAME", help="Build only this image (repeatable)."),
    load: bool = typer.Option(True, "--import/--no-import",
                              help="Import the images into the local node's containerd when it is up."),
    state_dir: Optional[str] = StateDir,
    output: OutputFormat = Output,
) -> None:
    """Build the local cluster's images offline (Debian, PyPI, npm; pinned, cached), and import them."""
    from deployer.local.images import ensure_images, import_images

    cluster = _cluster(ctx, state_dir)
    say = (lambda m: typer.echo(m, err=True)) if output is OutputFormat.text else (lambda m: None)
    built = ensure_images(cluster.runner, only or None, progress=say)
    imported: list[str] = []
    up = load and cluster.status().healthy
    if up:
        imported = import_images(cluster.runner, cluster.layout.containerd_socket, built)
    if output is OutputFormat.json:
        typer.echo(json.dumps({"images": [b.to_json() for b in built], "imported": imported,
                               "cluster_up": up}, indent=2))
        return
    for b in built:
        typer.echo(f"{b.ref}  {b.size / 2**20:.0f} MiB  {'cached' if b.cached else f'built in {b.build_seconds:.0f}s'}")
    if up:
        typer.echo(f"imported into the local node: {len(imported)} (the rest were there already)")
    elif load:
        typer.echo("the local cluster is not up: nothing imported (`deployer local up` first, then rerun)")


@local_app.command("open")
def open_hub(
    ctx: typer.Context,
    hub: str = typer.Argument(..., help="The hub (its release and namespace) to reach."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port on 127.0.0.1 to forward."),
    timeout: float = seconds_option(3600.0, "--timeout", minimum=1, help="Stop forwarding after this many seconds."),
    state_dir: Optional[str] = StateDir,
) -> None:
    """Reach a hub of the local cluster from this machine: forward 127.0.0.1:PORT to its proxy
    (`kubectl port-forward`) until Ctrl-C or --timeout, and print the URL."""
    from deployer.run.user_session import PROXY_SERVICE
    from deployer.toolchain import find_tool

    status = _cluster(ctx, state_dir).status()
    if not status.healthy or not status.kubeconfig:
        raise typer.Exit(_not_up(status))
    kubectl = find_tool("kubectl")
    typer.echo(f"JupyterHub `{hub}`: http://127.0.0.1:{port}/hub/  (forwarding for up to {timeout:.0f}s; Ctrl-C stops)")
    rc = state(ctx).runner.run_attached([kubectl, "--kubeconfig", status.kubeconfig, "-n", hub, "port-forward",
                                       "--address", "127.0.0.1", f"svc/{PROXY_SERVICE}", f"{port}:80"],
                                      timeout=timeout)
    raise typer.Exit(EXIT_OK if rc == 0 else EXIT_FAILED)


def _not_up(status) -> int:
    typer.echo(f"error: the local cluster is not up ({status.state}): {status.message}", err=True)
    typer.echo("  hint: start it with `deployer local up`", err=True)
    return EXIT_FAILED


def register(app: typer.Typer) -> None:
    app.add_typer(local_app, name="local")
