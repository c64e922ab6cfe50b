"""The ledger: what deployer recorded in a cluster about each release it deployed, and how that
compares with what the repository would deploy now. Pure: no network, no subprocess.

A record is a handful of labels on helm's own release record (the Secret helm keeps per
revision, `owner=helm`), written by `helm upgrade --labels` in the same write that creates the
revision. So one list of the cluster's helm Secrets (metadata only) reads every record of a
cluster, and a record can never describe a revision other than the one it is stored on — with
one exception this module handles: helm copies the labels of the previous revision onto a new
one made without `--labels` (a `helm upgrade` or `helm rollback` by hand). Every record
therefore names the revision it was written for; a record found on another revision is stale.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from deployer.errors import DeployerError

PREFIX = "deployer/"
FORMAT = 1  # the layout of the labels below; a newer deployer may write a higher one
L_FORMAT = PREFIX + "record-format"
L_INPUTS = PREFIX + "inputs"  # the input digest (the one plan-upgrade computes), shortened to fit a label
L_COMMIT = PREFIX + "commit"
L_DIRTY = PREFIX + "dirty"
L_VERSION = PREFIX + "version"
L_REVISION = PREFIX + "revision"
L_CLUSTER = PREFIX + "cluster"
DIGEST_CHARS = 40  # a label value holds at most 63 characters; 160 bits are plenty to tell inputs apart
NO_COMMIT = "none"  # the repository is not a git work tree

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(frozen=True)
class Source:
    """Where a deploy came from: a git commit, and whether the work tree had uncommitted changes."""

    commit: Optional[str]  # None: not a git repository
    dirty: bool = False

    def describe(self) -> str:
        if self.commit is None:
            return "a folder outside git"
        return f"commit {self.commit[:12]}" + (" with a dirty work tree" if self.dirty else "")


@dataclass(frozen=True)
class Record:
    digest: str
    commit: Optional[str]
    dirty: bool
    version: str
    revision: int
    cluster: str

    @property
    def source(self) -> Source:
        return Source(self.commit, self.dirty)


def label_value(text: str) -> str:
    """`text` made a valid label value (at most 63 characters of [-A-Za-z0-9_.], alphanumeric ends)."""
    cleaned = re.sub(r"[^-A-Za-z0-9_.]", "_", text)[:63].strip("-_.")
    return cleaned


def record_labels(digest: str, source: Source, version: str, revision: int, cluster: str) -> dict[str, str]:
    """The labels deploy gives `helm upgrade --labels` for the revision it is about to make."""
    labels = {
        L_FORMAT: str(FORMAT),
        L_INPUTS: digest[:DIGEST_CHARS],
        L_COMMIT: source.commit or NO_COMMIT,
        L_DIRTY: "true" if source.dirty else "false",
        L_VERSION: label_value(version),
        L_REVISION: str(revision),
        L_CLUSTER: label_value(cluster),
    }
    assert all(_LABEL_VALUE.match(v) for v in labels.values()), labels
    return labels


class RecordProblem(DeployerError):
    """A record that is ours in name but cannot be used (corrupt, or written in a newer format)."""


def read_record(labels: dict[str, str]) -> Optional[Record]:
    """The record in a revision's labels; None when it holds none. RecordProblem says why a
    record that is there cannot be trusted."""
    ours = {k: v for k, v in labels.items() if k.startswith(PREFIX)}
    if not ours:
        return None
    fmt = ours.get(L_FORMAT, "")
    if not fmt.isdigit():
        raise RecordProblem(f"corrupt record: label {L_FORMAT}={fmt!r} is not a number")
    if int(fmt) > FORMAT:
        raise RecordProblem(
            f"recorded by deployer {ours.get(L_VERSION, '?')} in record format {fmt}, newer than this deployer's "
            f"({FORMAT}): it cannot be compared; upgrade deployer")
    missing = [k for k in (L_INPUTS, L_COMMIT, L_DIRTY, L_VERSION, L_REVISION, L_CLUSTER) if k not in ours]
    if missing:
        raise RecordProblem(f"corrupt record: label(s) {', '.join(missing)} missing")
    digest, commit, revision = ours[L_INPUTS], ours[L_COMMIT], ours[L_REVISION]
    if len(digest) != DIGEST_CHARS or not _HEX.match(digest):
        raise RecordProblem(f"corrupt record: {L_INPUTS}={digest!r} is not a digest")
    if commit != NO_COMMIT and not (len(commit) in (40, 64) and _HEX.match(commit)):
        raise RecordProblem(f"corrupt record: {L_COMMIT}={commit!r} is not a commit")
    if not revision.isdigit():
        raise RecordProblem(f"corrupt record: {L_REVISION}={revision!r} is not a number")
    if ours[L_DIRTY] not in ("true", "false"):
        raise RecordProblem(f"corrupt record: {L_DIRTY}={ours[L_DIRTY]!r} is not true or false")
    return Record(digest, None if commit == NO_COMMIT else commit, ours[L_DIRTY] == "true", ours[L_VERSION],
                  int(revision), ours[L_CLUSTER])


@dataclass(frozen=True)
class ReleaseState:
    """The newest revision of one helm release, as its storage Secret's labels say."""

    name: str
    namespace: str
    revision: int
    status: str
    labels: dict[str, str] = field(default_factory=dict)


