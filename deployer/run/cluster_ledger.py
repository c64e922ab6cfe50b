"""The ledger in a run: what the repository would deploy (input digests, the commit it comes
from) and what a cluster recorded (one metadata-only list of helm's release records), compared
per release by the pure `deployer.plan.ledger`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from deployer import __version__
from deployer.adapters.clouds.base import ClusterAccess
from deployer.adapters.git import Git
from deployer.adapters.process import ProcessRunner
from deployer.errors import DeployerError
from deployer.paths import CLUSTERS_DIR
from deployer.plan.deploy_order import SUPPORT
from deployer.plan.ledger import Comparison, ReleaseState, Source, Verdict, compare, latest_revisions
from deployer.render.digest import desired_digests  # noqa: F401 (what the ledger records: render/digest.py)

log = logging.getLogger("deployer.ledger")

CONFIG_PATHS = (CLUSTERS_DIR.as_posix(), "helm-charts")


def release_location(release_id: str) -> tuple[str, str]:
    """(namespace, helm release name) of a release id: `<cluster>/support` is `support` in
    namespace `support`; a hub's release and namespace are named after the hub."""
    name = release_id.split("/", 1)[1]
    return (SUPPORT, SUPPORT) if name == SUPPORT else (name, name)


def repo_source(root: Path, runner: ProcessRunner) -> Source:
    """The commit the work tree is at, and whether its configuration has uncommitted changes."""
    git = Git(root, runner)
    try:
        top = git.toplevel()
        commit = git.resolve("HEAD")
    except DeployerError:
        return Source(None)
    try:
        prefix = root.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        return Source(None)
    prefix = "" if prefix == "." else prefix + "/"
    return Source(commit, not git.is_clean([prefix + p for p in CONFIG_PATHS]))


@dataclass
class ClusterLedger:
    """What one cluster recorded: the newest revision of each helm release, or why it could not be read."""

    states: dict[tuple[str, str], ReleaseState] = field(default_factory=dict)
    error: str = ""

    def state(self, release_id: str) -> Optional[ReleaseState]:
        return self.states.get(release_location(release_id))

    def compare(self, release_id: str, cluster: str, digest: str) -> Comparison:
        if self.error:
            return Comparison(release_id, Verdict.unchecked, f"could not check the cluster: {self.error}")
        return compare(release_id, digest, cluster, self.state(release_id), __version__)


def read_ledger(access: ClusterAccess, runner: ProcessRunner, timeout: float = 10.0) -> ClusterLedger:
    """One request: the labels of every helm release record of the cluster. A failure is kept
    (as `error`), never raised: callers plan what they could not check."""
    from deployer.run.cluster_connection import kube_for

    try:
        with kube_for(access, runner, timeout) as kube:
            items = kube.helm_release_labels()
    except DeployerError as e:
        return ClusterLedger(error=e.message)
    return ClusterLedger(latest_revisions(items))


def fix_revision_label(access: ClusterAccess, runner: ProcessRunner, release_id: str, revision: int,
                       timeout: float = 10.0) -> None:
    """When helm made another revision number than the one predicted for the record (a stuck
    release was recovered first), the record is moved onto the revision actually made."""
    from deployer.plan.ledger import L_REVISION
    from deployer.run.cluster_connection import kube_for

    namespace, name = release_location(release_id)
    with kube_for(access, runner, timeout) as kube:
        kube.label_secret(namespace, f"sh.helm.release.v1.{name}.v{revision}", {L_REVISION: str(revision)})


# --- status: in sync, out of date, drifted ------------------------------------------------------


@dataclass
class ReleaseSync:
    comparison: Comparison
    drift: Optional[list] = None  # list[ObjectDrift]; None when not checked
    drift_error: str = ""


def cluster_sync(kube, cluster: str, digests: dict[str, str], drift: bool = True,
                 concurrency: int = 8) -> dict[str, ReleaseSync]:
    """Per release id of `digests`: its comparison with the ledger and, for releases whose last
    revision is deployed, the objects that drifted from its manifest. Costs one metadata list of
    helm's records, one list of the deployed release records, one discovery request per API
    group version used, and one list per kind of object the releases hold."""
    from deployer.stopping import thread_pool

    from deployer.plan.drift import ReleasePayloadError, decode_release, manifest_objects, release_drift
    from deployer.plan.diff import object_key

    ledger = ClusterLedger(latest_revisions(kube.helm_release_labels()))
    out = {rid: ReleaseSync(ledger.compare(rid, cluster, digest)) for rid, digest in digests.items()}
    if not drift:
        return out
    wanted = {release_location(rid): rid for rid in digests}
    manifests: dict[str, tuple[int, str, list[dict]]] = {}
    for namespace, encoded in kube.helm_deployed_payloads():
        try:
            release = decode_release(encoded)
        except ReleasePayloadError as e:
            log.debug("release record in %s: %s", namespace, e)
            continue
        rid = wanted.get((namespace, str(release.get("name", ""))))
        version = int(release.get("version") or 0)
        if rid is None or (rid in manifests and manifests[rid][0] >= version):
            continue
        manifests[rid] = (version, namespace, manifest_objects(str(release.get("manifest") or "")))
    kinds = sorted({(str(d.get("apiVersion", "")), str(d["kind"])) for _, _, docs in manifests.values() for d in docs})
    resources: dict[tuple[str, str], tuple[str, bool]] = {}
    for group_version in sorted({gv for gv, _ in kinds}):
        for r in kube.api_resources(group_version):
            if "/" not in str(r.get("name", "")):
                resources[(group_version, str(r.get("kind")))] = (str(r["name"]), bool(r.get("namespaced")))

    def listing(key: tuple[str, str]) -> tuple[tuple[str, str], list[dict]]:
        plural, _ = resources[key]
        selector = "type!=helm.sh/release.v1" if key == ("v1", "Secret") else ""
        items = kube.list_objects(key[0], plural, selector)
        for item in items:
            item.setdefault("kind", key[1])
        return key, items

    listable = [k for k in kinds if k in resources]
    with thread_pool(max(1, min(concurrency, len(listable)))) as pool:
        lists = dict(pool.map(listing, listable))
    live = {object_key(item, ""): item for items in lists.values() for item in items}
    cluster_scoped = frozenset(kind for (gv, kind), (_, namespaced) in resources.items() if not namespaced)
    for rid, (version, namespace, docs) in manifests.items():
        sync = out[rid]
        state = sync.comparison.state
        if state is not None and state.revision != version:
            sync.drift_error = f"revision {state.revision} is not deployed; drift checked against revision {version}"
        unknown = sorted({f"{d.get('apiVersion')} {d['kind']}" for d in docs
                          if (str(d.get("apiVersion", "")), d["kind"]) not in resources})
        if unknown:
            sync.drift_error = f"kinds the API server does not serve: {', '.join(unknown)}"
        known_docs = [d for d in docs if (str(d.get("apiVersion", "")), d["kind"]) in resources]
        sync.drift = release_drift(known_docs, live, namespace, cluster_scoped)
    return out
