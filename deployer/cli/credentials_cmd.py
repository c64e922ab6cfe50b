"""`deployer use-cluster-credentials <cluster> [-- command ...]`."""

from __future__ import annotations

import os
from typing import List, Optional

import typer

from deployer.cli.options import seconds_option
from deployer.cli.app import state


def use_cluster_credentials(
    ctx: typer.Context,
    cluster: str = typer.Argument(..., help="Cluster whose credentials to use."),
    command: Optional[List[str]] = typer.Argument(None, help="The command to run (after `--`)."),
    timeout: float = seconds_option(4 * 3600.0, "--timeout", minimum=1, help="Seconds the command may run."),
) -> None:
    """Run a command with a temporary kubeconfig for the cluster (KUBECONFIG set, no other cloud's
    credentials in its environment); the kubeconfig and any decrypted key are removed afterwards.

    Example: deployer use-cluster-credentials alpha -- kubectl get nodes
    """
    from deployer.run.credentials import refuse_nesting, run_with_credentials

    env = dict(os.environ)
    refuse_nesting(env, cluster)
    root = state(ctx).root()
    if not command:
        shell = env.get("SHELL", "/bin/sh")
        typer.echo(
            f"The credentials of `{cluster}` exist only while a command runs. Run, for example:\n"
            f"  deployer use-cluster-credentials {cluster} -- kubectl get nodes\n"
            f"  deployer use-cluster-credentials {cluster} -- helm list -A\n"
            f"  deployer use-cluster-credentials {cluster} -- {shell}    # a shell; exit it to remove them"
        )
        return
    rc = run_with_credentials(root, cluster, command, state(ctx).runner, env, timeout, state_dir=state(ctx).state_dir())
    raise typer.Exit(rc)


def register(app: typer.Typer) -> None:
    app.command("use-cluster-credentials")(use_cluster_credentials)
