"""A release that fails: helm's error classified once; an API server that stops answering fails
the release within seconds (not helm's whole --timeout); a release that was applied but is not
ready carries the reasons `health` gives, and a hint."""

from __future__ import annotations

import asyncio
import time

import pytest

from deployer.adapters.helm import (OTHER, RENDER, REJECTED, TIMEOUT, UNREACHABLE, ChartRenderFailed, ClusterUnreachable,
                                    ReleaseTimeout, classify)
from deployer.adapters.kube import KubeError
from deployer.checks.hub_findings import ContainerState, Event, PodCondition, PodState
from deployer.errors import DeployerError
from deployer.run.engine import StepContext, StepResult
from deployer.run.release import DeployOptions, ReleaseDeployer, ReleaseSpec, while_reachable


@pytest.mark.parametrize("stderr,kind", [
    ('Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:6443/version": dial tcp 127.0.0.1:6443: '
     'connect: connection refused', UNREACHABLE),
    ("Error: UPGRADE FAILED: context deadline exceeded", TIMEOUT),
    ("Error: INSTALLATION FAILED: timed out waiting for the condition", TIMEOUT),
    ('Error: UPGRADE FAILED: failed to create resource: Deployment.apps "hub" is invalid: '
     'metadata.labels: Invalid value: "bad value!"', REJECTED),
    ("Error: template: basehub/templates/x.yaml:3:5: executing ... nil pointer", RENDER),
    ("Error: execution error at (basehub/templates/hub.yaml:1:4): hub.image is required", RENDER),
    ('Error: UPGRADE FAILED: Get "https://127.0.0.1:6443/api": unexpected EOF', UNREACHABLE),
    ("Error: something else went wrong", OTHER),
])
def test_helm_failures_are_classified_once_in_the_adapter(stderr, kind):
    assert classify(stderr) == kind


def test_an_operation_fails_as_unreachable_within_seconds_of_the_api_server_dying():
    probes = []

    async def probe() -> None:
        probes.append(time.monotonic())
        if len(probes) > 2:  # the API server dies after the second check
            raise KubeError("kubernetes API: GET /version: no answer (ConnectionRefused)")

    cancelled = []

    async def helm_waiting() -> dict:
        try:
            await asyncio.sleep(600)  # helm's --wait would wait out its timeout
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return {}

    started = time.monotonic()
    with pytest.raises(ClusterUnreachable) as err:
        asyncio.run(while_reachable(helm_waiting(), probe, interval=0.05, failures=3))
    assert time.monotonic() - started < 5 and cancelled == [True]
    assert err.value.kind == UNREACHABLE
    assert err.value.message == ("cluster unreachable: the API server stopped answering while helm waited "
                                 "(3 checks 0.05s apart failed: kubernetes API: GET /version: no answer "
                                 "(ConnectionRefused))")


def test_a_probe_that_recovers_does_not_fail_the_operation():
    answers = iter([KubeError("blip"), None, KubeError("blip"), None] + [None] * 100)

    async def probe() -> None:
        e = next(answers)
        if e:
            raise e

    async def helm() -> dict:
        await asyncio.sleep(0.5)
        return {"version": 3}

    assert asyncio.run(while_reachable(helm(), probe, interval=0.05, failures=2)) == {"version": 3}


def _pod(pod_name: str, **container) -> PodState:
    return PodState(pod_name, "Running" if container.get("waiting_reason") == "CrashLoopBackOff" else "Pending",
                    containers=(ContainerState(**container),),
                    conditions=(PodCondition("Ready", "False", "ContainersNotReady", ""),))


class FakeHelm:
    def __init__(self) -> None:
        self.rollbacks: list[int] = []

    async def history(self, release, namespace, timeout=60):
        from deployer.adapters.helm import Revision

        return [Revision(1, "superseded", "basehub-0.1.0", "", "", ""), Revision(2, "failed", "basehub-0.1.0", "", "", "")]

    async def rollback(self, release, revision, **kw):
        self.rollbacks.append(revision)


def _failed(error: DeployerError, explain, rollback: bool = True):
    helm = FakeHelm()
    deployer = ReleaseDeployer(helm, DeployOptions(rollback=rollback), explain=explain)  # type: ignore[arg-type]
    spec = ReleaseSpec("c/hub", "hub", "hub", "c", "basehub", None, ())
    ctx = StepContext(StepResult("c/hub", "c/hub", ""), lambda r: None)
    return asyncio.run(deployer._failed(spec, error, {}, ctx)), helm


def explainer_for(pods, events=(), logs=None, nodes=()):
    """The real explanation code (`explain_namespace`) over a fake Kubernetes API."""
    from deployer.run.release_probes import explain_namespace

    class FakeKube:
        def pods(self, ns):
            return list(pods)

        def claims(self, ns):
            return []

        def events(self, ns):
            return list(events)

        def nodes(self):
            return list(nodes)

        def log_tail(self, ns, pod, container, lines=5):
            return list(logs or [])

    async def explain(spec):
        return explain_namespace(FakeKube(), spec.namespace)[0].findings

    return explain


