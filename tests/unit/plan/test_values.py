from deployer.plan.values import generated_values, merge_values


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


def test_provision_outputs_are_layered_after_generated_values_and_before_the_hub_files(tmp_path):
    from deployer.plan.release_values import ReleaseSpec
    from deployer.render.inputs import ValuesReader

    values_file = tmp_path / "hub.values.yaml"
    values_file.write_text("global:\n  cloud:\n    cluster_endpoint: https://overridden.example.org\n")
    chart = tmp_path / "basehub"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("name: basehub\nversion: 0.1.0\ndependencies:\n- name: jupyterhub\n  version: 4.3.3\n")
    reader = ValuesReader(None, {"cluster_endpoint": "https://eks.example.org", "bucket": "b"})
    spec = ReleaseSpec("c/h", "h", "h", "c", "basehub", chart, (values_file,), domain="h.example.org", hub="h")
    values = reader.release_values(spec, None)
    assert values["global"]["cloud"] == {"cluster_endpoint": "https://overridden.example.org", "bucket": "b"}
    assert values["global"]["hubName"] == "h" and values["jupyterhub"]["ingress"]["hosts"] == ["h.example.org"]


def test_a_values_file_shared_by_releases_is_read_once_per_run(tmp_path):
    from deployer.plan.release_values import ReleaseSpec
    from deployer.render.inputs import ValuesReader

    common = tmp_path / "common.values.yaml"
    common.write_text("jupyterhub:\n  custom: {a: 1}\n")
    reader = ValuesReader(None)
    for hub in ("a", "b", "c"):
        spec = ReleaseSpec(f"c/{hub}", hub, hub, "c", "x", None, (common,), hub=hub)
        values = reader.release_values(spec, None)
        values["jupyterhub"]["custom"]["a"] = 2  # a caller changing its copy changes nobody else's
    assert reader.reads == [common]
    assert reader.release_values(spec, None)["jupyterhub"]["custom"] == {"a": 1}
