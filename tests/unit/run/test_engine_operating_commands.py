"""health, status and rollback run their per-release work through the one engine
(`run/engine.py::run_each`): a concurrency limit, a per-step timeout, failure isolation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from deployer.adapters.helm import Revision
from deployer.adapters.process import ProcessRunner
from deployer.config.models import Cluster
from deployer.errors import DeployerError, UsageError
from deployer.run import engine, health, rollback, status
from deployer.run.health import Check, HealthOptions, HubHealth
from deployer.run.status import HubStatus, StatusOptions

PACKAGE = Path(__file__).resolve().parents[3] / "deployer"


def make_cluster(name: str, hubs: list[str], support: bool = False) -> Cluster:
    data = {"name": name, "provider": "local",
            "hubs": [{"name": h, "domain": f"{h}.{name}.example.org", "helm_chart": "basehub"} for h in hubs]}
    if support:
        data["support"] = {"helm_chart_values_files": []}
    return Cluster.model_validate(data)


@pytest.fixture
def engine_calls(monkeypatch):
    """run_each, recorded: what each command handed the engine."""
    calls = []
    real = engine.run_each

    def recording(items, action, **kwargs):
        calls.append({"items": list(items), **{k: kwargs[k] for k in ("concurrency", "timeout", "group")}})
        return real(items, action, **kwargs)

    monkeypatch.setattr(engine, "run_each", recording)
    monkeypatch.setattr(status, "run_each", recording)  # status imports it at the top
    return calls


def test_no_command_keeps_a_loop_of_its_own():
    found = sorted(f"{p.relative_to(PACKAGE).as_posix()}: {line.strip()}" for p in PACKAGE.rglob("*.py")
                   for line in p.read_text().splitlines() if "asyncio.run(" in line or "Semaphore(" in line)
    assert found == ["run/engine.py: return asyncio.run(main())",
                     "run/engine.py: semaphore = asyncio.Semaphore(self.concurrency)"]


# -- health ---------------------------------------------------------------------------------------

class FakeConn:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.root = Path("/nonexistent")
        self.sops = None
        self.helm = None

    @contextlib.contextmanager
    def kube(self, timeout: float):
        yield "kube"


def test_health_checks_each_hub_as_a_step_and_a_hung_hub_fails_alone(monkeypatch, engine_calls):
    async def check(self, hub, on_attempt):
        if hub.name == "hung":
            await asyncio.sleep(30)
        if hub.name == "buggy":
            raise KeyError("pods")
        return HubHealth(self.cluster, hub.name, healthy=True, attempts=1, checks=[Check("pods", True, "2/2 ready")])

    monkeypatch.setattr(health.HubChecker, "check", check)
    seen = []
    started = time.monotonic()
    results = health.run_health(FakeConn(make_cluster("c1", ["a", "hung", "buggy", "b"])), None,
                                HealthOptions(concurrency=3, timeout=1.0), on_result=lambda h: seen.append(h.hub))
    assert time.monotonic() - started < 5
    assert engine_calls == [{"items": ["a", "hung", "buggy", "b"], "concurrency": 3, "timeout": 1.0,
                             "group": "health"}]
    assert [(r.hub, r.healthy, [(c.name, c.ok, c.message) for c in r.checks]) for r in results] == [
        ("a", True, [("pods", True, "2/2 ready")]),
        ("hung", False, [("check", False, "the health check did not finish: timed out after 1s")]),
        ("buggy", False, [("check", False, "the health check did not finish: internal error: KeyError: 'pods'")]),
        ("b", True, [("pods", True, "2/2 ready")]),
    ]
    assert sorted(seen) == ["a", "b", "buggy", "hung"]


def test_a_hubs_health_budget_covers_every_attempt_and_wait():
    assert HealthOptions(retries=2, interval=3.0, request_timeout=10.0).hub_timeout() == 3 * 12 * 10 + 2 * 3 + 30
    assert HealthOptions(timeout=7).hub_timeout() == 7


# -- status ---------------------------------------------------------------------------------------

def test_status_reads_each_cluster_as_a_step_and_a_slow_or_broken_one_does_not_hold_up_the_others(
        monkeypatch, engine_calls):
    async def cluster_status(root, cluster, runner, options, work_dir, *rest):
        if cluster.name == "slow":
            await asyncio.sleep(30)
        if cluster.name == "buggy":
            raise RuntimeError("no")
        return [HubStatus(cluster.name, h.name, revision=1, helm_status="deployed", health="healthy")
                for h in cluster.hubs]

    monkeypatch.setattr(status, "cluster_status", cluster_status)
    clusters = [make_cluster("slow", ["s1"], support=True), make_cluster("ok", ["o1", "o2"]),
                make_cluster("buggy", ["b1"])]
    started = time.monotonic()
    rows = status.run_status(Path("/nonexistent"), clusters, ProcessRunner(), StatusOptions(cluster_timeout=1.0),
                             Path("/nonexistent"))
    assert time.monotonic() - started < 5
    assert [(c["items"], c["concurrency"], c["timeout"], c["group"]) for c in engine_calls] == [
        (clusters, 3, 1.0, "status")]
    assert [(r.cluster, r.hub, r.helm_status, r.health, r.error) for r in rows] == [
        ("slow", "s1", "unknown", "unknown", "timed out after 1s"),
        ("slow", "support", "unknown", "unknown", "timed out after 1s"),
        ("ok", "o1", "deployed", "healthy", ""),
        ("ok", "o2", "deployed", "healthy", ""),
        ("buggy", "b1", "unknown", "unknown", "internal error: RuntimeError: no"),
    ]


class FakeKube:
    def pods_by_namespace(self):
        return {"a": ["pod"], "hung": ["pod"], "b": ["pod"]}

    def claims_by_namespace(self):
        return {}

    def events_by_namespace(self):
        return {}

    def nodes(self):
        return []

    def service_get(self, namespace, service, port, path, params=None, timeout=None):  # no Prometheus here
        from deployer.adapters.kube import ProxyResponse

        return ProxyResponse(503, b'{"kind": "Status", "message": "no endpoints available for service"}')

    def close(self):
        pass


class FakeHelm:
    async def list_releases(self):
        return [{"name": n, "namespace": n, "revision": "2", "chart": "basehub-0.1.0", "status": "deployed",
                 "updated": "2026-11-26 13:15:00.1 +0000 UTC"} for n in ("a", "hung", "b")]


def test_status_checks_each_hub_of_a_cluster_as_a_step_with_its_own_timeout(monkeypatch):
    def check_once(self, hub, pods, claims, events, nodes):
        if hub.name == "hung":
            time.sleep(2)  # a request that does not answer
        return HubHealth(self.cluster, hub.name, healthy=True)

    monkeypatch.setattr(status.HubChecker, "check_once", check_once)
    monkeypatch.setattr(status, "kube_for", lambda access, runner, timeout: FakeKube())
    nested = []
    real = status.run_each_async

    async def recording(items, action, **kwargs):
        nested.append((list(items), kwargs["concurrency"], kwargs["timeout"]))
        return await real(items, action, **kwargs)

    monkeypatch.setattr(status, "run_each_async", recording)
    cluster = make_cluster("c1", ["a", "hung", "b"])
    rows = {h.name: HubStatus("c1", h.name) for h in cluster.hubs}
    options = StatusOptions(sync=False, concurrency=2, hub_timeout=1.0)
    asyncio.run(status._gather(cluster, FakeHelm(), None, ProcessRunner(), rows, options))
    assert nested == [(["a", "hung", "b"], 2, 1.0)]
    assert [(r.hub, r.revision, r.health, r.health_detail) for r in rows.values()] == [
        ("a", 2, "healthy", ""),
        ("hung", 2, "unknown", "the health check did not finish: timed out after 1s"),
        ("b", 2, "healthy", ""),
    ]


def test_status_names_a_node_that_is_not_ready_as_the_reason_its_hubs_are_not(monkeypatch):
    from deployer.checks.hub_findings import NodeState, PodCondition, PodState

    stale = PodState("hub-1", "Running", {"component": "hub"}, conditions=(PodCondition("Ready", "False"),),
                     node="node-1")

    class DeadNodeKube(FakeKube):
        def pods_by_namespace(self):
            return {"a": [stale]}

        def nodes(self):
            return [NodeState("node-1", False, "NodeStatusUnknown", "Kubelet stopped posting node status.")]

        def config_map(self, namespace, name):
            return None

        def service_get(self, namespace, service, port, path, params=None, timeout=None):
            from deployer.adapters.kube import KubeError

            raise KubeError("the node does not answer")

    monkeypatch.setattr(status, "kube_for", lambda access, runner, timeout: DeadNodeKube())
    cluster = make_cluster("c1", ["a"])
    rows = {h.name: HubStatus("c1", h.name) for h in cluster.hubs}
    asyncio.run(status._gather(cluster, FakeHelm(), None, ProcessRunner(), rows,
                               StatusOptions(sync=False, concurrency=2, hub_timeout=5.0)))
    assert (rows["a"].health, rows["a"].health_detail) == (
        "unhealthy", "0/1 pods ready: node/node-1: node node-1 is not Ready (NodeStatusUnknown: Kubelet stopped posting node "
                     "status.); the pods on it cannot start or report")


def test_a_hubs_status_check_is_bounded_by_its_requests():
    assert StatusOptions(request_timeout=2.0).hub_check_timeout() == 12 * 2.0 + 5
    assert StatusOptions(hub_timeout=3.0).hub_check_timeout() == 3.0


# -- rollback -------------------------------------------------------------------------------------

def rev(n: int, state: str) -> Revision:
    return Revision(n, state, "basehub-0.1.0", "", f"2026-11-2{n} 10:00:00.5 +0000 UTC", "")


class RollbackHelm:
    def __init__(self, history: list[Revision], hang: bool = False) -> None:
        self.revisions = history
        self.hang = hang
        self.rolled: list[tuple] = []

    async def history(self, release, namespace):
        return list(self.revisions)

    async def rollback(self, release, revision, *, namespace, timeout, wait):
        if self.hang:
            await asyncio.sleep(30)
        self.rolled.append((release, revision, namespace, timeout, wait))
        self.revisions.append(rev(len(self.revisions) + 1, "deployed"))


def rollback_conn(helm: RollbackHelm) -> FakeConn:
    conn = FakeConn(make_cluster("c1", ["staging"]))
    conn.helm = helm
    return conn


def test_rollback_runs_as_a_step_of_the_engine(engine_calls):
    helm = RollbackHelm([rev(1, "superseded"), rev(2, "deployed")])
    result = rollback.run_rollback(rollback_conn(helm), "staging", None, dry_run=False, timeout=30)
    assert engine_calls == [{"items": ["staging"], "concurrency": 1, "timeout": 180, "group": "rollback"}]
    assert helm.rolled == [("staging", 1, "staging", 30, True)]
    assert result.message == ("rolled back staging from revision 2 to revision 1 (basehub-0.1.0, deployed "
                              "2026-11-21 10:00:00): now revision 3 deployed")


def test_a_rollback_error_keeps_its_type_and_so_its_exit_code():
    helm = RollbackHelm([rev(1, "superseded"), rev(2, "deployed")])
    with pytest.raises(UsageError) as e:
        rollback.run_rollback(rollback_conn(helm), "staging", 7, dry_run=False, timeout=30)
    assert (e.value.message, e.value.hint) == ("hub `staging` has no revision 7",
                                               "existing revisions: 1 (superseded), 2 (deployed)")
    with pytest.raises(DeployerError) as e:
        rollback.run_rollback(rollback_conn(RollbackHelm([])), "staging", None, dry_run=False, timeout=30)
    assert type(e.value) is DeployerError  # exit 1, not a usage error
    assert e.value.message == "hub `staging` has no helm release on this cluster: nothing to roll back"


def test_a_rollback_that_does_not_finish_is_stopped_by_the_step_timeout(monkeypatch):
    real = engine.run_each
    monkeypatch.setattr(engine, "run_each", lambda items, action, **kw: real(items, action, **{**kw, "timeout": 0.5}))
    helm = RollbackHelm([rev(1, "superseded"), rev(2, "deployed")], hang=True)
    with pytest.raises(DeployerError) as e:
        rollback.run_rollback(rollback_conn(helm), "staging", None, dry_run=False, timeout=30)
    assert type(e.value).__name__ == "RollbackFailed"
    assert (e.value.message, e.value.hint) == ("rollback of staging: timed out after 0s",
                                               "raise --timeout, or look at the hub's pods for what is slow")
    assert isinstance(e.value.__cause__, asyncio.TimeoutError)
