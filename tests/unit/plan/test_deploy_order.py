import pytest

from deployer.config.models import Cluster
from deployer.errors import UsageError
from deployer.plan.deploy_order import plan_hubs, plan_support


def cluster(*hubs: str, **stage) -> Cluster:
    return Cluster.model_validate({
        "name": "c", "provider": "local", "support": {"helm_chart_values_files": []},
        "hubs": [{"name": h, "domain": f"{h}.x.org", "helm_chart": "basehub", **({"stage": stage[h]} if h in stage else {})} for h in hubs],
    })


def test_staging_hubs_first_and_prod_hubs_need_every_staging_hub():
    steps = plan_hubs(cluster("prod", "staging", "r-staging", "workshop"))
    assert [s.id for s in steps] == ["c/staging", "c/r-staging", "c/prod", "c/workshop"]
    assert steps[0].needs == () and steps[2].needs == ("c/staging", "c/r-staging")


def test_stage_field_overrides_the_name_rule():
    steps = plan_hubs(cluster("canary", "staging", canary="staging", staging="prod"))
    assert [(s.hub, s.stage.value) for s in steps] == [("canary", "staging"), ("staging", "prod")]


def test_prod_only_selection_has_no_gate():
    assert plan_hubs(cluster("staging", "prod"), ["prod"])[0].needs == ()


def test_unknown_hub_lists_known_ones():
    with pytest.raises(UsageError) as info:
        plan_hubs(cluster("staging", "prod"), ["prd"])
    assert "known hubs: staging, prod" in info.value.hint


def job(cluster: str, kind: str = "hub", hub=None, stage=None) -> dict:
    """A job as `plan-upgrade --output json` writes it."""
    return {"id": f"{cluster}/{hub or 'support'}", "cluster": cluster, "kind": kind, "hub": hub,
            "stage": stage, "chart": "basehub", "reasons": ["changed"]}


def plan_doc(support=(), staging=(), prod=()) -> dict:
    return {"version": 1, "base": "a", "head": "b",
            "support_jobs": [job(c, "support") for c in support],
            "staging_jobs": [job(c, "hub", h, "staging") for c, h in staging],
            "prod_jobs": [job(c, "hub", h, "prod") for c, h in prod],
            "removals": [], "counts": {"support": len(support), "staging": len(staging), "prod": len(prod),
                                       "removals": 0}}


def report(*steps) -> "object":
    from deployer.plan.plan_file import RunReportFile

    return RunReportFile.model_validate({
        "version": 1, "ok": True, "interrupted": False, "started_at": "t", "duration_seconds": 1.0, "counts": {},
        "steps": [{"id": i, "label": i, "group": "staging", "state": st, "duration_seconds": 1.0, "message": "",
                   "hint": None, "details": {}} for i, st in steps]})


def test_support_plan():
    assert plan_support(cluster("staging"))[0].id == "c/support"


def test_plan_from_upgrade_gates_prod_on_staging_and_support_per_cluster():
    from deployer.plan.deploy_order import PlanFile, plan_from_upgrade

    clusters = {"c": cluster("staging", "prod", "other"), "d": cluster("prod")}
    clusters["d"] = clusters["d"].model_copy(update={"name": "d"})
    plan = PlanFile.model_validate(plan_doc(support=["c"], staging=[("c", "staging")],
                                            prod=[("c", "prod"), ("d", "prod")]))
    steps = {s.id: s for s in plan_from_upgrade(plan, clusters)}
    assert list(steps) == ["c/support", "c/staging", "c/prod", "d/prod"]
    assert steps["c/staging"].needs == ("c/support",)
    assert steps["c/prod"].needs == ("c/support", "c/staging")
    assert steps["d/prod"].needs == ()


def test_plan_naming_an_unknown_hub_is_refused():
    from deployer.plan.deploy_order import PlanFile, plan_from_upgrade

    plan = PlanFile.model_validate(plan_doc(prod=[("c", "gone")]))
    with pytest.raises(UsageError):
        plan_from_upgrade(plan, {"c": cluster("staging")})


def test_canary_gate_skips_prod_of_clusters_whose_staging_failed_or_never_reported():
    from deployer.plan.canary_gate import gate
    from deployer.plan.plan_file import PlanFile

    plan = PlanFile.model_validate(plan_doc(staging=[("a", "staging"), ("b", "staging"), ("c", "staging")],
                                            prod=[("a", "prod"), ("b", "prod"), ("c", "prod"), ("d", "prod")]))
    reports = [report(("a/staging", "succeeded")), report(("b/staging", "failed"))]
    allowed, skipped = gate(plan, "prod", reports)
    assert [(j.cluster, j.hub) for j in allowed] == [("a", "prod"), ("d", "prod")]
    assert {s["cluster"]: s["reason"] for s in skipped} == {"b": "skipped: b/staging failed", "c": "skipped: c/staging no report"}
    allowed, skipped = gate(plan, "staging", [])
    assert len(allowed) == 3 and skipped == []
