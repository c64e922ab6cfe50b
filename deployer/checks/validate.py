"""`validate`: every check over a repository (or some clusters and hubs), every problem at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from deployer.checks.file_rules import FileCheck
from deployer.checks.problems import Problem, Report, Severity, sort_problems
from deployer.checks.rules import ClusterDoc, check_cluster, check_unique_domains
from deployer.checks.schema_check import check_cluster_schema
from deployer.config.charts import known_charts
from deployer.config.file_reader import FileReader, PathRefused
from deployer.config.models import Hub
from deployer.config.parse_cache import ParseCache
from deployer.errors import DeployerError, UsageError
from deployer.paths import CLUSTERS_DIR

CLUSTER_FILE = "cluster.yaml"


def cluster_folders(root: Path) -> list[Path]:
    base = root / CLUSTERS_DIR
    try:
        return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


class ClusterBroken(DeployerError):
    """A cluster folder exists, but its cluster.yaml does not load (exit 1, not "no such cluster")."""

    def __init__(self, cluster: str, problems: list[Problem]) -> None:
        shown = "; ".join(f"{p.location}: {p.message}" for p in problems[:3]) or "cluster.yaml does not load"
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"cluster `{cluster}` is broken: {shown}{more}",
                         hint=f"run `deployer validate {cluster}` for every problem; nothing was done")
        self.cluster = cluster
        self.problems = problems


def broken(outcome: "Validation", cluster: str) -> ClusterBroken:
    """The error for a cluster whose folder exists but whose cluster.yaml did not load."""
    return ClusterBroken(cluster, outcome.errors_of(cluster))


class ConfigInvalid(DeployerError):
    """The configuration a command needs has errors: nothing was done."""

    def __init__(self, problems: list[Problem], where: str = "") -> None:
        shown = "; ".join(f"{p.location}: {p.message}" for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        at = f" at {where}" if where else ""
        super().__init__(f"the configuration{at} has {len(problems)} error(s): {shown}{more}",
                         hint="run `deployer validate` for the full list (and each fix); nothing was done")
        self.problems = problems


def load_valid_cluster(root: Path, name: str, hubs: Optional[list[str]] = None, *,
                       only_cluster_file: bool = False) -> "ClusterDoc":
    """The one way a command loads a cluster: the same checks as `deployer validate` for what the
    command touches (the named hubs, or every hub), and ConfigInvalid listing the problems.

    `only_cluster_file`: only cluster.yaml's own problems count (credentials need the cluster's
    access, not its hubs' values). An unknown cluster is a UsageError naming the known ones; a
    folder whose cluster.yaml does not load is ClusterBroken.
    """
    outcome = validate(root, name, hubs or None)
    errors = outcome.report.errors
    if only_cluster_file:
        errors = [p for p in errors if p.file.endswith(CLUSTER_FILE)]
    doc = next((d for d in outcome.docs if d.folder_name == name), None)
    if doc is None:
        raise broken(outcome, name)
    if errors:
        raise ConfigInvalid(errors)
    return doc


@dataclass
class Validation:
    """The outcome: the report, and the clusters whose cluster.yaml passed the schema."""

    report: Report
    docs: list[ClusterDoc] = field(default_factory=list)
    # the problems found while checking each cluster (its folder name), whatever their file paths
    # look like (a `config` folder reached through a symlink, a file shared between clusters)
    by_cluster: dict[str, set[Problem]] = field(default_factory=dict)

    def errors_of(self, cluster: str) -> list[Problem]:
        """The errors found while checking `cluster`, in the report's order."""
        mine = self.by_cluster.get(cluster, set())
        return [p for p in self.report.errors if p in mine]