def latest_revisions(items: list[tuple[str, dict[str, str]]]) -> dict[tuple[str, str], ReleaseState]:
    """(namespace, labels) of every helm storage Secret -> the newest revision per (namespace, release)."""
    out: dict[tuple[str, str], ReleaseState] = {}
    for namespace, labels in items:
        name, version = labels.get("name"), labels.get("version", "")
        if not name or not version.isdigit():
            continue  # not a helm release record
        key = (namespace, name)
        if key not in out or int(version) > out[key].revision:
            out[key] = ReleaseState(name, namespace, int(version), labels.get("status", ""), dict(labels))
    return out


class Verdict(str, enum.Enum):
    unchanged = "unchanged"  # recorded digest = desired, last revision deployed: nothing to do
    changed = "changed"  # the inputs differ from the recorded ones
    not_installed = "not installed"
    not_deployed = "not deployed"  # the last revision failed, is pending, or was uninstalled
    unrecorded = "unrecorded"  # a release deployer never recorded (by hand, or an older deployer)
    stale = "stale"  # the newest revision was made outside deployer (helm upgrade/rollback by hand)
    foreign = "foreign"  # a record of another cluster
    unusable = "unusable"  # corrupt, or written in a newer format
    unchecked = "unchecked"  # the cluster could not be read


@dataclass(frozen=True)
class Comparison:
    id: str
    verdict: Verdict
    reason: str
    record: Optional[Record] = None
    state: Optional[ReleaseState] = None
    notes: tuple[str, ...] = ()

    @property
    def planned(self) -> bool:
        return self.verdict is not Verdict.unchanged

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "verdict": self.verdict.value, "reason": self.reason, "notes": list(self.notes),
                "revision": self.state.revision if self.state else None,
                "status": self.state.status if self.state else None,
                "recorded_commit": self.record.commit if self.record else None,
                "recorded_version": self.record.version if self.record else None}


