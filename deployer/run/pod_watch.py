"""Failing a release at once when its pods cannot start, instead of waiting out helm's --timeout.

While `helm upgrade --install --wait` waits, the release's namespace is read every `interval` seconds;
a pod the deploy made whose container will not start however long helm waits (an image that is not on
the node with pull policy Never, a registry that cannot be reached or has no such image, a crash loop:
`checks/hub_findings.py::cannot_start`), or a pod Pending on a volume claim that names a StorageClass the
cluster does not have (`unbindable_claims`), stops helm and fails the release with that reason (and, for
a crash loop, the container's last log lines: a hub's own traceback). Pods that were there before the
deploy began are left out, so an upgrade that replaces a crash-looping hub is not failed for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Optional

import re

from deployer.checks.hub_findings import (
    Finding,
    PodState,
    cannot_start,
    crash_looping_containers,
    unbindable_claims,
    waiting_for_claims,
    with_log_tail,
)
from deployer.errors import DeployerError

INTERVAL = 2.0  # seconds between two reads of the namespace's pods
LOG_LINES = 12  # a crash loop's last log lines in the failure (a Python traceback's end)


_RAISED = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?::\s*(.*))?$")


def raised(lines: list[str]) -> str:
    """The exception a Python program's log ends with (its traceback's last line), e.g.
    `ModuleNotFoundError: No module named 'oauthenticator'`; "" when the log shows none."""
    for line in reversed(lines):
        m = _RAISED.match(line.strip())
        if m:
            return line.strip()
    return ""


def with_exception(finding: Finding, lines: list[str]) -> Finding:
    """A crash loop's finding saying what the program raised (when its log shows it)."""
    exc = raised(lines)
    if not exc:
        return finding
    return Finding(finding.severity, finding.code, finding.subject, f"{finding.message}; it raised {exc}")


class PodsCannotStart(DeployerError):
    """Pods of the release will not start by waiting; `findings` say why (the first is the message)."""

    def __init__(self, findings: list[Finding]) -> None:
        from deployer.checks.hub_findings import hint_for

        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        super().__init__(f"pods cannot start, stopped waiting: {findings[0].line()}{more}", hint_for(findings))
        self.findings = findings


@dataclass
class PodWatch:
    """Reads a namespace's pods: `existing` the uids there now, `hopeless` the findings of `cannot_start`
    (with the log tail of a crash-looping container). Both are blocking calls (run in a thread)."""

    existing: Callable[[str], set[str]]
    hopeless: Callable[[str, set[str]], list[Finding]]
    interval: float = INTERVAL


def kube_pod_watch(access, runner, request_timeout: float = 5.0) -> PodWatch:
    """A PodWatch over the cluster's API (one client, made on first use)."""
    from deployer.run.cluster_connection import kube_for

    holder: dict[str, Any] = {}

    def kube():
        if "kube" not in holder:
            holder["kube"] = kube_for(access, runner, request_timeout)
        return holder["kube"]

    def existing(namespace: str) -> set[str]:
        return {p.uid for p in kube().pods(namespace)}

    def hopeless(namespace: str, before: set[str]) -> list[Finding]:
        pods = kube().pods(namespace)
        findings = cannot_start(pods, before)
        by_name = {p.name: p for p in pods}
        for i, finding in enumerate(findings):
            pod = by_name.get(finding.subject.removeprefix("pod/"))
            if finding.code == "crash-loop" and pod is not None:
                for container in crash_looping_containers(pod)[:1]:
                    lines = kube().log_tail(namespace, pod.name, container, LOG_LINES)
                    findings[i] = with_log_tail(with_exception(finding, lines), container, lines)
        try:
            return findings + unbound(kube(), namespace, pods, before)
        except DeployerError:  # the claims, classes or events could not be read: the pods' own findings stand
            return findings

    return PodWatch(existing, hopeless)


def unbound(kube, namespace: str, pods: list[PodState], before: set[str]) -> list[Finding]:
    """The findings of the new pods' claims that name a StorageClass the cluster does not have
    (`unbindable_claims`). The claims are read only when a new pod is Pending with claims; the classes
    only when such a claim names one; the claims' events only when the classes may not be listed."""
    if not waiting_for_claims(pods, before):
        return []
    claims = [c for c in kube.claims(namespace) if c.unbound_with_class]
    if not claims:
        return []
    classes = kube.storage_classes()
    events = kube.events(namespace) if classes is None else []
    return unbindable_claims(pods, before, claims, classes, events)


async def while_pods_can_start(operation: Awaitable[Any], watch: PodWatch, namespace: str,
                               existing: Optional[set[str]] = None) -> Any:
    """Await `operation` (helm waiting for the release); every `watch.interval` seconds read the pods of
    `namespace`; when a pod made since `existing` cannot start, cancel the operation (helm is stopped)
    and raise PodsCannotStart. A read that fails is ignored (the reachability probe judges the API server)."""
    task = asyncio.ensure_future(operation)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=watch.interval)
            if done:
                return task.result()
            try:
                findings = await asyncio.wait_for(asyncio.to_thread(watch.hopeless, namespace, existing or set()),
                                                  watch.interval * 5)
            except (DeployerError, asyncio.TimeoutError):
                continue
            if findings:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                raise PodsCannotStart(findings)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def pods_before(watch: PodWatch, namespace: str) -> set[str]:
    """The uids of the pods in `namespace` now (none when it cannot be read: then every pod counts as new)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(watch.existing, namespace), watch.interval * 5)
    except (DeployerError, asyncio.TimeoutError):
        return set()
