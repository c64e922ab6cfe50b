"""Deploy on merge: which releases a change touches, decided by what would be deployed.

For each release (a cluster's support stack, each hub) we compute the *inputs* that determine
it — the chart folder (and local charts it depends on), each values file's content in order,
the chart override, the hub's and cluster's relevant fields, the deployer's own rendering
logic — at the base and at the head of a change. A release is planned when an input differs,
or it is new; releases gone at head are listed for removal. Nothing here runs git or helm: it
reads two folders (the configuration as it was, and as it is).

Values files are compared by their parsed content, so a comment or a reordering of keys plans
nothing; encrypted files are compared by their ciphertext (their plaintext is not ours to read).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from deployer.config.file_reader import is_secret_name
from deployer.config.models import Cluster, Hub, RemoteChart, Stage
from deployer.config.yamlload import YamlProblem, decode, load_json, load_yaml
from deployer.paths import CLUSTERS_DIR
from deployer.plan.release_values import ValuePlan, cluster_release_spec, value_plan

# deployer's own code that builds a release's values: part of what a release is, when the repository
# holds it. The order of the layers (plan/release_values.py), the generated and terraform-outputs
# layers and helm's merge (plan/values.py), reading and decrypting the files (run/release.py), the
# local cluster's layer (local/values.py). tests/unit/test_release_values.py checks that every
# function that decides or builds a layer lives in one of these files.
RENDERING_FILES = ("deployer/plan/values.py", "deployer/run/release.py", "deployer/local/values.py",
                   "deployer/plan/release_values.py", "deployer/local/chart_defaults.py")
RENDERING_FILE = RENDERING_FILES[0]
FALLBACK_RENDERING = "rendering-1"


def rendering_id(blob_ids: dict[str, str | None]) -> str:
    """One input from the git blob ids of RENDERING_FILES (None: the file is not there): the one
    blob id when only the first exists (as before), else a digest of all of them; the fallback when
    the repository holds none (a configuration repository without deployer's code)."""
    present = {k: v for k, v in blob_ids.items() if v}
    if not present:
        return FALLBACK_RENDERING
    if list(present) == [RENDERING_FILES[0]]:
        return present[RENDERING_FILES[0]]
    return hashlib.sha1("\n".join(f"{k}={present[k]}" for k in sorted(present)).encode()).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """The configuration at one commit, as files named relative to the configuration root.

    `files` lists every file under config/clusters and helm-charts at that commit; `locate` says
    where to read one (the two commits of a change share most files, so a base snapshot reads
    unchanged files from the head's folder and only the changed ones from elsewhere). `charts`
    maps a chart name to its folder: relative (inside the repository) or absolute (deployer's
    own charts, the same at both commits).
    """

    files: frozenset[str]
    locate: Callable[[str], Path]
    clusters: dict[str, Cluster]
    charts: dict[str, str]
    rendering: str = FALLBACK_RENDERING

    @classmethod
    def of_folder(cls, root: Path, clusters: dict[str, Cluster], charts: dict[str, Path], rendering: str) -> "Snapshot":
        """A snapshot of a folder on disk (a working tree)."""
        files = frozenset(
            p.relative_to(root).as_posix()
            for top in (CLUSTERS_DIR, Path("helm-charts"))
            for p in (root / top).rglob("*") if p.is_file()
        )
        return cls(files, lambda rel: root / rel, clusters, chart_refs(root, charts), rendering)


def chart_refs(root: Path, charts: dict[str, Path]) -> dict[str, str]:
    out = {}
    for name, folder in charts.items():
        try:
            out[name] = folder.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            out[name] = str(folder.resolve())
    return out


@dataclass
class ReleaseInputs:
    id: str
    cluster: str
    kind: str  # hub | support
    hub: Optional[str]
    stage: Optional[Stage]
    chart: str
    parts: dict[str, Any] = field(default_factory=dict)  # what -> digest (str or ValuesDigest)


_PARSED: dict[str, str] = {}


def _parsed_digest(raw: str, path: Path) -> str:
    """Digest of a values file's parsed content, computed at most once per distinct content."""
    if raw not in _PARSED:
        try:
            text = decode(path.read_bytes())
            data = load_json(text).data if path.suffix == ".json" else load_yaml(text, positions=False).data
            _PARSED[raw] = hashlib.sha256(
                json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
            ).hexdigest()
        except (OSError, YamlProblem):
            _PARSED[raw] = raw
    return _PARSED[raw]


@dataclass(frozen=True, eq=False)
class ValuesDigest:
    """A plain values file's identity: equal bytes are equal; different bytes are compared by
    parsed content (parsed only then), so a comment or a key reordering is no change."""

    raw: str
    path: Path

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ValuesDigest):
            return NotImplemented
        return self.raw == other.raw or _parsed_digest(self.raw, self.path) == _parsed_digest(other.raw, other.path)

    def __hash__(self) -> int:  # pragma: no cover - not used as a key
        return hash(self.path.name)


