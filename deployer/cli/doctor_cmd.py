"""`deployer doctor`: which external tools are there, their versions, and what to do about the rest."""

from __future__ import annotations

import json

import typer

from deployer.cli.app import OutputFormat, state
from deployer.errors import EXIT_FAILED, EXIT_OK


def doctor(
    ctx: typer.Context,
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text (a table) or json."),
) -> None:
    """Report each external tool: found or not, version, path, and what to do when missing."""
    from deployer import toolchain

    statuses = toolchain.doctor(runner=state(ctx).runner)
    missing = toolchain.missing_required(statuses)
    if output is OutputFormat.json:
        typer.echo(json.dumps({
            "tools_dir": str(toolchain.tools_dir()),
            "ok": not missing,
            "tools": [s.to_json() for s in statuses],
        }, indent=2))
    else:
        _render_table(statuses, toolchain.tools_dir())
        if missing:
            typer.echo(f"\n{len(missing)} required tool(s) missing or broken: {', '.join(s.name for s in missing)}")
            typer.echo(f"  hint: {toolchain.INSTALL_HINT}")
        else:
            typer.echo("\nall required tools found")
    raise typer.Exit(EXIT_FAILED if missing else EXIT_OK)


def _render_table(statuses, tools_dir) -> None:
    from rich.console import Console
    from rich.table import Table

    typer.echo(f"tools (looked up in {tools_dir}/<package>/<version>/bin, then PATH)")  # a line: never wrapped
    table = Table()
    for col in ("tool", "status", "version", "path", "what to do"):
        table.add_column(col, overflow="fold")
    for s in statuses:
        if s.ok:
            state = "ok" if not s.problem else "ok (!)"
            todo = s.problem or ""
        else:
            state = "MISSING" if not s.found else "BROKEN"
            if not s.required:
                state += " (optional)"
            todo = "; ".join(x for x in (s.problem if s.found else None, s.hint) if x)
        table.add_row(s.name, state, s.version or "-", s.path or "-", todo)
    Console(soft_wrap=False, width=max(120, Console().width)).print(table)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
