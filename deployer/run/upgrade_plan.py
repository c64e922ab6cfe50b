"""`plan-upgrade` as stages: resolve refs -> export both commits -> validate head -> load base ->
compare (pure, deployer.plan.upgrade)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

from deployer.adapters.git import Git, GitError
from deployer.adapters.process import ProcessRunner
from deployer.checks.validate import cluster_folders, load_cluster, validate
from deployer.config.charts import known_charts
from deployer.config.files import FileReader
from deployer.errors import DeployerError, UsageError
from deployer.paths import CLUSTERS_DIR
from deployer.plan.upgrade import FALLBACK_RENDERING, RENDERING_FILE, Snapshot, UpgradePlan, plan_from_changed_files, plan_upgrade
from deployer.run.deploy import ConfigInvalid


def head_snapshot(root: Path, label: str) -> Snapshot:
    """The configuration at `root`; invalid configuration is a validation failure (file:line)."""
    outcome = validate(root)
    if outcome.report.errors:
        raise ConfigInvalid(outcome.report.errors, where=label)
    return Snapshot(root, {d.folder_name: d.model for d in outcome.docs}, known_charts(root), _rendering(root))


def base_snapshot(root: Path, label: str) -> Snapshot:
    """The configuration before the change: it validated once; if a cluster.yaml does not even
    load there, say so (planning against it would guess)."""
    reader = FileReader(root)
    clusters = {}
    for folder in cluster_folders(root):
        if not (folder / "cluster.yaml").exists():
            continue
        doc, problems = load_cluster(reader, folder)
        if doc is None:
            p = problems[0]
            raise DeployerError(
                f"at the base ({label}), {p.location} did not load: {p.message}",
                hint="plan from a base where the configuration was valid (--base), or list --changed-files",
            )
        clusters[doc.folder_name] = doc.model
    return Snapshot(root, clusters, known_charts(root), _rendering(root))


def _rendering(root: Path) -> str:
    path = root / RENDERING_FILE
    try:
        import hashlib

        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return FALLBACK_RENDERING


def plan_between_refs(root: Path, base_ref: str, head_ref: str, runner: ProcessRunner) -> UpgradePlan:
    git = Git(root, runner)
    top = git.toplevel()
    try:
        prefix = root.resolve().relative_to(top.resolve())
    except ValueError:
        raise UsageError(f"{root} is not inside the git repository {top}") from None
    base = git.resolve(base_ref)
    head = git.resolve(head_ref)
    wanted = [(prefix / CLUSTERS_DIR).as_posix(), (prefix / "helm-charts").as_posix(), (prefix / RENDERING_FILE).as_posix()]
    wanted = [w.removeprefix("./") for w in wanted]
    with tempfile.TemporaryDirectory(prefix="deployer-plan-") as tmp:
        snapshots = []
        for sha, name in ((base, "base"), (head, "head")):
            dest = Path(tmp) / name
            git.export(sha, wanted, dest)
            (dest / prefix / CLUSTERS_DIR).mkdir(parents=True, exist_ok=True)
            snapshots.append(dest / prefix)
        head_snap = head_snapshot(snapshots[1], f"head {head_ref} ({head[:12]})")
        base_snap = base_snapshot(snapshots[0], f"base {base_ref} ({base[:12]})")
        return plan_upgrade(base_snap, head_snap, base, head)


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
    return plan_from_changed_files(head_snapshot(root, "working tree"), relative)
