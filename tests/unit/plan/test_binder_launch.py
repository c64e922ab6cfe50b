"""How BinderHub starts a server on a hub (deployer.plan.binder_launch), from the jupyterhub chart's values."""

from deployer.plan.binder_launch import BinderLaunch, binder_launch

BINDER = {"custom": {"binderhubUI": {"enabled": True}},
          "singleuser": {"image": {"name": "deployer.local/singleuser", "tag": "5.4.4-abc"}}}


def test_an_unauthenticated_binder_hub_starts_servers_with_its_image_and_a_token():
    launch = binder_launch(BINDER)
    assert launch == BinderLaunch("deployer.local/singleuser:5.4.4-abc")
    assert launch.user_options("t0k") == {"token": "t0k", "image": "deployer.local/singleuser:5.4.4-abc"}
    explicit = {**BINDER, "hub": {"config": {"BinderSpawnerMixin": {"auth_enabled": False}}}}
    assert binder_launch(explicit) == launch


def test_any_other_hub_is_started_as_usual():
    assert binder_launch({}) is None
    assert binder_launch({"custom": {"binderhubUI": {"enabled": False}}, "singleuser": BINDER["singleuser"]}) is None
    authenticated = {**BINDER, "hub": {"config": {"BinderSpawnerMixin": {"auth_enabled": True}}}}
    assert binder_launch(authenticated) is None
    assert binder_launch({"custom": "not a mapping"}) is None


def test_an_image_without_a_tag_or_no_image_at_all():
    assert binder_launch({**BINDER, "singleuser": {"image": {"name": "img", "tag": ""}}}) == BinderLaunch("img")
    none = binder_launch({**BINDER, "singleuser": {}})
    assert none == BinderLaunch(None) and none.user_options("t") == {"token": "t"}
