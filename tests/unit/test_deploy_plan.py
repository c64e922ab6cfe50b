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
