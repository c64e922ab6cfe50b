"""Why a hub is (not) healthy, from what the Kubernetes API says about its namespace (pure).

The Kubernetes adapter translates API objects into the small types below; this module turns
them into findings a person can act on ("image registry.invalid/x cannot be pulled") instead of
"timed out". No I/O here: tests feed it data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

# the pods of a hub that decide its health: not user servers (their trouble is a user's, and
# reported as a warning), not finished Jobs
USER_SERVER_COMPONENT = "singleuser-server"
IMAGE_PULL = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
# the kubelet's reason for an image that is not on the node when its pull policy is Never (the local
# cluster's images are imported, never pulled): no registry is involved, so "cannot be pulled" misleads
NEVER_PULL = "ErrImageNeverPull"
CRASH = {"CrashLoopBackOff", "RunContainerError", "CreateContainerError", "CreateContainerConfigError"}
RECENT_EVENTS = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class ContainerState:
    name: str
    image: str = ""
    ready: bool = False
    waiting_reason: Optional[str] = None
    waiting_message: str = ""
    terminated_reason: Optional[str] = None
    last_terminated_reason: Optional[str] = None
    last_exit_code: Optional[int] = None
    restarts: int = 0
    init: bool = False


@dataclass(frozen=True)
class PodCondition:
    type: str
    status: str
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class PodState:
    name: str
    phase: str
    labels: dict[str, str] = field(default_factory=dict)
    containers: tuple[ContainerState, ...] = ()
    conditions: tuple[PodCondition, ...] = ()
    claims: tuple[str, ...] = ()  # PersistentVolumeClaims the pod mounts
    deleting: bool = False
    node: Optional[str] = None
    uid: str = ""  # the API server's id of this pod (a pod made again under the same name has another)

    @property
    def ready(self) -> bool:
        return any(c.type == "Ready" and c.status == "True" for c in self.conditions)

    def condition(self, type_: str) -> Optional[PodCondition]:
        return next((c for c in self.conditions if c.type == type_), None)

    @property
    def user_server(self) -> bool:
        return self.labels.get("component") == USER_SERVER_COMPONENT


@dataclass(frozen=True)
class NodeState:
    """A node's Ready condition (a node whose kubelet or container runtime died turns NotReady)."""

    name: str
    ready: bool
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class ClaimState:
    name: str
    phase: str
    storage_class: Optional[str] = None  # its spec's storageClassName (None: the cluster's default class)
    component: str = ""  # its `component` label: `hub` (the jupyterhub chart's database), `singleuser-storage`

    @property
    def unbound_with_class(self) -> bool:
        """Not bound, and naming a StorageClass: one the cluster may lack (`missing_class`)."""
        return self.phase != "Bound" and bool(self.storage_class)


@dataclass(frozen=True)
class StorageClasses:
    """The cluster's StorageClasses: their names, and the default one (if any)."""

    names: tuple[str, ...]
    default: Optional[str] = None

    def line(self) -> str:
        return ", ".join(f"{n} (default)" if n == self.default else n for n in sorted(self.names)) or "none"


@dataclass(frozen=True)
class Event:
    kind: str  # of the object the event is about
    name: str
    type: str  # Normal | Warning
    reason: str
    message: str
    count: int = 1
    last_seen: Optional[dt.datetime] = None


@dataclass(frozen=True)
class Finding:
    """One reason a hub is not healthy (severity `error`) or might not be (`warning`)."""

    severity: str
    code: str  # image-pull | crash-loop | unschedulable | pending-volume | not-ready | no-pods | event | ...
    subject: str  # pod/hub-abc, pvc/home, service/hub
    message: str
    hint: str = ""  # what to do about this finding in particular (else `HINTS` of its code)

    def to_json(self) -> dict[str, str]:
        out = {"severity": self.severity, "code": self.code, "subject": self.subject, "message": self.message}
        return {**out, "hint": self.hint} if self.hint else out

    def line(self) -> str:
        return f"{self.subject}: {self.message}"


def core_pods(pods: list[PodState]) -> list[PodState]:
    """The pods whose readiness decides the hub's health."""
    return [p for p in pods if not p.user_server and p.phase not in ("Succeeded",) and not p.deleting]


