"""`deployer config schema`: the JSON Schema of cluster.yaml, generated from the models."""

from __future__ import annotations

import json

import typer

config_app = typer.Typer(help="The configuration format.", no_args_is_help=True)


@config_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of cluster.yaml (for editors and pre-commit hooks)."""
    from deployer.config.schema import cluster_json_schema

    typer.echo(json.dumps(cluster_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
