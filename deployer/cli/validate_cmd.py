"""`deployer validate [CLUSTER [HUB ...]]`: check the configuration offline."""

from __future__ import annotations

import json
import time
from typing import List, Optional

import typer

from deployer.cli.app import OutputFormat, state
from deployer.errors import EXIT_FAILED, EXIT_OK


def validate(
    ctx: typer.Context,
    cluster: Optional[str] = typer.Argument(None, help="Cluster to check (default: every cluster)."),
    hubs: Optional[List[str]] = typer.Argument(None, help="Hubs of CLUSTER to check (default: all of them)."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text, or json for scripts."),
    strict: bool = typer.Option(False, "--strict", help="Count warnings as failures too."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Parse every file again, ignoring what an earlier "
                                  "run parsed (kept per repository in the per-user cache, keyed by each file's bytes)."),
) -> int:
    """Check cluster.yaml files and the files they name: syntax, schema, names, domains, secrets.

    Offline: no network, no cloud credentials, no subprocess. Exit 0 when clean, 1 when any
    error is found (warnings do not fail unless --strict), 2 for usage errors.
    """
    from deployer import paths
    from deployer.checks.validate import validate as run_validation
    from deployer.config.parse_cache import ParseCache

    root = state(ctx).root()
    started = time.perf_counter()
    cache = None if no_cache else ParseCache.for_repository(root, paths.cache_dir())
    report = run_validation(root, cluster, hubs or None, parse_cache=cache).report
    if cache is not None:
        cache.save()
    elapsed = time.perf_counter() - started
    failed = not report.ok or (strict and report.warnings)
    if output is OutputFormat.json:
        payload = {
            "ok": not failed,
            "summary": {
                "clusters": report.clusters,
                "hubs": report.hubs,
                "files": report.files,
                "errors": len(report.errors),
                "warnings": len(report.warnings),
                "seconds": round(elapsed, 3),
            },
            "problems": [p.model_dump(mode="json") for p in report.problems],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        for file, problems in report.by_file().items():
            typer.echo(file)
            for p in problems:
                where = f"{p.line}:{p.column}" if p.line else "-"
                typer.echo(f"  {where:>8}  {p.severity.value:<7} {p.message}  [{p.code}]")
                if p.hint:
                    typer.echo(f"  {'':>8}  {'':<7} hint: {p.hint}")
        verdict = "FAILED" if failed else "ok"
        typer.echo(
            f"{verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s); "
            f"{report.clusters} cluster(s), {report.hubs} hub(s), {report.files} file(s) checked in {elapsed:.2f}s",
            err=failed,
        )
    return EXIT_FAILED if failed else EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