class _Digests:
    """Content digests of one snapshot's files, computed once per file."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._cache: dict[str, str] = {}
        self._charts: dict[str, dict[str, str]] = {}

    def raw(self, rel: str) -> str:
        if rel not in self._cache:
            if rel not in self.snapshot.files and not Path(rel).is_absolute():
                self._cache[rel] = "missing"
            else:
                path = Path(rel) if Path(rel).is_absolute() else self.snapshot.locate(rel)
                try:
                    self._cache[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError:
                    self._cache[rel] = "missing"
        return self._cache[rel]

    def values(self, rel: str) -> "str | ValuesDigest":
        """Parsed content for plain files (comments and key order do not count); ciphertext for secrets."""
        raw = self.raw(rel)
        if is_secret_name(rel) or raw == "missing":
            return raw
        return ValuesDigest(raw, self.snapshot.locate(rel))

    def folder_files(self, folder: str) -> list[str]:
        if Path(folder).is_absolute():
            base = Path(folder)
            return sorted(str(p) for p in base.rglob("*") if p.is_file()) if base.is_dir() else []
        prefix = folder.rstrip("/") + "/"
        return sorted(f for f in self.snapshot.files if f.startswith(prefix))

    def chart_parts(self, chart: str) -> dict[str, str]:
        """Every file of the chart and of the local charts it depends on (computed once per chart)."""
        if chart not in self._charts:
            parts = {}
            for name, folder in self._closure(chart):
                for f in self.folder_files(folder):
                    shown = Path(f).relative_to(folder).as_posix() if Path(f).is_absolute() else f[len(folder) + 1:]
                    where = "(deployer's own chart)" if Path(folder).is_absolute() else folder
                    parts[f"chart {name}: {where}/{shown}"] = self.raw(f)
            self._charts[chart] = parts
        return self._charts[chart]

    def _closure(self, name: str) -> list[tuple[str, str]]:
        """The chart and the local charts it depends on (file://), transitively."""
        charts = self.snapshot.charts
        seen: dict[str, str] = {}
        todo = [name]
        while todo:
            current = todo.pop()
            if current in seen or current not in charts:
                continue
            folder = charts[current]
            seen[current] = folder
            chart_yaml = f"{folder}/Chart.yaml"
            path = Path(chart_yaml) if Path(folder).is_absolute() else self.snapshot.locate(chart_yaml)
            try:
                meta = load_yaml(decode(path.read_bytes()), positions=False).data or {}
            except (OSError, YamlProblem):
                continue
            for dep in meta.get("dependencies") or []:
                repo = str(dep.get("repository", "")) if isinstance(dep, dict) else ""
                if repo.startswith("file://"):
                    target = os.path.normpath(f"{folder}/{repo[len('file://'):]}")
                    todo.extend(n for n, f in charts.items() if os.path.normpath(f) == target)
        return sorted(seen.items())


def release_inputs(snapshot: Snapshot) -> dict[str, ReleaseInputs]:
    """Per release: its inputs, the values files and their order as `deployer.plan.release_values`
    lays them out for deploy (the order of the layers is an input too)."""
    digests = _Digests(snapshot)
    releases: dict[str, ReleaseInputs] = {}
    for name, cluster in sorted(snapshot.clusters.items()):
        folder = Path(CLUSTERS_DIR.as_posix()) / name
        common = _cluster_fields(cluster)
        if cluster.support is not None:
            r = ReleaseInputs(f"{name}/support", name, "support", None, None, _chart_name(cluster.support.helm_chart))
            r.parts.update(common)
            _add_chart(r, cluster.support.helm_chart, digests)
            _add_layers(r, value_plan(cluster_release_spec(folder, cluster, None, None)), digests)
            r.parts["deployer rendering logic"] = snapshot.rendering
            releases[r.id] = r
        for hub in cluster.hubs:
            r = ReleaseInputs(f"{name}/{hub.name}", name, "hub", hub.name, hub.effective_stage, _chart_name(hub.helm_chart))
            r.parts.update(common)
            r.parts.update(_hub_fields(hub))
            _add_chart(r, hub.helm_chart, digests)
            plan = value_plan(cluster_release_spec(folder, cluster, hub.name, None))
            _add_layers(r, plan, digests)
            if plan.chart.override is not None:
                rel = os.path.normpath(plan.chart.override)
                r.parts[f"chart override {rel}"] = digests.raw(rel)
            if plan.domain_override is not None:
                rel = os.path.normpath(plan.domain_override)
                r.parts[f"domain override {rel}"] = digests.values(rel)
            r.parts["deployer rendering logic"] = snapshot.rendering
            releases[r.id] = r
    return releases


DIGEST_FORMAT = "deployer-inputs-1"


def release_digest(r: ReleaseInputs) -> str:
    """One digest of every input of a release (what the ledger records in the cluster): plain
    values files count by their parsed content, like the comparison between two commits."""
    h = hashlib.sha256(DIGEST_FORMAT.encode())
    for key in sorted(r.parts):
        value = r.parts[key]
        shown = f"parsed {_parsed_digest(value.raw, value.path)}" if isinstance(value, ValuesDigest) else str(value)
        h.update(f"\n{key}\0{shown}".encode())
    return h.hexdigest()


def _chart_name(chart: Any) -> str:
    return chart.name if isinstance(chart, RemoteChart) else str(chart)


def _cluster_fields(cluster: Cluster) -> dict[str, str]:
    block = cluster.provider_block()
    shown = {"provider": cluster.provider.value,
             "provider block": block.model_dump_json() if block is not None else ""}
    return {f"cluster {k}": _h(v) for k, v in shown.items()}


def _hub_fields(hub: Hub) -> dict[str, str]:
    chart = hub.helm_chart.model_dump_json() if isinstance(hub.helm_chart, RemoteChart) else hub.helm_chart
    return {"hub domain": _h(hub.domain), "hub helm_chart": _h(chart)}


def _add_chart(r: ReleaseInputs, chart: Any, digests: _Digests) -> None:
    if isinstance(chart, RemoteChart):
        r.parts["remote chart"] = _h(chart.model_dump_json())
        return
    r.parts.update(digests.chart_parts(str(chart)))


def _add_layers(r: ReleaseInputs, plan: ValuePlan, digests: _Digests) -> None:
    """The release's values files, numbered in their order, and the order of all its layers."""
    for i, layer in enumerate(plan.files):
        rel = os.path.normpath(layer.path)  # type: ignore[arg-type]
        r.parts[f"values #{i + 1} {rel}"] = digests.values(rel)
    r.parts["value layers"] = _h(plan.order())


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- comparing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    cluster: str
    kind: str
    hub: Optional[str]
    stage: Optional[str]
    chart: str
    reasons: tuple[str, ...]
    digest: str = ""  # of the inputs at head (what the ledger records)

    @property
    def id(self) -> str:
        return f"{self.cluster}/{self.hub or 'support'}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "cluster": self.cluster, "kind": self.kind, "hub": self.hub, "stage": self.stage,
                "chart": self.chart, "reasons": list(self.reasons), "digest": self.digest}


