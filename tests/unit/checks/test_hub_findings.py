"""Why a hub is unhealthy, from pod statuses, claims and events (pure: deployer.checks.hub_findings)."""

from __future__ import annotations

import datetime as dt

from deployer.checks.hub_findings import (NEVER_PULL_HINT, ClaimState, ContainerState, Event, NodeState, PodCondition, PodState,
                                    StorageClasses, explain_pod, first_reason, hint_for, judge_pods, missing_class,
                                    unbindable_claims)

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


# -- a claim naming a StorageClass the cluster does not have ------------------------------------------

LOCAL_CLASSES = StorageClasses(("standard", "deployer-local"), default="deployer-local")
DB_CLAIM = ClaimState("hub-db-dir", "Pending", storage_class="no-such-class", component="hub")
NOT_FOUND = Event("PersistentVolumeClaim", "hub-db-dir", "Warning", "ProvisioningFailed",
                  'storageclass.storage.k8s.io "no-such-class" not found', 3, NOW)
UNBOUND = (PodCondition("PodScheduled", "False", "Unschedulable",
                        "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."),)
DB_MESSAGE = ("volume claim hub-db-dir names StorageClass no-such-class, which the cluster does not have "
              "(its StorageClasses: deployer-local (default), standard), so it is never bound")
DB_HINT = ("fix the StorageClass name in the hub's values (the jupyterhub chart's `hub.db.pvc.storageClassName`) "
           "to one the cluster has, or create StorageClass no-such-class")


def waiting_hub(uid: str = "u2") -> PodState:
    return PodState("hub-1", "Pending", {"component": "hub"}, (), UNBOUND, ("hub-db-dir",), uid=uid)


def test_a_pending_claim_naming_a_class_the_cluster_lacks_is_missing_by_the_classes_else_by_its_event():
    assert missing_class(DB_CLAIM, LOCAL_CLASSES) is True
    assert missing_class(ClaimState("hub-db-dir", "Pending", storage_class="standard"), LOCAL_CLASSES) is False
    assert missing_class(ClaimState("hub-db-dir", "Bound", storage_class="no-such-class"), LOCAL_CLASSES) is False
    # no class named: the default one (or a volume made for it) binds it; not this finding's business
    assert missing_class(ClaimState("hub-db-dir", "Pending", storage_class=""), LOCAL_CLASSES) is False
    # the classes could not be listed (a namespace-scoped account): the provisioner's event says it
    assert missing_class(DB_CLAIM, None, [NOT_FOUND]) is True
    assert missing_class(DB_CLAIM, None, []) is False
    other = Event("PersistentVolumeClaim", "other", "Warning", "ProvisioningFailed", NOT_FOUND.message)
    assert missing_class(DB_CLAIM, None, [other]) is False


def test_a_new_pod_waiting_for_such_a_claim_fails_with_the_claim_the_class_the_clusters_classes_and_the_key():
    (f,) = unbindable_claims([waiting_hub()], {"u1"}, [DB_CLAIM], LOCAL_CLASSES)
    assert (f.severity, f.code, f.subject, f.message) == ("error", "missing-storage-class", "pod/hub-1", DB_MESSAGE)
    assert hint_for([f]) == DB_HINT
    assert f.to_json() == {"severity": "error", "code": "missing-storage-class", "subject": "pod/hub-1",
                           "message": DB_MESSAGE, "hint": DB_HINT}  # `health --output json` says what to do
    # a user's home claim names kubespawner's key; a claim of another template says so
    home = ClaimState("hub-db-dir", "Pending", storage_class="gp3", component="singleuser-storage")
    (g,) = unbindable_claims([waiting_hub()], set(), [home], StorageClasses(()))
    assert g.message == ("volume claim hub-db-dir names StorageClass gp3, which the cluster does not have "
                         "(its StorageClasses: none), so it is never bound")
    assert g.hint == ("fix the StorageClass name in the hub's values (the jupyterhub chart's "
                      "`singleuser.storage.dynamic.storageClass`) to one the cluster has, or create StorageClass gp3")
    nfs = ClaimState("hub-db-dir", "Pending", storage_class="nfs")
    (h,) = unbindable_claims([waiting_hub()], set(), [nfs], None, [
        Event("PersistentVolumeClaim", "hub-db-dir", "Warning", "ProvisioningFailed",
              'storageclass.storage.k8s.io "nfs" not found')])
    assert h.message == ("volume claim hub-db-dir names StorageClass nfs, which the cluster does not have (the "
                         "claim's event says storageclass.storage.k8s.io \"nfs\" not found), so it is never bound")
    assert h.hint.startswith("fix the StorageClass name in the hub's values (the template of claim hub-db-dir) ")


def test_only_pending_pods_the_deploy_made_count_and_never_user_servers():
    user = PodState("jupyter-ada", "Pending", {"component": "singleuser-server"}, (), UNBOUND, ("hub-db-dir",), uid="u3")
    assert unbindable_claims([waiting_hub("u1"), user], {"u1"}, [DB_CLAIM], LOCAL_CLASSES) == []
    running = PodState("hub-1", "Running", {"component": "hub"}, (), READY, ("hub-db-dir",), uid="u2")
    assert unbindable_claims([running], set(), [DB_CLAIM], LOCAL_CLASSES) == []
    assert unbindable_claims([waiting_hub()], set(), [ClaimState("hub-db-dir", "Pending", "standard")],
                             LOCAL_CLASSES) == []


def test_health_names_the_missing_class_first_with_its_hint_and_a_users_claim_as_a_warning():
    verdict = judge_pods([waiting_hub()], [DB_CLAIM], [NOT_FOUND], NOW, classes=LOCAL_CLASSES)
    assert not verdict.ok
    assert [f.code for f in verdict.findings] == ["missing-storage-class", "unschedulable", "event"]
    assert first_reason(verdict.findings) == f"pod/hub-1: {DB_MESSAGE}"
    assert hint_for(verdict.findings) == DB_HINT
    # read fleet-wide (`status`: no classes read), the claim's event decides
    (f, *_) = judge_pods([waiting_hub()], [DB_CLAIM], [NOT_FOUND], NOW).findings
    assert f.code == "missing-storage-class" and "(the claim's event says" in f.message
    user = PodState("jupyter-ada", "Pending", {"component": "singleuser-server"}, (), UNBOUND, ("claim-ada",))
    claim = ClaimState("claim-ada", "Pending", "no-such-class", "singleuser-storage")
    (w, _) = explain_pod(user, {"claim-ada": claim}, LOCAL_CLASSES)
    assert (w.severity, w.code, w.subject) == ("warning", "missing-storage-class", "pod/jupyter-ada")


def test_claim_state_and_the_storage_classes_read_from_the_api_objects():
    from types import SimpleNamespace as NS

    from deployer.adapters.kube import claim_state

    claim = NS(metadata=NS(name="hub-db-dir", labels={"component": "hub"}), spec=NS(storage_class_name="x"),
               status=NS(phase="Pending"))
    assert claim_state(claim) == ClaimState("hub-db-dir", "Pending", "x", "hub")
    bare = NS(metadata=NS(name="c", labels=None), spec=NS(storage_class_name=None), status=None)
    assert claim_state(bare) == ClaimState("c", "Pending", None, "")
    assert StorageClasses(("b", "a"), default="b").line() == "a, b (default)"
