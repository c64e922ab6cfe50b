"""Layering with helm's own semantics (deployer.plan.values_merge)."""

from deployer.plan.values_merge import merge_values


def test_merge_follows_helm_not_pyhelm3_lists_are_replaced():
    a = {"jupyterhub": {"singleuser": {"profileList": [{"name": "small"}, {"name": "big"}], "cpu": 1}}}
    b = {"jupyterhub": {"singleuser": {"profileList": [{"name": "only"}]}}}
    assert merge_values(a, b) == {"jupyterhub": {"singleuser": {"profileList": [{"name": "only"}], "cpu": 1}}}


def test_merge_keeps_null_so_helm_can_delete_a_default_and_later_layers_win():
    merged = merge_values({"a": {"x": 1, "y": 2}, "b": 1}, {"a": {"y": None}, "b": {"c": 1}}, {"b": 3})
    assert merged == {"a": {"x": 1, "y": None}, "b": 3}


def test_merge_does_not_mutate_its_inputs():
    a, b = {"a": {"x": [1]}}, {"a": {"y": 2}}
    merge_values(a, b)
    assert a == {"a": {"x": [1]}} and b == {"a": {"y": 2}}
