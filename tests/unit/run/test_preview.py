"""`deployer preview`: the preview's own substitutions (pure: deployer.local.preview_layer), its name, and
how it aims a fleet hub at the local cluster (deployer.run.preview.target) on the real corpus."""

from __future__ import annotations


import pytest

from deployer.errors import UsageError
from deployer.local.preview_layer import HOME_CLAIM, preview_layer
from deployer.plan.values_merge import merge_values
from deployer.run.preview import NotPreviewable, PreviewRequest, preview_name, target
from tests.conftest import REPO

CORPUS = REPO.parent / "shared" / "corpus" / "2i2c"


def test_a_preview_is_named_after_its_cluster_and_hub_within_helms_limit():
    assert preview_name("hhmi", "staging") == "preview-hhmi-staging"
    long = preview_name("nasa-ghg-hub-with-a-very-long-name", "a-staging-hub-of-great-length")
    assert len(long) <= 53 and long.startswith("preview-nasa-ghg-hub") and long != preview_name("x", "y")
    assert preview_name("Odd_Cluster", "hub.1") == "preview-odd-cluster-hub-1"


def test_cloud_only_parts_become_local_and_each_is_listed():
    hub = {"jupyterhub": {
        "hub": {"nodeSelector": {"pool": "core"}, "config": {
            "JupyterHub": {"authenticator_class": "github"},
            "Authenticator": {"admin_users": ["ada"], "allowed_users": ["bob"]}}},
        "singleuser": {"nodeSelector": {"node.kubernetes.io/instance-type": "n2-highmem-2"},
                       "memory": {"guarantee": "3.4G", "limit": "3.4G"},
                       "extraContainers": [{"name": "mysql", "image": "datajoint/mysql:8.0"},
                                           {"name": "mine", "image": "deployer.local/singleuser:x"}]},
        "scheduling": {"userPods": {"nodeAffinity": {"matchNodePurpose": "require"}}},
        "ingress": {"enabled": True},
        "proxy": {"https": {"enabled": True}},
    }, "nfs": {"enabled": True, "pv": {"enabled": True, "serverIP": "10.0.0.2"}},
        "jupyterhub-home-nfs": {"enabled": True}}
    layer = preview_layer(hub, "basehub")
    final = merge_values(hub, layer.values)
    z2jh = final["jupyterhub"]
    assert z2jh["hub"]["nodeSelector"] is None and z2jh["singleuser"]["nodeSelector"] is None
    assert z2jh["singleuser"]["memory"] == {"guarantee": "256M", "limit": "3.4G"}  # the limit stays
    assert z2jh["singleuser"]["extraContainers"] == [{"name": "mine", "image": "deployer.local/singleuser:x"}]
    assert z2jh["scheduling"]["userPods"]["nodeAffinity"]["matchNodePurpose"] == "prefer"
    assert z2jh["hub"]["config"]["JupyterHub"]["authenticator_class"] == "dummy"
    assert z2jh["hub"]["config"]["Authenticator"] == {"admin_users": ["ada"], "allowed_users": ["bob"]}
    assert final["nfs"]["pv"]["enabled"] is False and final["jupyterhub-home-nfs"]["enabled"] is False
    assert layer.home_claim
    assert [s.line() for s in layer.substituted] == [
        "jupyterhub.hub.nodeSelector: pool=core -> (none: one local node)",
        "jupyterhub.singleuser.nodeSelector: node.kubernetes.io/instance-type=n2-highmem-2 -> (none: one local node)",
        "jupyterhub.scheduling.userPods.nodeAffinity.matchNodePurpose: require -> prefer",
        "jupyterhub.singleuser.memory.guarantee: 3.4G -> 256M (reserved here; sized for a cloud node; the limit stays)",
        "jupyterhub.hub.config.JupyterHub.authenticator_class: github -> dummy (admin_users and allowed_users kept)",
        f"nfs.pv.enabled: the NFS share on 10.0.0.2 -> a local claim {HOME_CLAIM} (homes stay <claim>/<user>)",
    ]
    assert [o.component for o in layer.switched_off] == [
        "jupyterhub.singleuser.extraContainers[mysql]", "jupyterhub.ingress.enabled", "jupyterhub.proxy.https.enabled",
        "jupyterhub-home-nfs.enabled"]


def test_profiles_keep_their_options_but_lose_node_selectors_and_guarantees():
    profiles = [{"display_name": "Large", "kubespawner_override": {"node_selector": {"pool": "big"},
                                                                  "mem_guarantee": "30G", "mem_limit": "32G",
                                                                  "cpu_limit": 4},
                 "profile_options": {"image": {"choices": {"a": {"kubespawner_override": {
                     "image": "x:1", "node_selector": {"gpu": "yes"}}}}}}}]
    layer = preview_layer({"singleuser": {"profileList": profiles}}, "jupyterhub")
    held = layer.values["singleuser"]["profileList"][0]
    # what it reserves: the guarantee, else the limit (Kubernetes' rule): both lowered, the limits kept
    assert held["kubespawner_override"] == {"mem_guarantee": "256M", "mem_limit": "32G", "cpu_limit": 4,
                                            "cpu_guarantee": 0.05}
    assert held["profile_options"]["image"]["choices"]["a"]["kubespawner_override"] == {"image": "x:1"}
    assert profiles[0]["kubespawner_override"]["node_selector"] == {"pool": "big"}  # not changed in place