def explain_pod(pod: PodState, claims: dict[str, ClaimState], classes: Optional[StorageClasses] = None,
                events: Sequence[Event] = ()) -> list[Finding]:
    """Why `pod` is not Ready (empty when it is). A claim of it naming a StorageClass the cluster does not
    have (`missing_class`, from `classes` when known, else from the claim's `events`) comes first."""
    if pod.ready and pod.phase == "Running":
        return []
    subject = f"pod/{pod.name}"
    severity = "warning" if pod.user_server else "error"
    out: list[Finding] = []
    for c in pod.containers:
        where = f"{'init ' if c.init else ''}container {c.name}"
        if c.waiting_reason == NEVER_PULL:
            out.append(Finding(severity, "image-pull", subject,
                               f"{where}: image {c.image} is not on the node and its pull policy is Never, "
                               f"so it is never pulled ({c.waiting_reason})"
                               + (f": {c.waiting_message}" if c.waiting_message else "")))
        elif c.waiting_reason in IMAGE_PULL:
            out.append(Finding(severity, "image-pull", subject,
                               f"{where}: image {c.image} cannot be pulled ({c.waiting_reason})"
                               + (f": {c.waiting_message}" if c.waiting_message else "")))
        elif c.waiting_reason in CRASH:
            last = f"; last exit: {c.last_terminated_reason or '?'} (code {c.last_exit_code})" \
                if c.last_terminated_reason or c.last_exit_code is not None else ""
            out.append(Finding(severity, "crash-loop", subject,
                               f"{where} keeps crashing ({c.waiting_reason}, {c.restarts} restarts){last}"))
        elif c.restarts >= 3 and not c.ready:
            out.append(Finding(severity, "crash-loop", subject, f"{where} restarted {c.restarts} times and is not ready"))
    scheduled = pod.condition("PodScheduled")
    if scheduled is not None and scheduled.status == "False":
        why = scheduled.message or scheduled.reason or "no node fits"
        out.append(Finding(severity, "unschedulable", subject, f"cannot be scheduled: {why}"))
    for name in pod.claims:
        claim = claims.get(name)
        if claim is not None and missing_class(claim, classes, events):
            out.insert(0, missing_class_finding(pod, claim, classes, severity))
        elif claim is None:
            out.append(Finding(severity, "pending-volume", subject, f"volume claim {name} does not exist"))
        elif claim.phase != "Bound":
            out.append(Finding(severity, "pending-volume", subject, f"volume claim {name} is {claim.phase}, not Bound"))
    if not out:
        ready = pod.condition("Ready")
        detail = f" ({ready.reason}: {ready.message})".replace(": )", ")") if ready and (ready.reason or ready.message) else ""
        waiting = [f"{c.name} {c.waiting_reason}" for c in pod.containers if c.waiting_reason]
        more = f"; waiting: {', '.join(waiting)}" if waiting else ""
        out.append(Finding(severity, "not-ready", subject, f"{pod.phase}, not Ready{detail}{more}"))
    return out


# What an image pull says when waiting longer cannot help: the registry cannot be reached, or it has no
# such image (or refuses it). A rate limit ("429 Too Many Requests") or a slow registry is waited for.
_HOPELESS_PULL = ("no such host", "server misbehaving", "connection refused", "no route to host",
                  "network is unreachable", "i/o timeout", "not found", "manifest unknown", "name unknown",
                  "repository does not exist", "pull access denied", "unauthorized", "denied")
_WAIT_PULL = ("429", "too many requests", "toomanyrequests", "rate limit")


def hopeless(c: ContainerState) -> bool:
    """A container that will not start however long a deploy waits: an image that is not on the node
    with pull policy Never, an invalid image name, a pull whose registry cannot be reached or has no
    such image, or a container that exited and is backing off (CrashLoopBackOff)."""
    reason = c.waiting_reason or ""
    if reason in (NEVER_PULL, "InvalidImageName", "CrashLoopBackOff"):
        return True
    if reason in ("ErrImagePull", "ImagePullBackOff"):
        message = c.waiting_message.lower()
        return any(k in message for k in _HOPELESS_PULL) and not any(k in message for k in _WAIT_PULL)
    return False


def cannot_start(pods: list[PodState], existing: set[str]) -> list[Finding]:
    """The pods a deploy made (their uid not in `existing`, the pods there before it began) that will
    never become ready by waiting (`hopeless`), each with its reasons; user servers are not the
    release's. Pods that were there before are left out: an old pod crash-looping is what an upgrade may
    be replacing."""
    out: list[Finding] = []
    for pod in pods:
        if pod.uid in existing or pod.user_server or pod.deleting:
            continue
        if any(hopeless(c) for c in pod.containers):
            out.extend(f for f in explain_pod(pod, {}) if f.code in ("image-pull", "crash-loop"))
    return out


