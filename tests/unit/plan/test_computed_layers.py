"""The layers deployer computes itself (deployer.plan.computed_layers)."""

from deployer.plan.computed_layers import generated_values


def test_generated_values_nest_under_basehub_for_daskhub():
    v = generated_values(cluster="c", hub="h", domain="h.example.org", dependencies=["basehub", "dask-gateway"], chart_name="daskhub")
    assert v["basehub"]["jupyterhub"]["ingress"]["hosts"] == ["h.example.org"]
    assert v["global"] == {"hubName": "h", "clusterName": "c", "domain": "h.example.org"}
    v = generated_values(cluster="c", hub="h", domain="d.org", dependencies=["jupyterhub"], chart_name="basehub")
    assert v["jupyterhub"]["ingress"]["tls"][0]["hosts"] == ["d.org"]


def test_basehub_on_gcp_or_aws_gets_its_clouds_disk_kind_for_the_in_cluster_nfs_server():
    gcp = generated_values(cluster="c", hub="h", domain="d.org", dependencies=["jupyterhub"], chart_name="basehub",
                           provider="gcp")
    assert gcp["jupyterhub-home-nfs"] == {"gke": {"enabled": True}}
    aws = generated_values(cluster="c", hub="h", domain="d.org", dependencies=["basehub"], chart_name="daskhub",
                           provider="aws")
    assert aws["basehub"]["jupyterhub-home-nfs"] == {"eks": {"enabled": True}}
    for provider, chart in (("azure", "basehub"), ("local", "basehub"), ("gcp", "jupyterhub")):
        other = generated_values(cluster="c", hub="h", domain="d.org", dependencies=[], chart_name=chart,
                                 provider=provider)
        assert "jupyterhub-home-nfs" not in other
