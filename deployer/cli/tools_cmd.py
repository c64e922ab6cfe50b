"""`deployer tools install`: the pinned external tools, into the per-user cache."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from deployer.cli.app import OutputFormat

tools_app = typer.Typer(name="tools", help="The pinned external tools deployer drives (helm, sops, kubectl, ...).",
                        no_args_is_help=True)


@tools_app.command("install")
def install(
    ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, help="Tools or packages to install (default: all)."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text or json."),
) -> None:
    """Install every pinned tool (or those named) into the tool cache; a second run only verifies."""
    from deployer.cli.app import state
    from deployer.toolchain import tools_dir
    from deployer.toolchain.install import install_tools

    progress = None if output is OutputFormat.json else (lambda msg: typer.echo(f"  ... {msg}", err=True))
    results = install_tools(state(ctx).runner, names or None, progress=progress)
    if output is OutputFormat.json:
        typer.echo(json.dumps({"tools_dir": str(tools_dir()), "installed": [r.to_json() for r in results]}, indent=2))
        return
    for r in results:
        note = f" ({r.note})" if r.note else ""
        typer.echo(f"{r.package + ':':<12} {r.version:<10} {r.action:<10} {r.where}{note}")
    typer.echo(f"tool cache: {tools_dir()}")


@tools_app.command("dir")
def where() -> None:
    """Print the tool cache folder (to cache it in CI, or to clean it)."""
    from deployer.toolchain import tools_dir

    typer.echo(str(tools_dir()))


def register(app: typer.Typer) -> None:
    app.add_typer(tools_app)