# the chart keys naming the StorageClass of the claims the jupyterhub chart (hub's database) and its spawner
# (users' homes) make, by the claim's `component` label
CLASS_KEYS = {"hub": "hub.db.pvc.storageClassName", "singleuser-storage": "singleuser.storage.dynamic.storageClass"}


def missing_class(claim: ClaimState, classes: Optional[StorageClasses], events: Sequence[Event] = ()) -> bool:
    """The claim is not bound and names a StorageClass the cluster does not have: by `classes` when they
    could be read, else by the claim's ProvisioningFailed event (`storageclass.storage.k8s.io "X" not
    found`). Waiting cannot bind it."""
    if not claim.unbound_with_class:
        return False
    if classes is not None:
        return claim.storage_class not in classes.names
    said = f'storageclass.storage.k8s.io "{claim.storage_class}" not found'
    return any(e.kind == "PersistentVolumeClaim" and e.name == claim.name and e.reason == "ProvisioningFailed"
               and said in e.message for e in events)


def missing_class_finding(pod: PodState, claim: ClaimState, classes: Optional[StorageClasses],
                          severity: str = "error") -> Finding:
    """The finding of a claim of `pod` naming a StorageClass the cluster does not have, with its hint."""
    have = (f"its StorageClasses: {classes.line()}" if classes is not None
            else f'the claim\'s event says storageclass.storage.k8s.io "{claim.storage_class}" not found')
    key = CLASS_KEYS.get(claim.component)
    where = f"the jupyterhub chart's `{key}`" if key else f"the template of claim {claim.name}"
    return Finding(severity, "missing-storage-class", f"pod/{pod.name}",
                   f"volume claim {claim.name} names StorageClass {claim.storage_class}, which the cluster does not "
                   f"have ({have}), so it is never bound",
                   hint=f"fix the StorageClass name in the hub's values ({where}) to one the cluster has, "
                        f"or create StorageClass {claim.storage_class}")


def unbindable_claims(pods: list[PodState], existing: set[str], claims: list[ClaimState],
                      classes: Optional[StorageClasses], events: Sequence[Event] = ()) -> list[Finding]:
    """The pods a deploy made (as `cannot_start`) that wait for a claim which names a StorageClass the
    cluster does not have (`missing_class`): never bound however long the deploy waits."""
    by_name = {c.name: c for c in claims}
    out: list[Finding] = []
    for pod in waiting_for_claims(pods, existing):
        for name in pod.claims:
            claim = by_name.get(name)
            if claim is not None and missing_class(claim, classes, events):
                out.append(missing_class_finding(pod, claim, classes))
    return out


def waiting_for_claims(pods: list[PodState], existing: set[str]) -> list[PodState]:
    """The pods a deploy made (their uid not in `existing`; not user servers) that are Pending with claims."""
    return [p for p in pods if p.uid not in existing and not p.user_server and not p.deleting
            and p.phase == "Pending" and p.claims]


def recent_warnings(events: list[Event], now: dt.datetime, subjects: Optional[set[str]] = None,
                    limit: int = 5) -> list[Finding]:
    """Warning events of the last half hour, newest first, one per (object, reason)."""
    seen: set[tuple[str, str, str]] = set()
    out: list[Finding] = []
    for e in sorted(events, key=lambda e: e.last_seen or dt.datetime.min.replace(tzinfo=dt.timezone.utc), reverse=True):
        if e.type != "Warning":
            continue
        if e.last_seen is not None and now - e.last_seen > RECENT_EVENTS:
            continue
        subject = f"{e.kind.lower()}/{e.name}"
        if subjects is not None and subject not in subjects:
            continue
        key = (e.kind, e.name, e.reason)
        if key in seen:
            continue
        seen.add(key)
        count = f" (x{e.count})" if e.count > 1 else ""
        out.append(Finding("warning", "event", subject, f"{e.reason}{count}: {e.message}"))
        if len(out) >= limit:
            break
    return out


@dataclass
class PodsVerdict:
    ok: bool
    message: str
    findings: list[Finding]
    ready: int
    total: int