@dataclass
class UpgradePlan:
    base: str
    head: str
    support_jobs: list[Job] = field(default_factory=list)
    staging_jobs: list[Job] = field(default_factory=list)
    prod_jobs: list[Job] = field(default_factory=list)
    removals: list[dict[str, Any]] = field(default_factory=list)
    # planned against a cluster's ledger (plan-upgrade --against cluster):
    against: str = "commit"
    unchecked: list[dict[str, Any]] = field(default_factory=list)  # could not be checked: planned anyway
    unchanged: list[str] = field(default_factory=list)  # release ids the ledger shows unchanged

    @property
    def empty(self) -> bool:
        return not (self.support_jobs or self.staging_jobs or self.prod_jobs or self.removals)

    def to_json(self) -> dict[str, Any]:
        from deployer.plan.plan_file import PLAN_VERSION

        return {
            "version": PLAN_VERSION,
            "base": self.base,
            "head": self.head,
            "support_jobs": [j.to_json() for j in self.support_jobs],
            "staging_jobs": [j.to_json() for j in self.staging_jobs],
            "prod_jobs": [j.to_json() for j in self.prod_jobs],
            "removals": self.removals,
            "counts": {"support": len(self.support_jobs), "staging": len(self.staging_jobs),
                       "prod": len(self.prod_jobs), "removals": len(self.removals)},
            **({"against": self.against, "unchecked": self.unchecked, "unchanged": self.unchanged}
               if self.against != "commit" else {}),
        }


