"""Why a hub is unhealthy, from pod statuses, claims and events (pure: deployer.checks.hub_findings)."""

from __future__ import annotations

import datetime as dt

from deployer.checks.hub_findings import (NEVER_PULL_HINT, ClaimState, ContainerState, Event, NodeState, PodCondition, PodState,
                                    explain_pod, first_reason, hint_for, judge_pods)

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)
READY = (PodCondition("PodScheduled", "True"), PodCondition("Ready", "True"))
NOT_READY = (PodCondition("PodScheduled", "True"), PodCondition("Ready", "False", "ContainersNotReady"))


def pod(name="hub-1", phase="Running", containers=(), conditions=READY, claims=(), labels=None) -> PodState:
    return PodState(name, phase, labels or {"component": "hub"}, tuple(containers), tuple(conditions), tuple(claims))


def test_ready_pods_are_healthy():
    verdict = judge_pods([pod(), pod("proxy-1", labels={"component": "proxy"})], [], [], NOW)
    assert verdict.ok and verdict.message == "2/2 pods ready" and verdict.findings == []


def test_image_pull_failure_names_the_image_and_the_reason():
    c = ContainerState("hub", "registry.invalid/unpullable-hub:1", waiting_reason="ImagePullBackOff",
                       waiting_message='Back-off pulling image "registry.invalid/unpullable-hub:1"')
    verdict = judge_pods([pod(phase="Pending", containers=[c], conditions=NOT_READY)], [], [], NOW)
    assert not verdict.ok
    (f,) = [f for f in verdict.findings if f.code == "image-pull"]
    assert f.subject == "pod/hub-1" and "registry.invalid/unpullable-hub:1" in f.message and "ImagePullBackOff" in f.message


def test_an_image_not_on_the_node_with_pull_policy_never_says_so_and_what_to_do():
    # what the kubelet reports for an image missing from the node when imagePullPolicy is Never
    message = ('Container image "deployer.local/k8s-hub:4.3.3-absent" is not present with pull policy of Never')
    c = ContainerState("hub", "deployer.local/k8s-hub:4.3.3-absent", waiting_reason="ErrImageNeverPull",
                       waiting_message=message)
    verdict = judge_pods([pod(phase="Pending", containers=[c], conditions=NOT_READY)], [], [], NOW)
    (f,) = [f for f in verdict.findings if f.code == "image-pull"]
    assert f.message == ("container hub: image deployer.local/k8s-hub:4.3.3-absent is not on the node and its pull "
                         f"policy is Never, so it is never pulled (ErrImageNeverPull): {message}")
    assert hint_for(verdict.findings) == NEVER_PULL_HINT
    assert "deployer local images" in NEVER_PULL_HINT


def test_crash_loop_reports_restarts_and_last_exit():
    c = ContainerState("hub", "img", waiting_reason="CrashLoopBackOff", restarts=7, last_terminated_reason="Error",
                       last_exit_code=1)
    (f,) = explain_pod(pod(containers=[c], conditions=NOT_READY), {})
    assert f.code == "crash-loop" and "7 restarts" in f.message and "Error (code 1)" in f.message


def test_unschedulable_quotes_the_schedulers_message():
    conditions = (PodCondition("PodScheduled", "False", "Unschedulable", "0/3 nodes are available: 3 Insufficient memory."),)
    (f,) = explain_pod(pod(phase="Pending", conditions=conditions), {})
    assert f.code == "unschedulable" and "Insufficient memory" in f.message


def test_pending_volume_names_the_claim():
    p = pod(phase="Pending", conditions=NOT_READY, claims=["hub-db-dir"])
    (f,) = explain_pod(p, {"hub-db-dir": ClaimState("hub-db-dir", "Pending")})
    assert f.code == "pending-volume" and "hub-db-dir is Pending" in f.message
    (g,) = explain_pod(p, {})
    assert "does not exist" in g.message


