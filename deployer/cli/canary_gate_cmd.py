"""`deployer canary-gate`: for CI, the jobs of the next stage whose cluster had no failure in the
earlier stages (the gate itself: `plan/canary_gate.py`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from deployer.errors import EXIT_OK, UsageError


def canary_gate(
    plan: Path = typer.Option(..., "--plan", dir_okay=False, help="The plan from `plan-upgrade --output json`."),
    stage: str = typer.Option(..., "--stage", help="The stage about to run: staging or prod."),
    reports: Optional[Path] = typer.Option(None, "--reports", file_okay=False,
                                           help="Folder of run reports (--report-file) of the earlier stages."),
) -> int:
    """Print, as JSON, the jobs of STAGE whose cluster had no failure in the earlier stages.

    For CI: the matrix of the next stage. Exit 0 (an empty list when everything is gated)."""
    from deployer.plan.canary_gate import gate
    from deployer.plan.plan_file import load_plan, load_report
    from deployer.userfiles import is_folder

    if stage not in ("staging", "prod"):
        raise UsageError(f"--stage {stage}: expected staging or prod")
    if reports is not None and not is_folder(reports):
        raise UsageError(f"--reports {reports}: no such folder",
                         hint="name the folder the earlier stages' run reports were put in (an empty folder when "
                              "none ran)")
    plan_data = load_plan(plan, "--plan")
    # A report that cannot be read or is not a run report fails the gate as a whole (exit 1): it
    # cannot be told which cluster it was for, so no stage after it may run on its word.
    try:
        paths = sorted(reports.glob("**/*.json")) if reports and is_folder(reports) else []
    except OSError as e:
        raise UsageError(f"--reports {reports}: cannot list it: {e.strerror}") from e
    loaded = [load_report(path, "--reports") for path in paths]
    allowed, skipped = gate(plan_data, stage, loaded)
    typer.echo(json.dumps({"jobs": [j.model_dump() for j in allowed], "skipped": skipped}))
    for s in skipped:
        typer.echo(f"{s['cluster']}/{s['hub']}: {s['reason']}", err=True)
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("canary-gate")(canary_gate)