def explain_nodes(pods: list[PodState], nodes: list[NodeState]) -> list[Finding]:
    """The not-Ready nodes that pods which are not Ready are on (once per node): a pod on a node
    whose kubelet or container runtime stopped never starts, and its own status is stale."""
    by_name = {n.name: n for n in nodes}
    out: list[Finding] = []
    seen: set[str] = set()
    for pod in pods:
        node = by_name.get(pod.node or "")
        if pod.ready or node is None or node.ready or node.name in seen:
            continue
        seen.add(node.name)
        why = ": ".join(x for x in (node.reason, node.message) if x) or "no reason given"
        out.append(Finding("error", "node-not-ready", f"node/{node.name}",
                           f"node {node.name} is not Ready ({why}); the pods on it cannot start or report"))
    return out


def judge_pods(pods: list[PodState], claims: list[ClaimState], events: list[Event],
               now: Optional[dt.datetime] = None, nodes: Optional[list[NodeState]] = None,
               classes: Optional[StorageClasses] = None) -> PodsVerdict:
    """Are the hub's pods Ready, and if not, why (the nodes they are on first, then their statuses,
    then Warning events)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    by_name = {c.name: c for c in claims}
    core = core_pods(pods)
    findings: list[Finding] = explain_nodes(core, nodes or [])
    for pod in core:
        findings.extend(explain_pod(pod, by_name, classes, events))
    for pod in pods:
        if pod.user_server:
            findings.extend(explain_pod(pod, by_name, classes, events))
    ready = sum(1 for p in core if p.ready)
    if not core:
        findings.append(Finding("error", "no-pods", "namespace", "no hub pods found: is the hub deployed?"))
        return PodsVerdict(False, "no pods", findings, 0, 0)
    broken = {f.subject for f in findings if f.severity == "error"}
    if broken:
        # the events about the broken pods, and about claims they wait for, add the kubelet's view
        subjects = set(broken) | {f"persistentvolumeclaim/{n}" for p in core for n in p.claims}
        findings.extend(recent_warnings(events, now, subjects))
    ok = not any(f.severity == "error" for f in findings)
    return PodsVerdict(ok, f"{ready}/{len(core)} pods ready", findings, ready, len(core))


def first_reason(findings: list[Finding]) -> str:
    """One line for a table: the first error, else the first warning."""
    for severity in ("error", "warning"):
        for f in findings:
            if f.severity == severity:
                return f.line()
    return ""


HINTS = {
    "image-pull": "check the image name and tag in the hub's values, and that the node can reach its registry",
    "crash-loop": "the container keeps exiting: see its last log lines above (`kubectl logs --previous`)",
    "unschedulable": "no node can take the pod: check its resource requests and node selectors against the nodes",
    "pending-volume": "a volume claim is not bound: check its storage class and that a volume can be provisioned",
    "node-not-ready": "the node's kubelet or container runtime is down: on the local cluster `deployer local up` "
                      "starts it again (keeping the releases); elsewhere check the node (`kubectl describe node`)",
    "not-ready": "a container runs but does not pass its readiness probe: see `deployer health` and its logs",
    "no-pods": "no pods were created: check the chart's workloads and the namespace's events",
}


NEVER_PULL_HINT = ("the image is not on the node and is never pulled (pull policy Never): check the image name "
                   "and tag in the hub's values against the images on the node (`deployer local images` imports "
                   "the ones built here)")


def hint_for(findings: list[Finding]) -> Optional[str]:
    """What to do about the first error (else warning) finding, or None."""
    for severity in ("error", "warning"):
        for f in findings:
            if f.severity == severity and f.hint:
                return f.hint
            if f.severity == severity and f.code in HINTS:
                if f.code == "image-pull" and f"({NEVER_PULL})" in f.message:
                    return NEVER_PULL_HINT
                return HINTS[f.code]
    return None


def crash_looping_containers(pod: PodState) -> list[str]:
    return [c.name for c in pod.containers if c.waiting_reason in CRASH or (c.restarts >= 3 and not c.ready)]


def with_log_tail(finding: Finding, container: str, lines: list[str]) -> Finding:
    """The finding, with the container's last log lines appended (one line, ` | ` between)."""
    if not lines:
        return finding
    return Finding(finding.severity, finding.code, finding.subject,
                   f"{finding.message}; last log lines of {container}: {' | '.join(lines)}")