def _reasons(before: Optional[ReleaseInputs], after: ReleaseInputs) -> list[str]:
    if before is None:
        return ["new"]
    reasons = []
    for key in sorted(set(before.parts) | set(after.parts)):
        old, new = before.parts.get(key), after.parts.get(key)
        if old == new:
            continue
        if old is None:
            reasons.append(f"added {key}")
        elif new is None:
            reasons.append(f"removed {key}")
        else:
            reasons.append(f"changed {key}")
    return _collapse(reasons)


def _collapse(reasons: list[str]) -> list[str]:
    """`changed chart basehub: a`, `... b` -> one line per chart with the files named."""
    out: list[str] = []
    charts: dict[str, list[str]] = {}
    for reason in reasons:
        verb, _, rest = reason.partition(" ")
        if rest.startswith("chart ") and ": " in rest:
            name, _, file = rest[len("chart "):].partition(": ")
            charts.setdefault(f"{verb} chart {name}", []).append(file)
        else:
            out.append(reason)
    for head, files in charts.items():
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        out.append(f"{head} ({shown})")
    return out


def plan_upgrade(base: Snapshot, head: Snapshot, base_ref: str, head_ref: str) -> UpgradePlan:
    before = release_inputs(base)
    after = release_inputs(head)
    plan = UpgradePlan(base_ref, head_ref)
    planned: dict[str, Job] = {}
    for rid, inputs in after.items():
        reasons = _reasons(before.get(rid), inputs)
        if reasons:
            planned[rid] = Job(inputs.cluster, inputs.kind, inputs.hub,
                               inputs.stage.value if inputs.stage else None, inputs.chart, tuple(reasons),
                               release_digest(inputs))
    # A new hub is a new kind of change for its cluster: its staging hubs go first, as a canary.
    for rid, job in list(planned.items()):
        if job.reasons == ("new",) and job.kind == "hub" and job.stage == Stage.prod.value:
            for other in after.values():
                if other.cluster == job.cluster and other.kind == "hub" and other.stage is Stage.staging \
                        and other.id not in planned:
                    planned[other.id] = Job(other.cluster, "hub", other.hub, Stage.staging.value, other.chart,
                                            (f"canary for new hub {job.hub}",), release_digest(other))
    for job in sorted(planned.values(), key=lambda j: j.id):
        if job.kind == "support":
            plan.support_jobs.append(job)
        elif job.stage == Stage.staging.value:
            plan.staging_jobs.append(job)
        else:
            plan.prod_jobs.append(job)
    for rid in sorted(set(before) - set(after)):
        gone = before[rid]
        plan.removals.append({"id": rid, "cluster": gone.cluster, "kind": gone.kind, "hub": gone.hub,
                              "reason": "cluster removed" if gone.cluster not in head.clusters else f"{gone.kind} removed"})
    return plan


