"""The profile the user test starts (deployer.plan.profile_choice): the default profile with its options'
default choices, as KubeSpawner's REST API takes them, its slug as KubeSpawner makes one."""

from __future__ import annotations

from deployer.plan.profile_choice import default_profile, slugify


def test_a_slug_is_kubespawners_of_the_display_name():
    assert slugify("Small: 1 CPU, 4 GB RAM") == "small-1-cpu-4-gb-ram"
    assert slugify("  Jupyter's Café — 1,000 GB ") == "jupyter-s-cafe-1000-gb"


def test_the_default_profile_is_the_one_marked_else_the_first_with_each_options_default_choice():
    values = {"singleuser": {"profileList": [
        {"display_name": "Small", "profile_options": {
            "image": {"choices": {"a": {}, "b": {"default": True}}, "unlisted_choice": {"enabled": True}},
            "requests": {"choices": {"x": {}, "y": {}}},
            "custom": {"unlisted_choice": {"enabled": True}}}},
        {"display_name": "GPU"}]}}
    choice = default_profile(values)
    assert choice.user_options() == {"profile": "small", "image": "b", "requests": "x"}
    assert choice.describe() == "profile `small` (image: b, requests: x)"
    values["singleuser"]["profileList"][1].update(default=True, slug="gpu-1")
    assert default_profile(values).user_options() == {"profile": "gpu-1"}


def test_a_profile_list_given_as_a_dict_is_ordered_by_key_and_no_list_is_no_choice():
    assert default_profile({"singleuser": {"profileList": {"b": {"display_name": "B"},
                                                           "a": {"display_name": "A"}}}}).slug == "a"
    assert default_profile({"singleuser": {"profileList": []}}) is None
    assert default_profile({"singleuser": {}}) is None and default_profile(None) is None