def validate(root: Path, cluster: Optional[str] = None, hubs: Optional[list[str]] = None, *,
             parse_cache: Optional[ParseCache] = None) -> Validation:
    """Every rule over the repository at `root` (or one cluster, or some of its hubs). With a
    `parse_cache`, files parsed by an earlier run are not parsed again (the caller saves it)."""
    reader = FileReader(root, parse_cache)
    folders = cluster_folders(root)
    by_name = {f.name: f for f in folders}
    if cluster is not None and cluster not in by_name:
        raise UsageError(
            f"no cluster named `{cluster}` in {reader.rel(root / CLUSTERS_DIR)}",
            hint=f"known clusters: {', '.join(sorted(by_name)) or '(none)'}",
        )
    problems: list[Problem] = []
    by_cluster: dict[str, set[Problem]] = {}

    def found_in(name: str, found: list[Problem]) -> None:
        problems.extend(found)
        by_cluster.setdefault(name, set()).update(found)

    docs: list[ClusterDoc] = []
    for folder in folders:
        doc, found = read_cluster_file(reader, folder)
        if cluster is None or folder.name == cluster:
            found_in(folder.name, found)
        if doc is not None:
            docs.append(doc)
    selected = [d for d in docs if cluster is None or d.folder_name == cluster]
    hub_names: Optional[set[str]] = None
    if hubs:
        if not selected:
            raise ClusterBroken(str(cluster), [p for p in problems if p.severity is Severity.error] or problems)
        known = [h.name for h in selected[0].model.hubs]
        unknown = [h for h in hubs if h not in known]
        if unknown:
            raise UsageError(
                f"cluster `{cluster}` has no hub named {', '.join(f'`{h}`' for h in unknown)}",
                hint=f"known hubs: {', '.join(known)}",
            )
        hub_names = set(hubs)

    def being_validated(doc: ClusterDoc, hub: Hub) -> bool:
        return (cluster is None or doc.folder_name == cluster) and (hub_names is None or hub.name in hub_names)

    # Domains must be unique across the whole repository, even when checking one cluster. Each
    # clash is reported at the cluster.yaml of the hub that came second: that cluster's problem.
    of_file = {d.rel: d.folder_name for d in docs}
    for p in check_unique_domains(docs, being_validated):
        found_in(of_file[p.file], [p])
    charts = known_charts(root)
    hub_count = 0
    for doc in selected:
        found_in(doc.folder_name, check_cluster(doc))
        if doc.model.terraform is not None:  # lazily: the HCL parser is loaded only for these
            from deployer.checks.terraform_check import check_terraform

            found_in(doc.folder_name, check_terraform(doc, root))
        check = FileCheck(doc, root / CLUSTERS_DIR / doc.folder_name, reader, charts)
        for ref in check.references(hub_names):
            check.check_reference(ref)
        check.check_charts(hub_names)
        found_in(doc.folder_name, _hub_value_keys(doc, root / CLUSTERS_DIR / doc.folder_name, reader, hub_names))
        if hub_names is None:
            found_in(doc.folder_name, _support_value_keys(doc, root / CLUSTERS_DIR / doc.folder_name, reader, charts))
            check.check_unreferenced()
        found_in(doc.folder_name, check.problems)
        hub_count += len(hub_names) if hub_names is not None else len(doc.model.hubs)
    files = reader.files_read
    report = Report(
        problems=sort_problems(problems),
        clusters=len(selected) if cluster is None else 1,
        hubs=hub_count,
        files=files,
    )
    return Validation(report, docs, by_cluster)


def _hub_value_keys(doc: ClusterDoc, folder: Path, reader: FileReader, hub_names: Optional[set[str]]) -> list[Problem]:
    """basehub/daskhub hubs: every key they set works or is refused by name (checks/hub_values.py)."""
    from deployer.checks.hub_values import check_hub_values

    found: list[Problem] = []
    for hub in doc.model.hubs:
        if hub_names is not None and hub.name not in hub_names:
            continue
        if hub.helm_chart not in ("basehub", "daskhub") or hub.chart_override:
            continue
        paths = _value_paths(reader, folder, hub.helm_chart_values_files)

        def files(with_positions: set[str]) -> list:
            read = (reader.read(path, positions=reader.rel(path) in with_positions) for path in paths)
            return [f for f in read if f.problem is None]

        # parsed without positions (as the file rules read them: one parse per file); only the files
        # with problems are read again with line numbers, to point at each key
        problems = check_hub_values(hub.name, str(hub.helm_chart), files(set()))
        if problems:
            problems = check_hub_values(hub.name, str(hub.helm_chart), files({p.file for p in problems}))
        found.extend(problems)
    return found


def _value_paths(reader: FileReader, folder: Path, refs: list[str]) -> list[Path]:
    """The values files a release names that exist and may be read (the others are the file rules' to report)."""
    paths = []
    for ref in refs:
        try:
            path = reader.resolve_reference(folder, ref)
        except PathRefused:
            continue
        if path.is_file():
            paths.append(path)
    return paths


def _support_value_keys(doc: ClusterDoc, folder: Path, reader: FileReader, charts: dict[str, Path]) -> list[Problem]:
    """The support stack (our chart): every key it sets works or is refused by name (checks/support_values.py)."""
    from deployer.checks.support_values import check_support_values, schema_keys

    support = doc.model.support
    if support is None or support.helm_chart != "support" or "support" not in charts:
        return []
    known = schema_keys(charts["support"])
    if known is None:
        return []
    paths = _value_paths(reader, folder, support.helm_chart_values_files)
    read = [reader.read(path, positions=False) for path in paths]
    problems = check_support_values(doc.model.provider.value, [f for f in read if f.problem is None], known)
    if problems:  # read again with positions, to point at each key
        again = [reader.read(path, positions=True) for path in paths]
        problems = check_support_values(doc.model.provider.value, [f for f in again if f.problem is None], known)
    return problems


def read_cluster_file(reader: FileReader, folder: Path) -> tuple[Optional[ClusterDoc], list[Problem]]:
    path = folder / CLUSTER_FILE
    rel = reader.rel(path)
    if not path.exists():
        return None, [
            Problem(
                file=reader.rel(folder) + "/",
                code="missing-cluster-file",
                message="cluster folder has no cluster.yaml",
                hint="add a cluster.yaml (see README), or remove the folder",
            )
        ]
    try:
        reader.resolve_reference(folder, CLUSTER_FILE)
    except PathRefused as e:
        return None, [Problem(file=rel, code=e.code, message=e.message, hint=e.hint)]
    f = reader.read(path)
    if f.problem is not None or f.loaded is None:
        p = f.problem
        assert p is not None
        return None, [Problem(file=rel, line=p.line, column=p.column, code=p.code, message=p.message, hint=p.hint)]
    model, problems = check_cluster_schema(f.loaded, rel)
    if model is None:
        return None, problems
    return ClusterDoc(folder.name, rel, f.loaded, model), problems
