"""The keys hubs put under basehub/daskhub: they work, or validate refuses them by name with a
migration hint (never dropped silently). Checked on real files through FileReader."""

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
  pv: {enabled: true, serverIP: 10.0.0.1, baseShareName: /homes/, mountOptions: [soft]}
  shareCreator: {enabled: false}
dask-gateway:
  enabled: true
jupyterhub: {}
jupyterhub-home-nfs:
  enabled: false
  gke: {volumeId: projects/p/zones/z/disks/d}
binderhub-service: {enabled: false}
""")) == []


def test_an_enabled_binderhub_is_refused_at_its_line_with_a_hint(tmp_path):
    [p] = check_hub_values("h", "basehub", files(tmp_path, "jupyterhub: {}\nbinderhub-service:\n  enabled: true\n"))
    assert (p.code, p.file, p.line) == ("binderhub-unavailable", "0.values.yaml", 3)
    assert p.message == ("hub h: `binderhub-service.enabled: true` asks for a BinderHub beside the hub (2i2c's "
                         "binderhub-service chart), which this basehub does not provide")
    assert p.hint.startswith("deploy binderhub-service as its own release")


def test_the_last_file_decides_a_switch(tmp_path):
    on_then_off = files(tmp_path, "binderhub-service: {enabled: true}\n", "binderhub-service: {enabled: false}\n")
    assert check_hub_values("h", "basehub", on_then_off) == []
    (tmp_path / "x").mkdir()
    off_then_on = files(tmp_path / "x", "binderhub-service: {enabled: false}\n", "binderhub-service:\n  enabled: true\n")
    assert codes(check_hub_values("h", "basehub", off_then_on)) == [("binderhub-unavailable", "1.values.yaml", 2)]


def test_home_nfs_server_settings_without_enabled_are_refused(tmp_path):
    [p] = check_hub_values("h", "basehub", files(tmp_path, "nfs:\n  pv: {serverIP: 10.100.1.2}\n"
                                                            "jupyterhub-home-nfs:\n  gke: {volumeId: d}\n"))
    assert (p.code, p.line) == ("home-nfs-server-unavailable", 3)
    assert "nfs.pv.serverIP" in p.hint


def test_daskhub_gateway_settings_at_the_top_level_are_refused_with_where_to_move_them(tmp_path):
    [p] = check_hub_values("h", "daskhub", files(tmp_path, "basehub: {jupyterhub: {}}\ndask-gateway:\n  gateway: {}\n"))
    assert (p.code, p.line) == ("daskhub-gateway-moved", 2)
    assert p.hint.startswith("move the `dask-gateway:` block under `basehub:`")


def test_daskhub_checks_basehub_keys_under_basehub(tmp_path):
    problems = check_hub_values("h", "daskhub", files(tmp_path, """\
basehub:
  dask-gateway:
    gateway:
      auth:
        jupyterhub:
          jupyterhubServiceName: dask-gateway
  staticWebsite:
    enabled: true
"""))
    assert codes(problems) == [("gateway-service-name-unknown", "0.values.yaml", 6),
                               ("static-website-unavailable", "0.values.yaml", 8)]


def test_an_unknown_top_level_key_is_named_with_the_keys_basehub_takes(tmp_path):
    [p] = check_hub_values("h", "basehub", files(tmp_path, "jupyterhbu: {}\n"))
    assert p.code == "unknown-values-key"
    assert p.message == "hub h: unknown key `jupyterhbu` for the basehub chart: it would be refused by the chart's schema"
    assert p.hint.startswith("basehub's keys: global, jupyterhub, nfs, dask-gateway, jupyterhub-home-nfs")


def test_sops_metadata_is_not_a_key(tmp_path):
    assert check_hub_values("h", "basehub", files(tmp_path, "jupyterhub: {}\nsops: {version: 3.9.0}\n")) == []