def plan_from_changed_files(head: Snapshot, changed: list[str], label: str = "working tree") -> UpgradePlan:
    """Without a base commit: every release whose inputs include a changed file (by path). A
    changed cluster.yaml plans all of that cluster's releases (its old content is unknown)."""
    inputs = release_inputs(head)
    changed_set = {c.strip("/") for c in changed}
    plan = UpgradePlan("(changed files)", label)
    for rid, r in sorted(inputs.items()):
        cluster_yaml = f"{CLUSTERS_DIR.as_posix()}/{r.cluster}/cluster.yaml"
        hits = [c for c in sorted(changed_set) if any(_part_names_file(k, c) for k in r.parts)]
        if cluster_yaml in changed_set:
            hits.append(cluster_yaml)
        if hits:
            job = Job(r.cluster, r.kind, r.hub, r.stage.value if r.stage else None, r.chart,
                      tuple(f"changed {h}" for h in hits), release_digest(r))
            (plan.support_jobs if r.kind == "support" else
             plan.staging_jobs if r.stage is Stage.staging else plan.prod_jobs).append(job)
    return plan


def _part_names_file(part: str, path: str) -> bool:
    if part.startswith("chart ") and ": " in part:
        return part.split(": ", 1)[1] == path
    return part.endswith(" " + path)


def markdown_summary(plan: UpgradePlan) -> str:
    if plan.against == "cluster":
        lines = [f"### deployer plan: the clusters' ledgers → `{plan.head[:12]}`", ""]
        if plan.unchecked:
            lines += [f"**Not checked** ({len(plan.unchecked)}): planned anyway, the cluster could not be read:", ""]
            lines += [f"- `{u['id']}`: {u['reason']}" for u in plan.unchecked] + [""]
        if plan.unchanged:
            lines += [f"{len(plan.unchanged)} release(s) unchanged in their cluster.", ""]
    else:
        lines = [f"### deployer plan: `{plan.base[:12]}` → `{plan.head[:12]}`", ""]
    if plan.empty:
        lines.append("No cluster or hub is affected by this change." if plan.against != "cluster"
                     else "Every release is unchanged in its cluster.")
        return "\n".join(lines) + "\n"
    for title, jobs in (("Support stacks", plan.support_jobs), ("Staging hubs (first)", plan.staging_jobs),
                        ("Prod hubs (after their cluster's staging hubs succeed)", plan.prod_jobs)):
        if not jobs:
            continue
        lines += [f"**{title}** ({len(jobs)})", "", "| release | chart | why |", "| --- | --- | --- |"]
        for j in jobs:
            why = "<br>".join(r.replace("|", "\\|") for r in j.reasons[:6])
            if len(j.reasons) > 6:
                why += f"<br>and {len(j.reasons) - 6} more"
            lines.append(f"| `{j.id}` | {j.chart} | {why} |")
        lines.append("")
    if plan.removals:
        lines += [f"**To remove** ({len(plan.removals)}) — not removed automatically:", ""]
        lines += [f"- `{r['id']}` ({r['reason']})" for r in plan.removals]
        lines.append("")
    return "\n".join(lines) + "\n"