def version_tuple(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split("."):
        digits = re.match(r"\d+", part)
        if not digits:
            break
        out.append(int(digits.group()))
    return tuple(out)


def compare(release_id: str, desired_digest: str, cluster: str, state: Optional[ReleaseState],
            our_version: str) -> Comparison:
    """One release: the repository's digest against what the cluster recorded. Every verdict but
    `unchanged` plans the release; each says why in words."""
    if state is None:
        return Comparison(release_id, Verdict.not_installed, "not installed in the cluster")
    try:
        record = read_record(state.labels)
    except RecordProblem as e:
        return Comparison(release_id, Verdict.unusable, f"revision {state.revision}: {e}", None, state)
    if state.status != "deployed":
        why = f"last revision {state.revision} is {state.status or 'of unknown status'}"
        return Comparison(release_id, Verdict.not_deployed, why, record, state)
    if record is None:
        return Comparison(release_id, Verdict.unrecorded,
                          f"nothing recorded: revision {state.revision} was not deployed by deployer "
                          "(by hand, or by a deployer without the ledger)", None, state)
    if record.cluster != label_value(cluster):
        return Comparison(release_id, Verdict.foreign,
                          f"revision {state.revision} holds a record of cluster `{record.cluster}`, not `{cluster}`",
                          record, state)
    if record.revision != state.revision:
        return Comparison(release_id, Verdict.stale,
                          f"revision {state.revision} was not made by deployer (it recorded revision "
                          f"{record.revision}): a helm upgrade or rollback by hand", record, state)
    notes = []
    if version_tuple(record.version) > version_tuple(our_version):
        notes.append(f"recorded by deployer {record.version}, newer than this deployer {our_version}")
    if record.digest != desired_digest[:DIGEST_CHARS]:
        return Comparison(release_id, Verdict.changed,
                          f"inputs differ from those deployed at revision {state.revision} "
                          f"(from {record.source.describe()})", record, state, tuple(notes))
    return Comparison(release_id, Verdict.unchanged,
                      f"unchanged since revision {state.revision} (from {record.source.describe()})",
                      record, state, tuple(notes))


# --- a plan from the ledger --------------------------------------------------------------------


def plan_from_ledger(inputs: dict[str, Any], comparisons: dict[str, Comparison], changes: dict[str, list[str]],
                     removals: list[dict[str, Any]], head_label: str, digests: dict[str, str]) -> Any:
    """An UpgradePlan (the same JSON as between two commits) from per-release comparisons:
    every release whose comparison is not `unchanged` is planned, with its reason first and the
    inputs that changed since the recorded commit after it (`changes`); each job carries the
    release's digest (`digests`, what a deploy records). Releases that could not be checked are
    planned too, and listed under `unchecked`."""
    from deployer.config.models import Stage
    from deployer.plan.changed_releases import Job, UpgradePlan

    plan = UpgradePlan("cluster", head_label)
    plan.against = "cluster"
    for rid in sorted(inputs):
        r = inputs[rid]
        c = comparisons.get(rid)
        if c is None:
            continue  # a release not asked about (another cluster)
        if not c.planned:
            plan.unchanged.append(rid)
            continue
        if c.verdict is Verdict.unchecked:
            plan.unchecked.append({"id": rid, "cluster": r.cluster, "reason": c.reason})
        job = Job(r.cluster, r.kind, r.hub, r.stage.value if r.stage else None, r.chart,
                  (c.reason, *changes.get(rid, []), *c.notes), digests.get(rid, ""))
        if r.kind == "support":
            plan.support_jobs.append(job)
        elif r.stage is Stage.staging:
            plan.staging_jobs.append(job)
        else:
            plan.prod_jobs.append(job)
    plan.removals.extend(removals)
    return plan


def recorded_elsewhere(cluster: str, states: dict[tuple[str, str], ReleaseState], known_ids: set[str]) -> list[dict[str, Any]]:
    """Releases of `cluster` that deployer recorded in it but the repository no longer lists."""
    out = []
    for (namespace, name), state in sorted(states.items()):
        if state.labels.get(L_CLUSTER) != label_value(cluster) or state.status == "uninstalled":
            continue
        hub = None if (namespace, name) == ("support", "support") else name
        if hub is not None and namespace != name:
            continue  # not a release deployer names
        rid = f"{cluster}/{hub or 'support'}"
        if rid not in known_ids:
            out.append({"id": rid, "cluster": cluster, "kind": "hub" if hub else "support", "hub": hub,
                        "reason": "in the cluster (recorded by deployer), not in the repository"})
    return out
