"""The keys hubs put under basehub/daskhub: they work, or validate refuses them by name with a
hint (never dropped silently). Checked on real files through FileReader."""

from __future__ import annotations

from pathlib import Path

from deployer.checks.hub_values import check_hub_values
from deployer.config.file_reader import FileReader


def files(tmp_path: Path, *texts: str):
    reader = FileReader(tmp_path)
    out = []
    for i, text in enumerate(texts):
        path = tmp_path / f"{i}.values.yaml"
        path.write_text(text)
        out.append(reader.read(path))
    return out


def codes(problems) -> list[tuple[str, str, int]]:
    return [(p.code, p.file, p.line) for p in problems]


def test_the_keys_basehub_implements_pass(tmp_path):
    assert check_hub_values("h", "basehub", files(tmp_path, """\
nfs:
  enabled: true
  pv: {enabled: true, baseShareName: /, mountOptions: [soft]}
  shareCreator: {enabled: true}
  dirsizeReporter: {enabled: true, reportTotalSize: true}
dask-gateway:
  enabled: true
  gateway: {auth: {jupyterhub: {jupyterhubServiceName: dask-gateway}}}
jupyterhub: {}
jupyterhub-home-nfs:
  gke: {volumeId: projects/p/zones/z/disks/d}
binderhub-service:
  enabled: true
  config: {BinderHub: {image_prefix: quay.io/org/hub-}}
jupyterhub-groups-exporter: {enabled: true}
userServiceAccount: {enabled: true, annotations: {a: b}}
nodePlaceholder: {enabled: true, replicas: 1}
inClusterNFS: {enabled: false}
""")) == []


def test_a_binderhub_without_an_image_registry_is_refused_at_its_switch_with_the_key_to_set(tmp_path):
    [p] = check_hub_values("h", "basehub", files(tmp_path, "jupyterhub: {}\nbinderhub-service:\n  enabled: true\n"))
    assert (p.code, p.file, p.line) == ("binderhub-registry-missing", "0.values.yaml", 3)
    assert p.message == ("hub h: `binderhub-service.enabled: true` but BinderHub has no image registry to push the "
                         "images it builds to (`binderhub-service.config.BinderHub.image_prefix` is not set)")
    assert p.hint.startswith("set `binderhub-service.config.BinderHub.image_prefix`")


def test_a_binderhub_without_a_registry_by_choice_passes(tmp_path):
    assert check_hub_values("h", "basehub", files(tmp_path, "binderhub-service:\n  enabled: true\n  config:\n"
                                                            "    BinderHub: {use_registry: false}\n")) == []


def test_the_last_file_decides_a_switch(tmp_path):
    on_then_off = files(tmp_path, "binderhub-service: {enabled: true}\n", "binderhub-service: {enabled: false}\n")
    assert check_hub_values("h", "basehub", on_then_off) == []
    (tmp_path / "x").mkdir()
    off_then_on = files(tmp_path / "x", "binderhub-service: {enabled: false}\n", "binderhub-service:\n  enabled: true\n")
    assert codes(check_hub_values("h", "basehub", off_then_on)) == [("binderhub-registry-missing", "1.values.yaml", 2)]


def test_the_nfs_server_on_with_another_server_named_is_refused_at_the_address(tmp_path):
    [p] = check_hub_values("h", "basehub", files(tmp_path, "nfs:\n  enabled: true\n  pv:\n    enabled: true\n",
                                                 "nfs:\n  pv:\n    serverIP: fs-1.efs.example.com\n"))
    assert (p.code, p.file, p.line) == ("nfs-server-conflict", "1.values.yaml", 3)
    assert p.message == ("hub h: the in-cluster NFS server is on (`nfs.enabled`) and `nfs.pv.serverIP` points at "
                         "another server (fs-1.efs.example.com): homes would not be on the server this hub runs")
    assert p.hint == ("remove `nfs.pv.serverIP` (it defaults to the in-cluster server's Service), or keep it and set "
                      "`jupyterhub-home-nfs.enabled: false`")


