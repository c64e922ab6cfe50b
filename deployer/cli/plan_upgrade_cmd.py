"""`deployer plan-upgrade`: which clusters and hubs a change touches, for CI on merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from deployer.cli.app import OutputFormat, state
from deployer.errors import EXIT_OK, UsageError


def plan_upgrade(
    ctx: typer.Context,
    base: Optional[str] = typer.Option(None, "--base", help="Git ref before the change (e.g. origin/main, HEAD~1)."),
    head: str = typer.Option("HEAD", "--head", help="Git ref after the change."),
    changed_files: Optional[List[str]] = typer.Option(
        None, "--changed-files", help="Instead of refs: files that changed (repeat the option, or pass a list)."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text, or json (for a CI matrix)."),
    markdown: Optional[Path] = typer.Option(None, "--markdown", dir_okay=False,
                                            help="Also write a markdown summary (for a pull-request comment)."),
    plan_file: Optional[Path] = typer.Option(None, "--plan-file", dir_okay=False,
                                             help="Also write the JSON plan to this file (for `deploy --plan`)."),
    against: Optional[str] = typer.Option(
        None, "--against", metavar="cluster",
        help="`cluster`: compare the work tree with what each cluster recorded it runs (its ledger), not with a commit."),
    clusters: Optional[List[str]] = typer.Option(None, "--cluster", help="With --against cluster: only this cluster (repeat)."),
) -> int:
    """Plan the releases a change affects: support stacks, staging hubs, prod hubs, removals.

    Decides by what would be deployed (chart, values content, overrides, fields), not by paths.
    With --against cluster, the change is the one between each cluster's ledger and the work tree.
    """
    from deployer.plan.plan_markdown import markdown_summary
    from deployer.run.plan_upgrade import plan_between_refs, plan_changed_files

    from deployer.userfiles import check_writable, write_text

    root = state(ctx).root()
    for option, path in (("--markdown", markdown), ("--plan-file", plan_file)):
        if path is not None:
            check_writable(path, option)  # before any work
    if against is not None and against != "cluster":
        raise UsageError(f"--against {against}: the one thing to plan against is `cluster`")
    if against and (base or changed_files):
        raise UsageError("give --against cluster, --base or --changed-files, not several")
    if clusters and not against:
        raise UsageError("--cluster goes with --against cluster")
    if changed_files and base:
        raise UsageError("give either --base or --changed-files, not both")
    if against:
        from deployer.run.plan_upgrade import plan_against_cluster

        plan = plan_against_cluster(root, clusters, state(ctx).runner, state_dir=state(ctx).state_dir())
    elif changed_files:
        files = [f for item in changed_files for f in item.split()]
        _refuse_folders(root, files)
        plan = plan_changed_files(root, files)
    elif base:
        plan = plan_between_refs(root, base, head, state(ctx).runner)
    else:
        raise UsageError("say what changed: --base REF [--head REF], --changed-files FILE ..., or --against cluster")
    payload = json.dumps(plan.to_json(), indent=2)
    if plan_file is not None:
        write_text(plan_file, payload + "\n", "--plan-file")
    if markdown is not None:
        write_text(markdown, markdown_summary(plan), "--markdown")
    if output is OutputFormat.json:
        typer.echo(payload)
    else:
        _print_text(plan)
    return EXIT_OK


def _refuse_folders(root: Path, files: list[str]) -> None:
    """A folder among the changed files would match no release and plan nothing, silently."""
    from deployer.userfiles import is_folder

    for f in files:
        candidates = [Path(f)] if Path(f).is_absolute() else [Path.cwd() / f, root / f]
        if any(is_folder(c) for c in candidates):
            raise UsageError(f"--changed-files {f}: a folder, not a file",
                             hint="name the files that changed (`git diff --name-only BASE`), or give --base REF")


def _print_text(plan) -> None:
    if plan.empty:
        typer.echo("nothing to deploy: every release is unchanged in its cluster" if plan.against == "cluster"
                   else "nothing to deploy: no cluster or hub is affected")
        return
    for title, jobs in (("support", plan.support_jobs), ("staging", plan.staging_jobs), ("prod", plan.prod_jobs)):
        for job in jobs:
            typer.echo(f"{title:<8} {job.id:<40} {'; '.join(job.reasons)[:160]}")
    for removal in plan.removals:
        typer.echo(f"{'remove':<8} {removal['id']:<40} {removal['reason']} (not removed automatically)")
    c = plan.to_json()["counts"]
    tail = ""
    if plan.against == "cluster":
        tail = f"; {len(plan.unchanged)} unchanged"
        if plan.unchecked:
            tail += f"; {len(plan.unchecked)} NOT CHECKED (planned anyway: " + ", ".join(
                sorted({u['cluster'] for u in plan.unchecked})) + " could not be read)"
    typer.echo(f"{c['support']} support, {c['staging']} staging, {c['prod']} prod job(s); {c['removals']} removal(s)"
               + tail)


def register(app: typer.Typer) -> None:
    app.command("plan-upgrade")(plan_upgrade)
