"""What deploy asks the cluster while a release is applied: whether the API server still answers
(`reachability_probe`, so a dead server fails a release in seconds, not after helm's --timeout),
and why a release's pods are not ready (`failure_explainer`: the explanation `health` gives)."""

from __future__ import annotations

import asyncio

from deployer.adapters.kube import Kube
from deployer.checks.hub_findings import Finding, PodsVerdict, core_pods, crash_looping_containers, judge_pods, with_log_tail
from deployer.run.cluster_connection import kube_for


def explain_namespace(kube: Kube, namespace: str, log_lines: int = 5) -> tuple[PodsVerdict, list]:
    """Why the pods of `namespace` are (not) ready: the verdict of `judge_pods`, with the last log
    lines of each crash-looping container added; and the events read. The one explanation that
    `health`, and a deploy that failed or timed out, give."""
    pods = kube.pods(namespace)
    claims = kube.claims(namespace)
    events = kube.events(namespace)
    # the nodes are read only when some pod is not Ready (a dead kubelet leaves stale pod statuses)
    nodes = kube.nodes() if any(not p.ready for p in core_pods(pods)) else []
    # and the StorageClasses only when a claim naming one is not bound (is it a class the cluster lacks?)
    classes = kube.storage_classes() if any(c.unbound_with_class for c in claims) else None
    verdict = judge_pods(pods, claims, events, nodes=nodes, classes=classes)
    by_name = {p.name: p for p in pods}
    for i, finding in enumerate(verdict.findings):
        pod = by_name.get(finding.subject.removeprefix("pod/"))
        if finding.code != "crash-loop" or pod is None:
            continue
        for container in crash_looping_containers(pod)[:1]:
            verdict.findings[i] = with_log_tail(finding, container, kube.log_tail(namespace, pod.name, container,
                                                                                  log_lines))
    return verdict, events


def failure_explainer(access, runner, request_timeout: float = 5.0, budget: float = 20.0):
    """For deploy: an async function (release spec) -> findings, saying why a release that helm
    applied did not become ready (the same reasons `health` gives), within `budget` seconds."""

    async def explain(spec) -> list[Finding]:
        def read() -> list[Finding]:
            with kube_for(access, runner, request_timeout) as kube:
                return explain_namespace(kube, spec.namespace)[0].findings

        return await asyncio.wait_for(asyncio.to_thread(read), budget)

    return explain


def reachability_probe(access, runner, timeout: float = 3.0):
    """For deploy: an async function that raises (KubeError) when the API server does not answer."""
    holder: dict[str, Kube] = {}

    def probe() -> None:
        if "kube" not in holder:
            holder["kube"] = kube_for(access, runner, timeout)
        holder["kube"].probe(timeout)

    async def run() -> None:
        await asyncio.wait_for(asyncio.to_thread(probe), timeout + 2)

    return run