def test_the_nfs_server_switched_off_leaves_an_explicit_address_alone(tmp_path):
    assert check_hub_values("h", "basehub", files(tmp_path, "nfs:\n  enabled: true\n  pv:\n    enabled: true\n"
                                                            "    serverIP: fs-1.efs.example.com\n"
                                                            "jupyterhub-home-nfs: {enabled: false}\n")) == []


def test_the_servers_own_service_or_an_ip_address_is_not_a_conflict(tmp_path):
    own = files(tmp_path, "nfs:\n  enabled: true\n  pv: {enabled: true, "
                          "serverIP: storage-quota-home-nfs.h.svc.cluster.local}\n")
    assert check_hub_values("h", "basehub", own) == []
    (tmp_path / "x").mkdir()
    [p] = check_hub_values("h", "basehub", files(tmp_path / "x", "nfs:\n  enabled: true\n  pv:\n    enabled: true\n"
                                                                 "    serverIP: 10.100.1.2\n"))
    assert (p.code, p.severity.value, p.line) == ("nfs-server-address-pinned", "warning", 5)


def test_home_nfs_settings_with_the_server_off_are_refused(tmp_path):
    [p] = check_hub_values("h", "basehub", files(tmp_path, "jupyterhub-home-nfs:\n  gke: {volumeId: d}\n"))
    assert (p.code, p.line) == ("home-nfs-server-off", 2)
    assert p.hint.startswith("set `nfs.enabled: true`")


def test_nfs_homes_with_no_server_at_all_are_refused(tmp_path):
    [p] = check_hub_values("h", "basehub", files(tmp_path, "nfs:\n  enabled: true\n  pv:\n    enabled: true\n"
                                                            "jupyterhub-home-nfs: {enabled: false}\n"))
    assert (p.code, p.line) == ("nfs-server-missing", 4)


def test_two_claims_home_nfs_are_refused(tmp_path):
    [p] = check_hub_values("h", "basehub", files(tmp_path, "nfs: {enabled: true, pv: {enabled: true}}\n"
                                                            "inClusterNFS: {enabled: true}\n"))
    assert (p.code, p.line) == ("nfs-claim-twice", 2)


def test_daskhub_gateway_settings_at_the_top_level_are_refused_with_where_to_move_them(tmp_path):
    [p] = check_hub_values("h", "daskhub", files(tmp_path, "basehub: {jupyterhub: {}}\ndask-gateway:\n  gateway: {}\n"))
    assert (p.code, p.line) == ("daskhub-gateway-moved", 2)
    assert p.hint.startswith("move the `dask-gateway:` block under `basehub:`")


def test_daskhub_checks_basehub_keys_under_basehub(tmp_path):
    problems = check_hub_values("h", "daskhub", files(tmp_path, """\
basehub:
  binderhub-service:
    enabled: true
  staticWebsite:
    enabled: true
"""))
    assert codes(problems) == [("static-website-unavailable", "0.values.yaml", 5),
                               ("binderhub-registry-missing", "0.values.yaml", 3)]


def test_settings_of_a_part_basehub_lacks_are_a_warning_naming_them(tmp_path):
    [p] = check_hub_values("h", "basehub", files(tmp_path, "staticWebsite:\n  githubAuth: {githubApp: {id: 1}}\n"))
    assert (p.code, p.severity.value, p.line) == ("static-website-unavailable", "warning", 2)


def test_an_unknown_top_level_key_is_named_with_the_keys_basehub_takes(tmp_path):
    [p] = check_hub_values("h", "basehub", files(tmp_path, "jupyterhbu: {}\n"))
    assert p.code == "unknown-values-key"
    assert p.message == "hub h: unknown key `jupyterhbu` for the basehub chart: it would be refused by the chart's schema"
    assert p.hint.startswith("basehub's keys: global, jupyterhub, nfs, inClusterNFS, jupyterhub-home-nfs")


def test_sops_metadata_is_not_a_key(tmp_path):
    assert check_hub_values("h", "basehub", files(tmp_path, "jupyterhub: {}\nsops: {version: 3.9.0}\n")) == []


def test_a_value_stored_encrypted_is_not_judged(tmp_path):
    assert check_hub_values("h", "basehub", files(tmp_path, "nfs:\n  enabled: ENC[AES256_GCM,data:x,type:bool]\n"
                                                            "  pv: {enabled: true}\n")) == []
