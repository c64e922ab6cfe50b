"""A release's values layered by the run's one reader (deployer.render.inputs.ValuesReader)."""


def test_provision_outputs_are_layered_after_generated_values_and_before_the_hub_files(tmp_path):
    from deployer.plan.release_spec import ReleaseSpec
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
    from deployer.plan.release_spec import ReleaseSpec
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


def test_a_ready_release_knows_when_the_local_layers_switched_its_ingress_off_at_any_nesting():
    """The fleet check's domain rule skips a hub whose Ingress the local layers switched off (a preview),
    for each chart that can deploy a hub: jupyterhub (top level), basehub and daskhub (nested)."""
    from deployer.local.layers import SwitchedOff
    from deployer.plan.release_spec import ReleaseSpec
    from deployer.render.inputs import ReadyRelease

    spec = ReleaseSpec("c/h", "h", "h", "c", "x", None, (), hub="h")
    for path in ("ingress.enabled", "jupyterhub.ingress.enabled", "basehub.jupyterhub.ingress.enabled"):
        assert ReadyRelease(spec, None, {}, [SwitchedOff(path, "no ingress here")]).ingress_switched_off, path
    for path in ("nginx-ingress.enabled", "jupyterhub.ingress.tls", "jupyterhub.prePuller.hook.enabled"):
        assert not ReadyRelease(spec, None, {}, [SwitchedOff(path, "x")]).ingress_switched_off, path
    assert not ReadyRelease(spec, None, {}).ingress_switched_off
