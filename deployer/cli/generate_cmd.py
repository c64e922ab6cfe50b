"""`deployer generate cluster <name> --provider gcp|aws|azure`: scaffold a new cluster folder."""

from __future__ import annotations

from typing import List, Optional

import typer

from deployer.cli.app import state

generate_app = typer.Typer(name="generate", help="Scaffold new configuration from templates.", no_args_is_help=True)


@generate_app.command("cluster")
def cluster(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The new cluster's name (its folder under config/clusters)."),
    provider: str = typer.Option(..., "--provider", help="gcp, aws or azure."),
    region: Optional[str] = typer.Option(None, "--region", help="Region (or GKE zone) of the cluster."),
    project: Optional[str] = typer.Option(None, "--project", help="GCP project ID (gcp)."),
    account: Optional[str] = typer.Option(None, "--account", help="12-digit AWS account ID (aws)."),
    resource_group: Optional[str] = typer.Option(None, "--resource-group", help="Resource group (azure)."),
    subscription: Optional[str] = typer.Option(None, "--subscription", help="Subscription ID (azure)."),
    domain: Optional[str] = typer.Option(None, "--domain", help="The prod hub's domain; others get <hub>.<domain>."),
    state_bucket: Optional[str] = typer.Option(None, "--state-bucket", help="Bucket (storage account on azure) for the Terraform state."),
    chart: str = typer.Option("basehub", "--chart", help="basehub or daskhub."),
    hubs: Optional[List[str]] = typer.Option(None, "--hub", help="A hub to create (repeatable; default: staging and prod)."),
    age_recipient: Optional[str] = typer.Option(None, "--age-recipient",
                                                help="age public key for the secret files (default: the root's .sops.yaml rules)."),
) -> None:
    """Write config/clusters/<name>/: cluster.yaml with a terraform block, support values, a staging and
    a prod hub, and sops-encrypted secret files. Refuses to overwrite anything."""
    from deployer.plan.scaffold import check_request
    from deployer.run.generate import generate_cluster

    req = check_request(name=name, provider=provider, region=region, project=project, account=account,
                        resource_group=resource_group, subscription=subscription, domain=domain,
                        state_bucket=state_bucket, chart=chart, hubs=tuple(hubs) if hubs else None)
    root = state(ctx).root()
    done = generate_cluster(root, req, state(ctx).runner, age_recipient)
    typer.echo(f"wrote {done.folder.relative_to(root)}/: {', '.join(done.files)}")
    typer.echo(f"next: edit the placeholders, then `deployer validate {name}` and `deployer provision plan {name}`")


def register(app: typer.Typer) -> None:
    app.add_typer(generate_app, name="generate")
