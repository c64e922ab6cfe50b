"""A deploy stops waiting at once when a pod it made cannot start (deployer.run.pod_watch,
deployer.checks.hub_findings.cannot_start): the decision is pure and tested with pod records; the
loop is tested with a helm that would wait for ten minutes."""

from __future__ import annotations

import asyncio
import time

import pytest

from deployer.checks.hub_findings import ContainerState, PodCondition, PodState, cannot_start, hopeless
from deployer.run.pod_watch import PodsCannotStart, PodWatch, while_pods_can_start

NOT_READY = (PodCondition("Ready", "False", "ContainersNotReady"),)
NO_HOST = ('failed to pull and unpack image "quay.io/lorenlab/hhmi-image:2024": failed to resolve reference: '
           'Get "https://quay.io/v2/": dial tcp: lookup quay.io on 10.250.0.1:53: no such host')


def pod(name: str, uid: str, component: str = "hub", **container) -> PodState:
    return PodState(name, "Pending", {"component": component}, (ContainerState(name="hub", **container),), NOT_READY,
                    uid=uid)


@pytest.mark.parametrize("reason, message, expected", [
    ("ErrImageNeverPull", "Container image ... is not present with pull policy of Never", True),
    ("InvalidImageName", "couldn't parse image name", True),
    ("CrashLoopBackOff", "back-off 10s restarting failed container", True),
    ("ErrImagePull", NO_HOST, True),
    ("ImagePullBackOff", 'Back-off pulling image "x": not found', True),
    ("ErrImagePull", "rpc error: ... dial tcp 1.2.3.4:443: connect: connection refused", True),
    # a rate limit, or a pull still in progress, is worth waiting for
    ("ErrImagePull", "429 Too Many Requests - Server message: toomanyrequests: not found", False),
    ("ErrImagePull", "context deadline exceeded while pulling", False),
    ("ContainerCreating", "", False),
    ("CreateContainerConfigError", 'secret "hub" not found', False),
])
def test_only_what_waiting_cannot_cure_is_hopeless(reason, message, expected):
    assert hopeless(ContainerState("hub", "img", waiting_reason=reason, waiting_message=message)) is expected


def test_only_pods_the_deploy_made_count_and_never_user_servers():
    old = pod("hub-old", "u1", waiting_reason="CrashLoopBackOff", restarts=4)  # what the upgrade replaces
    user = pod("jupyter-ada", "u2", component="singleuser-server", waiting_reason="ErrImageNeverPull")
    new = pod("hub-new", "u3", image="deployer.local/absent:1", waiting_reason="ErrImageNeverPull")
    findings = cannot_start([old, user, new], existing={"u1"})
    assert [f.subject for f in findings] == ["pod/hub-new"]
    assert findings[0].code == "image-pull" and "(ErrImageNeverPull)" in findings[0].message
    assert cannot_start([old, user], existing={"u1"}) == []


def _watch(answers: list[list]) -> tuple[PodWatch, list]:
    reads: list = []

    def hopeless_pods(namespace: str, before: set[str]):
        reads.append((namespace, before))
        return answers.pop(0) if answers else []

    return PodWatch(lambda ns: set(), hopeless_pods, interval=0.05), reads


def test_a_pod_that_cannot_start_stops_helm_at_once_with_its_reason():
    cancelled = []

    async def helm_waiting() -> dict:
        try:
            await asyncio.sleep(600)  # --wait would wait out the whole timeout
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return {}

    bad = pod("hub-1", "u9", image="quay.io/lorenlab/hhmi-image:2024", waiting_reason="ErrImagePull",
              waiting_message=NO_HOST)
    watch, reads = _watch([[], cannot_start([bad], set())])
    started = time.monotonic()
    with pytest.raises(PodsCannotStart) as err:
        asyncio.run(while_pods_can_start(helm_waiting(), watch, "staging", {"u1"}))
    assert time.monotonic() - started < 5 and cancelled == [True]
    assert reads[0] == ("staging", {"u1"})
    assert err.value.message == ("pods cannot start, stopped waiting: pod/hub-1: container hub: image "
                                 f"quay.io/lorenlab/hhmi-image:2024 cannot be pulled (ErrImagePull): {NO_HOST}")
    assert "reach its registry" in err.value.hint
    assert [f.code for f in err.value.findings] == ["image-pull"]


def test_a_release_whose_pods_start_returns_helms_answer():
    async def helm() -> dict:
        await asyncio.sleep(0.2)
        return {"version": 2}

    watch, reads = _watch([])
    assert asyncio.run(while_pods_can_start(helm(), watch, "staging")) == {"version": 2}
    assert reads  # the pods were read while helm waited


def test_a_crash_loop_failure_is_not_explained_again_and_is_rolled_back():
    from tests.unit.run.test_release_failures import _failed

    crash = pod("hub-1", "u9", waiting_reason="CrashLoopBackOff", restarts=1, last_terminated_reason="Error",
                last_exit_code=1)
    error = PodsCannotStart(cannot_start([crash], set()))

    async def explain(spec):  # the pods' reasons are in the error already
        raise AssertionError("explained twice")

    failed, helm = _failed(error, explain)
    assert failed.message.startswith("pods cannot start, stopped waiting: pod/hub-1: container hub keeps crashing "
                                     "(CrashLoopBackOff, 1 restarts); last exit: Error (code 1)")
    assert failed.message.endswith("; rolled back to revision 1") and helm.rollbacks == [1]
    assert failed.details["reasons"][0]["code"] == "crash-loop"


