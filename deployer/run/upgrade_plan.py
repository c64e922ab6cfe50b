"""`plan-upgrade` as stages: resolve refs -> the head (the work tree when it is that commit) ->
validate head -> the base (only the files the change touched are read from git) -> compare
(pure, deployer.plan.upgrade).

Writing a commit's thousand files to disk costs more than all the rest (0.5 s here), so the base
is an overlay: an unchanged file is read from the head, a changed one from a small folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

from deployer.adapters.git import Git, GitError
from deployer.adapters.process import ProcessRunner
from deployer.checks.schema_check import check_cluster_schema
from deployer.checks.validate import validate
from deployer.config.charts import builtin_charts_dir, known_charts
from deployer.config.yamlload import YamlProblem, decode, load_yaml
from deployer.errors import DeployerError, UsageError
from deployer.paths import CLUSTERS_DIR
from deployer.plan.upgrade import (
    FALLBACK_RENDERING,
    RENDERING_FILE,
    Snapshot,
    UpgradePlan,
    plan_from_changed_files,
    plan_upgrade,
)
from deployer.checks.validate import ConfigInvalid

CHARTS_DIR = "helm-charts"


def folder_snapshot(root: Path, label: str, rendering: str = FALLBACK_RENDERING) -> Snapshot:
    """The configuration in a folder; invalid configuration is a validation failure (file:line)."""
    outcome = validate(root)
    if outcome.report.errors:
        raise ConfigInvalid(outcome.report.errors, where=label)
    return Snapshot.of_folder(root, {d.folder_name: d.model for d in outcome.docs}, known_charts(root), rendering)


def plan_between_refs(root: Path, base_ref: str, head_ref: str, runner: ProcessRunner) -> UpgradePlan:
    git = Git(root, runner)
    top = git.toplevel()
    try:
        prefix = root.resolve().relative_to(top.resolve()).as_posix()
    except ValueError as exc:
        raise UsageError(f"{root} is not inside the git repository {top}") from exc
    prefix = "" if prefix == "." else prefix + "/"
    paths = [f"{prefix}{CLUSTERS_DIR.as_posix()}", f"{prefix}{CHARTS_DIR}"]
    base = git.resolve(base_ref)
    head = git.resolve(head_ref)

    def rendering(commit: str) -> str:
        return git.blob_id(commit, f"{prefix}{RENDERING_FILE}") or FALLBACK_RENDERING

    with tempfile.TemporaryDirectory(prefix="deployer-plan-") as tmp:
        label = f"head {head_ref} ({head[:12]})"
        if head == git.resolve("HEAD") and git.is_clean(paths):
            head_root = root
        else:  # another commit, or uncommitted changes: write the head's files out
            head_root = Path(tmp) / "head" / prefix
            git.export(head, paths, Path(tmp) / "head")
        head_snap = folder_snapshot(head_root, label, rendering(head))
        base_snap = _base_snapshot(git, base, head, paths, prefix, head_root, Path(tmp) / "base",
                                   f"base {base_ref} ({base[:12]})", rendering(base))
        return plan_upgrade(base_snap, head_snap, base, head)


def _base_snapshot(git: Git, base: str, head: str, paths: list[str], prefix: str, head_root: Path, scratch: Path,
                   label: str, rendering: str) -> Snapshot:
    strip = len(prefix)
    files = frozenset(f[strip:] for f in git.files(base, paths))
    changed = {f[strip:] for f in git.changed_files(base, head, paths)}
    for rel, content in git.read_blobs(base, [prefix + c for c in sorted(changed & files)]).items():
        target = scratch / rel[strip:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)

    def locate(rel: str) -> Path:
        return scratch / rel if rel in changed else head_root / rel

    clusters = {}
    for rel in sorted(f for f in files if f.count("/") == 3 and f.endswith("/cluster.yaml")
                      and f.startswith(CLUSTERS_DIR.as_posix() + "/")):
        name = rel.split("/")[2]
        try:
            loaded = load_yaml(decode(locate(rel).read_bytes()), positions=True)
        except (OSError, YamlProblem) as e:
            raise _broken_base(label, rel, getattr(e, "message", str(e))) from e
        model, problems = check_cluster_schema(loaded, rel)
        if model is None:
            raise _broken_base(label, problems[0].location, problems[0].message)
        clusters[name] = model
    charts = {rel.split("/")[1]: f"{CHARTS_DIR}/{rel.split('/')[1]}" for rel in files
              if rel.startswith(CHARTS_DIR + "/") and rel.count("/") == 2 and rel.endswith("/Chart.yaml")}
    builtin = builtin_charts_dir()
    if builtin.is_dir():
        for chart in builtin.iterdir():
            if (chart / "Chart.yaml").is_file():
                charts.setdefault(chart.name, str(chart.resolve()))
    return Snapshot(files, locate, clusters, charts, rendering)


def _broken_base(label: str, where: str, message: str) -> DeployerError:
    return DeployerError(
        f"at the base ({label}), {where} did not load: {message}",
        hint="plan from a base where the configuration was valid (--base), or list --changed-files",
    )


def plan_changed_files(root: Path, files: list[str], cwd: Optional[Path] = None) -> UpgradePlan:
    """Plan from a list of changed files (relative to the working directory or to the root)."""
    root = root.resolve()
    relative = []
    for f in files:
        candidates = [Path(f)] if Path(f).is_absolute() else [(cwd or Path.cwd()) / f, root / f]
        for candidate in candidates:
            normal = Path(os.path.normpath(candidate.absolute()))
            if normal.is_relative_to(root):
                relative.append(normal.relative_to(root).as_posix())
                break
        else:
            raise GitError(f"changed file {f} is outside the repository {root}",
                           hint="list files inside the configuration repository")
    return plan_from_changed_files(folder_snapshot(root, "working tree"), relative)