def test_a_timed_out_release_says_why_as_health_does_with_a_hint():
    pods = [_pod("hub-1", name="hub", image="registry.invalid/x:1", waiting_reason="ImagePullBackOff",
                 waiting_message="Back-off pulling image")]
    error = ReleaseTimeout("helm upgrade --install hub failed: context deadline exceeded")
    failed, helm = _failed(error, explainer_for(pods))
    assert failed.message == ("helm upgrade --install hub failed: context deadline exceeded; pod/hub-1: container hub: "
                              "image registry.invalid/x:1 cannot be pulled (ImagePullBackOff): Back-off pulling image; "
                              "rolled back to revision 1")
    assert failed.hint == "check the image name and tag in the hub's values, and that the node can reach its registry"
    assert failed.details["reasons"][0]["code"] == "image-pull" and helm.rollbacks == [1]


def test_a_release_timed_out_on_a_node_whose_kubelet_died_names_the_node_first():
    from dataclasses import replace

    from deployer.checks.hub_findings import NodeState

    pods = [replace(_pod("hub-3", name="hub", image="hub:1"), phase="Pending", node="local-node")]
    nodes = [NodeState("local-node", False, "NodeStatusUnknown", "Kubelet stopped posting node status.")]
    error = ReleaseTimeout("helm upgrade --install hub failed: context deadline exceeded")
    failed, _ = _failed(error, explainer_for(pods, nodes=nodes), rollback=False)
    assert failed.message == ("helm upgrade --install hub failed: context deadline exceeded; node/local-node: node "
                              "local-node is not Ready (NodeStatusUnknown: Kubelet stopped posting node status.); "
                              "the pods on it cannot start or report; the failed release was kept (--no-rollback)")
    assert failed.hint.startswith("the node's kubelet or container runtime is down: on the local cluster "
                                  "`deployer local up` starts it again")


def test_a_crash_looping_release_carries_the_containers_last_log_lines():
    pods = [_pod("hub-2", name="hub", image="hub:1", waiting_reason="CrashLoopBackOff", restarts=4,
                 last_terminated_reason="Error", last_exit_code=1)]
    import datetime as dt

    events = [Event("Pod", "hub-2", "Warning", "BackOff", "Back-off restarting failed container", 7,
                    dt.datetime.now(dt.timezone.utc))]
    error = ReleaseTimeout("helm upgrade --install hub failed: context deadline exceeded")
    failed, _ = _failed(error, explainer_for(pods, events, ["Traceback ...", "KeyError: 'JUPYTERHUB_API_TOKEN'"]),
                        rollback=False)
    assert failed.message == (
        "helm upgrade --install hub failed: context deadline exceeded; pod/hub-2: container hub keeps crashing "
        "(CrashLoopBackOff, 4 restarts); last exit: Error (code 1); last log lines of hub: Traceback ... | "
        "KeyError: 'JUPYTERHUB_API_TOKEN'; the failed release was kept (--no-rollback)")
    assert failed.hint == "the container keeps exiting: see its last log lines above (`kubectl logs --previous`)"
    assert [r["code"] for r in failed.details["reasons"]] == ["crash-loop", "event"]


def test_a_render_failure_reads_no_pods_and_an_unreachable_cluster_is_not_rolled_back():
    called = []

    async def explain(spec):
        called.append(spec)
        return []

    failed, helm = _failed(ChartRenderFailed("helm upgrade failed: template: x"), explain)
    assert called == [] and helm.rollbacks == [1]
    failed, helm = _failed(ClusterUnreachable("cluster unreachable: helm upgrade failed: connection refused"), explain)
    assert called == [] and helm.rollbacks == []
    assert failed.message == ("cluster unreachable: helm upgrade failed: connection refused; nothing was rolled back "
                              "(a release left pending is recovered by the next deploy)")
    assert failed.details["cluster_unreachable"] is True


def test_values_reach_helm_as_utf8_json_so_an_emoji_is_not_a_surrogate_escape():
    from deployer.adapters.helm import Helm
    from deployer.adapters.process import Completed, ProcessRunner

    sent = []

    class Runner(ProcessRunner):
        async def run_async(self, args, *, timeout=0, env=None, input=None, grace=10.0):
            sent.append(input)
            return Completed(tuple(args), 0, '{"version": 1, "info": {"status": "deployed"}}', "", 0.1)

    from pathlib import Path

    from deployer.adapters.helm import ChartSource

    helm = Helm(Path("/bin/helm"), None, Runner())
    asyncio.run(helm.upgrade_install("hub", ChartSource("chart"), {"k": "S3cr3t-ünï€😀"}, namespace="hub", timeout=5))
    assert sent[0] == '{"k": "S3cr3t-ünï€😀"}'.encode()
