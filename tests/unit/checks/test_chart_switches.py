"""A switched part's condition read as helm reads it: the first path holding a boolean decides."""

from __future__ import annotations

from deployer.adapters.charts import MissingDependency
from deployer.checks.chart_switches import condition_on, missing_switched_on

HOME_NFS = [("jupyterhub-home-nfs.enabled", None), ("nfs.enabled", False)]


def test_the_first_path_that_holds_a_boolean_decides():
    assert condition_on(HOME_NFS, {"jupyterhub-home-nfs": {"enabled": False}, "nfs": {"enabled": True}}) is None
    assert condition_on(HOME_NFS, {"nfs": {"enabled": True}}) == "nfs.enabled"
    assert condition_on(HOME_NFS, {"jupyterhub-home-nfs": {"enabled": True}}) == "jupyterhub-home-nfs.enabled"


def test_the_charts_default_counts_when_the_values_do_not_say():
    assert condition_on([("groups.enabled", True)], {}) == "groups.enabled"
    assert condition_on([("groups.enabled", True)], {"groups": {"enabled": False}}) is None
    assert condition_on([("x.enabled", None)], {"x": {"enabled": "yes"}}) is None  # not a boolean: helm skips it


def test_only_the_parts_switched_on_are_reported():
    missing = {"binderhub-service.enabled": MissingDependency("binderhub-service 1", (("binderhub-service.enabled", False),)),
               "groups.enabled": MissingDependency("groups 2", (("groups.enabled", True),))}
    assert missing_switched_on(missing, {"binderhub-service": {"enabled": True}}) == [
        ("binderhub-service.enabled", "binderhub-service 1"), ("groups.enabled", "groups 2")]
    assert missing_switched_on(missing, {"groups": {"enabled": False}}) == []
