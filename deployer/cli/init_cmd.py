"""`deployer init [PATH]`: a new configuration repository to start from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from deployer.cli.app import OutputFormat


def init(
    path: str = typer.Argument(".", help="Folder for the new repository (new, or empty but for .git)."),
    install_spec: Optional[str] = typer.Option(
        None, "--install-spec", help="How the CI workflow installs deployer (a pip requirement; default: this version)."),
    key_dir: Optional[Path] = typer.Option(
        None, "--key-dir", file_okay=False,
        help="Folder for the new age private key, outside the repository (default: ~/.config/deployer/age)."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text or json."),
) -> None:
    """Create a configuration repository: a local cluster with one hub, sops rules with a fresh
    age key (its private half written outside the repository), .gitignore, CI workflow, README."""
    from deployer.run.init_repo import DEFAULT_SPEC, init_repository

    result = init_repository(path, install_spec=install_spec or DEFAULT_SPEC, key_dir=key_dir)
    if output is OutputFormat.json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    typer.echo(f"created a configuration repository in {result.root}:")
    for rel in result.written:
        typer.echo(f"  {rel}")
    typer.echo(f"age private key (outside the repository, owner-only; never commit it): {result.key_file}")
    typer.echo(f"  export SOPS_AGE_KEY_FILE={result.key_file}")
    typer.echo("next: deployer validate && deployer tools install && deployer local up && deployer deploy local")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
