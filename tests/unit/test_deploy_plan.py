import pytest

from deployer.config.models import Cluster
from deployer.errors import UsageError
from deployer.plan.deploy_plan import plan_hubs, plan_support


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


def test_support_plan():
    assert plan_support(cluster("staging"))[0].id == "c/support"


def test_plan_from_upgrade_gates_prod_on_staging_and_support_per_cluster():
    from deployer.plan.deploy_plan import PlanFile, plan_from_upgrade

    clusters = {"c": cluster("staging", "prod", "other"), "d": cluster("prod")}
    clusters["d"] = clusters["d"].model_copy(update={"name": "d"})
    plan = PlanFile.model_validate({
        "support_jobs": [{"cluster": "c", "kind": "support"}],
        "staging_jobs": [{"cluster": "c", "kind": "hub", "hub": "staging"}],
        "prod_jobs": [{"cluster": "c", "kind": "hub", "hub": "prod"}, {"cluster": "d", "kind": "hub", "hub": "prod"}],
    })
    steps = {s.id: s for s in plan_from_upgrade(plan, clusters)}
    assert list(steps) == ["c/support", "c/staging", "c/prod", "d/prod"]
    assert steps["c/staging"].needs == ("c/support",)
    assert steps["c/prod"].needs == ("c/support", "c/staging")
    assert steps["d/prod"].needs == ()


def test_plan_naming_an_unknown_hub_is_refused():
    from deployer.plan.deploy_plan import PlanFile, plan_from_upgrade

    plan = PlanFile.model_validate({"prod_jobs": [{"cluster": "c", "kind": "hub", "hub": "gone"}]})
    with pytest.raises(UsageError):
        plan_from_upgrade(plan, {"c": cluster("staging")})


def test_canary_gate_skips_prod_of_clusters_whose_staging_failed_or_never_reported():
    from deployer.plan.deploy_plan import PlanFile, gate

    plan = PlanFile.model_validate({
        "staging_jobs": [{"cluster": "a", "kind": "hub", "hub": "staging"}, {"cluster": "b", "kind": "hub", "hub": "staging"},
                         {"cluster": "c", "kind": "hub", "hub": "staging"}],
        "prod_jobs": [{"cluster": "a", "kind": "hub", "hub": "prod"}, {"cluster": "b", "kind": "hub", "hub": "prod"},
                      {"cluster": "c", "kind": "hub", "hub": "prod"}, {"cluster": "d", "kind": "hub", "hub": "prod"}],
    })
    reports = [{"steps": [{"id": "a/staging", "state": "succeeded"}]}, {"steps": [{"id": "b/staging", "state": "failed"}]}]
    allowed, skipped = gate(plan, "prod", reports)
    assert [(j.cluster, j.hub) for j in allowed] == [("a", "prod"), ("d", "prod")]
    assert {s["cluster"]: s["reason"] for s in skipped} == {"b": "skipped: b/staging failed", "c": "skipped: c/staging no report"}
    allowed, skipped = gate(plan, "staging", [])
    assert len(allowed) == 3 and skipped == []