def test_a_hub_with_nothing_of_the_cloud_is_not_changed():
    layer = preview_layer({"jupyterhub": {"hub": {"config": {"JupyterHub": {"authenticator_class": "dummy"}}}}},
                          "basehub")
    assert layer.values == {} and layer.substituted == [] and layer.switched_off == [] and not layer.home_claim


@pytest.fixture
def corpus():
    if not (CORPUS / "config" / "clusters" / "hhmi" / "cluster.yaml").is_file():
        pytest.skip("the corpus is not at ../shared/corpus")
    return CORPUS


def test_a_fleet_hub_is_aimed_at_the_local_cluster_as_a_release_of_its_own(corpus, tmp_path):
    aim = target(PreviewRequest(corpus, "hhmi", "staging", tmp_path / "local"))
    spec = aim.spec
    assert (spec.id, spec.release, spec.namespace) == ("preview/hhmi/staging", "preview-hhmi-staging",
                                                      "preview-hhmi-staging")
    assert (spec.provider, spec.hub, spec.domain) == ("local", "staging", "staging.hhmi.2i2c.cloud")
    assert [p.name for p in spec.values_files] == ["staging.values.yaml"]  # its own files, in order
    assert aim.local.provider.value == "local" and aim.local.local.state_dir == str(tmp_path / "local")
    assert aim.source.provider.value == "gcp"


def test_an_unknown_cluster_or_hub_is_a_usage_error_listing_the_known_ones(corpus, tmp_path):
    with pytest.raises(UsageError) as e:
        target(PreviewRequest(corpus, "hhmi", "nope"))
    assert e.value.message == "cluster `hhmi` has no hub named `nope`"
    assert e.value.hint == "known hubs: staging, spyglass, binder"
    with pytest.raises(UsageError) as e:
        target(PreviewRequest(corpus, "nope", "staging"))
    assert "known clusters: 2i2c, 2i2c-uk" in e.value.hint


def test_a_chart_the_local_cluster_cannot_run_is_named_with_why(tmp_path):
    root = tmp_path / "repo"
    folder = root / "config" / "clusters" / "c"
    folder.mkdir(parents=True)
    (folder / "cluster.yaml").write_text(
        "name: c\nprovider: local\nhubs:\n- name: h\n  domain: h.example.org\n  helm_chart: support\n"
        "  helm_chart_values_files: []\n")
    with pytest.raises(NotPreviewable) as e:
        target(PreviewRequest(root, "c", "h"))
    assert e.value.message.startswith("hub `h` of `c` deploys the chart `support`, which the local cluster cannot "
                                      "preview")


def test_quantities_and_what_a_server_reserves():
    from deployer.local.preview_layer import quantity

    assert quantity("3.4G", "memory") == 3.4e9 and quantity("4Gi", "memory") == 4 * 1024 ** 3
    assert quantity("500m", "cpu") == 0.5 and quantity(2, "cpu") == 2.0 and quantity("x", "cpu") is None
    # a small guarantee under a big limit reserves the guarantee only: nothing to change
    layer = preview_layer({"singleuser": {"cpu": {"guarantee": 0.1, "limit": 2}, "memory": {"limit": "3G"}}},
                          "jupyterhub")
    assert layer.values == {"singleuser": {"memory": {"guarantee": "256M"}}}


def test_storage_classes_of_the_cloud_give_way_to_the_local_default_one():
    hub = {"jupyterhub": {"hub": {"db": {"pvc": {"storageClassName": "managed-premium"}}},
                          "singleuser": {"storage": {"dynamic": {"storageClass": "gp3"}}}}}
    layer = preview_layer(hub, "basehub")
    final = merge_values(hub, layer.values)["jupyterhub"]
    assert final["hub"]["db"]["pvc"]["storageClassName"] is None
    assert final["singleuser"]["storage"]["dynamic"]["storageClass"] is None
    assert [s.line() for s in layer.substituted] == [
        "jupyterhub.hub.db.pvc.storageClassName: managed-premium -> (none: the local default StorageClass "
        "deployer-local)",
        "jupyterhub.singleuser.storage.dynamic.storageClass: gp3 -> (none: the local default StorageClass "
        "deployer-local)"]


def test_a_preview_runs_deploys_stages_once_each_offline_before_the_local_cluster_is_asked(tmp_path, monkeypatch):
    """preview is an ending of the pipeline (render/pipeline.py): its one release gets a value plan, is made
    ready, rendered and fleet-checked, each once, all before the local cluster is asked (here: down)."""
    from deployer.adapters.process import ProcessRunner
    from deployer.errors import DeployerError
    from deployer.render.pipeline import FLEET, PLANS, READY, RENDER
    from deployer.run.preview import preview
    from deployer.run.release import DeployOptions
    from tests.conftest import require_chart_repo, require_corpus

    monkeypatch.setenv("DEPLOYER_CHART_REPO", str(require_chart_repo()))
    request = PreviewRequest(require_corpus(), "hhmi", "staging", local_dir=tmp_path / "local",
                             options=DeployOptions(work_dir=tmp_path / "charts", chart_repo=require_chart_repo()))
    with pytest.raises(DeployerError) as e:
        preview(request, ProcessRunner(), lambda event: None)
    assert e.value.message.startswith("the local cluster is not up (down): ")
    for stage in (PLANS, READY, RENDER, FLEET):
        assert request.counts.releases(stage) == {"preview/hhmi/staging": 1}, stage
