"""`plan-upgrade` as stages: resolve refs -> the head (the work tree when it is that commit) ->
validate head -> the base (only the files the change touched are read from git) -> compare
(pure, deployer.plan.changed_releases).

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
from deployer.plan.changed_releases import UpgradePlan, plan_from_changed_files, plan_upgrade
from deployer.plan.release_inputs import Snapshot
from deployer.checks.validate import ConfigInvalid

CHARTS_DIR = "helm-charts"


def folder_snapshot(root: Path, label: str) -> Snapshot:
    """The configuration in a folder; invalid configuration is a validation failure (file:line)."""
    outcome = validate(root)
    if outcome.report.errors:
        raise ConfigInvalid(outcome.report.errors, where=label)
    return Snapshot.of_folder(root, {d.folder_name: d.model for d in outcome.docs}, known_charts(root))


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

    with tempfile.TemporaryDirectory(prefix="deployer-plan-") as tmp:
        label = f"head {head_ref} ({head[:12]})"
        if head == git.resolve("HEAD") and git.is_clean(paths):
            head_root = root
        else:  # another commit, or uncommitted changes: write the head's files out
            head_root = Path(tmp) / "head" / prefix
            git.export(head, paths, Path(tmp) / "head")
        head_snap = folder_snapshot(head_root, label)
        base_snap = _base_snapshot(git, base, head, paths, prefix, head_root, Path(tmp) / "base",
                                   f"base {base_ref} ({base[:12]})")
        return plan_upgrade(base_snap, head_snap, base, head)


def _base_snapshot(git: Git, base: str, head: str, paths: list[str], prefix: str, head_root: Path, scratch: Path,
                   label: str, changed: Optional[set[str]] = None) -> Snapshot:
    """The configuration at `base`, as an overlay on `head_root`: `changed` (relative to the
    configuration root; by default what git says differs between `base` and `head`) is read from git."""
    strip = len(prefix)
    files = frozenset(f[strip:] for f in git.files(base, paths))
    if changed is None:
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
    return Snapshot(files, locate, clusters, charts)


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


# --- against the cluster: the ledger ------------------------------------------------------------


def plan_against_cluster(root: Path, clusters: Optional[list[str]], runner: ProcessRunner,
                         concurrency: int = 8, state_dir: Optional[Path] = None) -> UpgradePlan:
    """Per release, the work tree's input digest against the one recorded in its cluster: stages
    load (validate) -> read every cluster's ledger (one request each, clusters in parallel) ->
    compare (pure) -> name the inputs changed since each recorded commit (git) -> the plan."""
    from deployer.stopping import thread_pool

    from deployer.adapters.sops import Sops
    from deployer.plan.ledger import plan_from_ledger, recorded_elsewhere
    from deployer.plan.release_inputs import release_inputs
    from deployer.run.cluster_connection import open_cluster
    from deployer.run.cluster_ledger import ClusterLedger, desired_digests, read_ledger, repo_source

    head = folder_snapshot(root, "working tree")
    names = sorted(head.clusters)
    if clusters:
        unknown = [c for c in clusters if c not in head.clusters]
        if unknown:
            raise UsageError(f"no cluster named {', '.join(f'`{c}`' for c in unknown)}",
                             hint=f"known clusters: {', '.join(names)}")
        names = sorted(set(clusters))
    inputs = {rid: r for rid, r in release_inputs(head).items() if r.cluster in names}
    source = repo_source(root, runner)
    sops = Sops(runner)

    def ledger_of(name: str) -> ClusterLedger:
        try:
            with open_cluster(root, head.clusters[name], runner, sops=sops, state_dir=state_dir) as conn:
                return read_ledger(conn.access, runner)
        except DeployerError as e:
            return ClusterLedger(error=e.message)

    with thread_pool(max(1, min(concurrency, len(names)))) as pool:
        ledgers = dict(zip(names, pool.map(ledger_of, names)))
    digests = desired_digests(root, {name: head.clusters[name] for name in names}, only=set(inputs))
    comparisons = {rid: ledgers[r.cluster].compare(rid, r.cluster, digests[rid]) for rid, r in inputs.items()}
    changes = _changes_since_records(root, runner, head, inputs, comparisons)
    removals = [gone for name in names for gone in recorded_elsewhere(name, ledgers[name].states, set(inputs))]
    label = "working tree" if source.commit is None else source.commit + (" (dirty work tree)" if source.dirty else "")
    return plan_from_ledger(inputs, comparisons, changes, removals, label, digests)


def _changes_since_records(root: Path, runner: ProcessRunner, head: Snapshot, inputs: dict, comparisons: dict) -> dict[str, list[str]]:
    """For each changed release whose record names a commit: the inputs that differ between that
    commit and the work tree, or why they cannot be named."""
    from deployer.plan.ledger import Verdict
    from deployer.plan.changed_releases import _reasons
    from deployer.plan.release_inputs import release_inputs

    wanted: dict[str, list[str]] = {}
    for rid, c in comparisons.items():
        if c.verdict is Verdict.changed and c.record is not None and c.record.commit:
            wanted.setdefault(c.record.commit, []).append(rid)
    if not wanted:
        return {}
    out: dict[str, list[str]] = {}
    git = Git(root, runner)
    try:
        top = git.toplevel()
        prefix = root.resolve().relative_to(top.resolve()).as_posix()
    except (DeployerError, ValueError):
        return {rid: ["the changed inputs cannot be named: the repository is not a git work tree"]
                for rids in wanted.values() for rid in rids}
    prefix = "" if prefix == "." else prefix + "/"
    paths = [f"{prefix}{CLUSTERS_DIR.as_posix()}", f"{prefix}{CHARTS_DIR}"]
    with tempfile.TemporaryDirectory(prefix="deployer-ledger-") as tmp:
        for commit, rids in sorted(wanted.items()):
            if not git.has_commit(commit):
                shallow = " (this clone is shallow: fetch-depth: 0)" if git.is_shallow() else ""
                for rid in rids:
                    out[rid] = [f"recorded commit {commit[:12]} is not in this repository{shallow}: "
                                "the changed inputs cannot be named"]
                continue
            try:
                changed = {f[len(prefix):] for f in git.changed_since(commit, paths)}
                base = _base_snapshot(git, commit, "", paths, prefix, root, Path(tmp) / commit[:12],
                                      f"recorded commit {commit[:12]}", changed=changed)
                before = release_inputs(base)
            except DeployerError as e:
                for rid in rids:
                    out[rid] = [f"the inputs at recorded commit {commit[:12]} could not be read: {e.message}"]
                continue
            for rid in rids:
                reasons = _reasons(before.get(rid), inputs[rid])
                record = comparisons[rid].record
                if reasons == ["new"]:
                    reasons = [f"not in the configuration at recorded commit {commit[:12]}"]
                elif not reasons:
                    reasons = ["no input differs from recorded commit " + commit[:12] + (
                        ": that deploy came from a dirty work tree" if record.dirty else
                        ": the digest was computed differently (another deployer version)")]
                else:
                    reasons = [f"since {commit[:12]}: {r}" for r in reasons]
                out[rid] = reasons
    return out
