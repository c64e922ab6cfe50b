"""A release's configuration inputs at one commit, as data: the chart folder (and the local charts it
depends on), each values file's content in order, the chart override, the hub's and cluster's
relevant fields, the order of the values layers. `plan/changed_releases.py` compares them between
two commits (plan-upgrade); nothing here runs git or helm: it reads a folder (or an overlay of two).

Values files are compared by their parsed content, so a comment or a reordering of keys counts
for nothing; encrypted files are compared by their ciphertext (their plaintext is not ours to read).
"""


from __future__ import annotations

import functools
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
from deployer.plan.release_spec import cluster_release_spec
from deployer.plan.value_layers import ValuePlan, value_plan

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

    @classmethod
    def of_folder(cls, root: Path, clusters: dict[str, Cluster], charts: dict[str, Path]) -> "Snapshot":
        """A snapshot of a folder on disk (a working tree)."""
        files = frozenset(
            p.relative_to(root).as_posix()
            for top in (CLUSTERS_DIR, Path("helm-charts"))
            for p in (root / top).rglob("*") if p.is_file()
        )
        return cls(files, lambda rel: root / rel, clusters, chart_refs(root, charts))


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


@functools.lru_cache(maxsize=4096)
def _parsed_digest(raw: str, path: Path) -> str:
    """Digest of a values file's parsed content, computed at most once per distinct content (`raw`
    is the digest of its bytes; a memo of a pure function)."""
    try:
        text = decode(path.read_bytes())
        data = load_json(text).data if path.suffix == ".json" else load_yaml(text, positions=False).data
        return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()
    except (OSError, YamlProblem):
        return raw


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
    """Per release: its inputs, the values files and their order as `deployer.plan.value_layers`
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
            releases[r.id] = r
    return releases


DIGEST_FORMAT = "deployer-inputs-1"


def release_digest(r: ReleaseInputs) -> str:
    """One digest of a release's configuration inputs at one commit (a plan's `digest`): plain
    values files count by their parsed content, like the comparison between two commits. The
    ledger records another digest, of what the release renders from (`deployer.render.digest`)."""
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