def test_a_crash_loop_says_what_the_hub_raised_then_its_log():
    from deployer.checks.hub_findings import Finding
    from deployer.run.pod_watch import raised, with_exception

    log = ["[E 2026-12-07 JupyterHub app:3400] Failed to load config", "Traceback (most recent call last):",
           '  File "/usr/local/etc/jupyterhub/jupyterhub_config.py", line 12, in <module>',
           "    from oauthenticator.cilogon import CILogonOAuthenticator",
           "ModuleNotFoundError: No module named 'oauthenticator.cilogon'"]
    assert raised(log) == "ModuleNotFoundError: No module named 'oauthenticator.cilogon'"
    assert raised(["    raise SystemExit('e2e: this hub crashes on purpose')",
                   "SystemExit: e2e: this hub crashes on purpose"]) == "SystemExit: e2e: this hub crashes on purpose"
    assert raised(["all fine", "[I ...] shutting down"]) == ""
    f = with_exception(Finding("error", "crash-loop", "pod/hub-1", "container hub keeps crashing"), log)
    assert f.message == ("container hub keeps crashing; it raised ModuleNotFoundError: No module named "
                         "'oauthenticator.cilogon'")


def test_a_log_the_client_hands_back_as_bytes_repr_is_lines_again():
    from deployer.adapters.kube import _log_text

    assert _log_text("b'Traceback\\n    ^^^^\\nNameError: x \\xc3\\xa9'").splitlines() == [
        "Traceback", "    ^^^^", "NameError: x é"]
    assert _log_text(b"a\nb") == "a\nb" and _log_text("plain\nlog") == "plain\nlog" and _log_text(None) == ""


# -- a pod waiting for a claim whose StorageClass the cluster does not have ---------------------------

class ClaimsKube:
    """What `unbound` reads, recorded: the claims, the classes (None: may not be listed), the events."""

    def __init__(self, claims, classes, events=()) -> None:
        self._claims, self._classes, self._events, self.reads = claims, classes, list(events), []

    def claims(self, namespace):
        self.reads.append("claims")
        return self._claims

    def storage_classes(self):
        self.reads.append("classes")
        return self._classes

    def events(self, namespace):
        self.reads.append("events")
        return self._events


def test_a_pod_pending_on_a_claim_of_a_missing_class_is_found_reading_only_what_it_needs():
    from deployer.checks.hub_findings import ClaimState, Event, StorageClasses
    from deployer.run.pod_watch import unbound

    waiting = PodState("hub-1", "Pending", {"component": "hub"}, (), NOT_READY, ("hub-db-dir",), uid="u2")
    claim = ClaimState("hub-db-dir", "Pending", "no-such-class", "hub")
    kube = ClaimsKube([claim], StorageClasses(("deployer-local",), "deployer-local"))
    (f,) = unbound(kube, "staging", [waiting], set())
    assert f.line() == ("pod/hub-1: volume claim hub-db-dir names StorageClass no-such-class, which the cluster "
                        "does not have (its StorageClasses: deployer-local (default)), so it is never bound")
    assert kube.reads == ["claims", "classes"]
    # no new pod Pending with claims: nothing read
    kube = ClaimsKube([claim], None)
    assert unbound(kube, "staging", [waiting], {"u2"}) == [] and kube.reads == []
    # the claims name no class (or are bound): the classes are not read
    kube = ClaimsKube([ClaimState("hub-db-dir", "Pending", None)], None)
    assert unbound(kube, "staging", [waiting], set()) == [] and kube.reads == ["claims"]
    # the classes may not be listed: the claim's event decides
    said = Event("PersistentVolumeClaim", "hub-db-dir", "Warning", "ProvisioningFailed",
                 'storageclass.storage.k8s.io "no-such-class" not found')
    kube = ClaimsKube([claim], None, [said])
    (g,) = unbound(kube, "staging", [waiting], set())
    assert g.code == "missing-storage-class" and kube.reads == ["claims", "classes", "events"]


def test_a_missing_class_stops_helm_at_once_with_the_claims_hint():
    from deployer.checks.hub_findings import ClaimState, StorageClasses, unbindable_claims

    async def helm_waiting() -> dict:
        await asyncio.sleep(600)
        return {}

    waiting = PodState("hub-1", "Pending", {"component": "hub"}, (), NOT_READY, ("hub-db-dir",), uid="u2")
    found = unbindable_claims([waiting], set(), [ClaimState("hub-db-dir", "Pending", "no-such-class", "hub")],
                              StorageClasses(("deployer-local",), "deployer-local"))
    watch, _ = _watch([found])
    started = time.monotonic()
    with pytest.raises(PodsCannotStart) as err:
        asyncio.run(while_pods_can_start(helm_waiting(), watch, "staging"))
    assert time.monotonic() - started < 5
    assert err.value.message == ("pods cannot start, stopped waiting: pod/hub-1: volume claim hub-db-dir names "
                                 "StorageClass no-such-class, which the cluster does not have (its StorageClasses: "
                                 "deployer-local (default)), so it is never bound")
    assert err.value.hint == ("fix the StorageClass name in the hub's values (the jupyterhub chart's "
                              "`hub.db.pvc.storageClassName`) to one the cluster has, or create StorageClass "
                              "no-such-class")