def test_warning_events_about_a_broken_pod_are_added_recent_first_and_deduplicated():
    c = ContainerState("hub", "img", waiting_reason="ErrImagePull")
    old = Event("Pod", "hub-1", "Warning", "Failed", "ancient", last_seen=NOW - dt.timedelta(hours=2))
    events = [Event("Pod", "hub-1", "Warning", "Failed", "Failed to pull image", 3, NOW - dt.timedelta(minutes=1)),
              Event("Pod", "hub-1", "Warning", "Failed", "Failed to pull image", 1, NOW - dt.timedelta(minutes=2)),
              Event("Pod", "other", "Warning", "Failed", "not about this pod", 1, NOW),
              Event("Pod", "hub-1", "Normal", "Pulling", "Pulling image", 1, NOW), old]
    verdict = judge_pods([pod(phase="Pending", containers=[c], conditions=NOT_READY)], [], events, NOW)
    evs = [f for f in verdict.findings if f.code == "event"]
    assert [f.message for f in evs] == ["Failed (x3): Failed to pull image"]


def test_no_pods_means_not_deployed():
    verdict = judge_pods([], [], [], NOW)
    assert not verdict.ok and verdict.findings[0].code == "no-pods"


def test_user_servers_and_finished_jobs_do_not_decide_health():
    c = ContainerState("notebook", "bad/image", waiting_reason="ErrImagePull")
    user = pod("jupyter-alice", "Pending", [c], NOT_READY, labels={"component": "singleuser-server"})
    job = pod("hook-1", "Succeeded", conditions=(PodCondition("Ready", "False"),), labels={})
    verdict = judge_pods([pod(), user, job], [], [], NOW)
    assert verdict.ok and verdict.message == "1/1 pods ready"
    assert [f.severity for f in verdict.findings] == ["warning"]  # the user's trouble is shown, not fatal


def test_a_not_ready_pod_without_a_known_reason_still_says_what_it_waits_for():
    c = ContainerState("hub", "img", waiting_reason="ContainerCreating")
    (f,) = explain_pod(pod(phase="Pending", containers=[c], conditions=NOT_READY), {})
    assert f.code == "not-ready" and "ContainerCreating" in f.message and "Pending" in f.message


def test_first_reason_prefers_errors():
    verdict = judge_pods([pod(phase="Pending", conditions=NOT_READY)], [], [], NOW)
    assert first_reason(verdict.findings).startswith("pod/hub-1:")


# -- a node whose kubelet or containerd died ---------------------------------------------------

KUBELET_GONE = NodeState("local-node", False, "NodeStatusUnknown", "Kubelet stopped posting node status.")


def on_node(p: PodState, node: str = "local-node") -> PodState:
    return PodState(p.name, p.phase, p.labels, p.containers, p.conditions, p.claims, node=node)


def test_pods_on_a_node_that_is_not_ready_name_the_node_first_with_its_reason_and_the_fix():
    pods = [on_node(pod("hub-1", phase="Pending", conditions=NOT_READY)),
            on_node(pod("proxy-1", phase="Pending", conditions=NOT_READY, labels={"component": "proxy"}))]
    verdict = judge_pods(pods, [], [], NOW, nodes=[KUBELET_GONE, NodeState("other", True)])
    assert not verdict.ok
    assert verdict.findings[0].to_json() == {
        "severity": "error", "code": "node-not-ready", "subject": "node/local-node",
        "message": "node local-node is not Ready (NodeStatusUnknown: Kubelet stopped posting node status.); "
                   "the pods on it cannot start or report"}
    assert [f.code for f in verdict.findings].count("node-not-ready") == 1  # once per node, not per pod
    assert hint_for(verdict.findings).startswith("the node's kubelet or container runtime is down")


def test_a_not_ready_node_is_not_blamed_for_ready_pods_or_for_pods_elsewhere():
    ready = on_node(pod("hub-1"))
    elsewhere = on_node(pod("proxy-1", phase="Pending", conditions=NOT_READY, labels={"component": "proxy"}), "other")
    verdict = judge_pods([ready, elsewhere], [], [], NOW, nodes=[KUBELET_GONE, NodeState("other", True)])
    assert "node-not-ready" not in [f.code for f in verdict.findings]


def test_node_state_reads_the_ready_condition_of_the_api_object():
    from types import SimpleNamespace as NS

    from deployer.adapters.kube import node_state

    cond = NS(type="Ready", status="Unknown", reason="NodeStatusUnknown", message=" Kubelet stopped posting node status. ")
    node = NS(metadata=NS(name="n1"), status=NS(conditions=[NS(type="MemoryPressure", status="False", reason="", message=""),
                                                            cond]))
    assert node_state(node) == NodeState("n1", False, "NodeStatusUnknown", "Kubelet stopped posting node status.")
    assert node_state(NS(metadata=NS(name="n2"), status=None)) == NodeState("n2", False, "no Ready condition", "")
