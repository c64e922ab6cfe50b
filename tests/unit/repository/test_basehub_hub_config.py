"""basehub's `00-basehub` extraConfig: the Python the hub runs at start to apply basehub's own
settings (NFS home directories, the Dask Gateway) that reach it through deployer-hub-info.

The snippet is read from basehub's values.yaml and run against a small stand-in for the hub's
traitlets config (`c.KubeSpawner`, `c.JupyterHub`), set as jupyterhub's own config would leave it.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from tests.conftest import REPO

SNIPPET = yaml.safe_load((REPO / "helm-charts" / "basehub" / "values.yaml").read_text())[
    "jupyterhub"]["hub"]["extraConfig"]["00-basehub"]


def run(env: dict[str, str], monkeypatch, *, volumes=None, mounts=None, services=None) -> SimpleNamespace:
    c = SimpleNamespace(
        KubeSpawner=SimpleNamespace(
            storage_pvc_ensure=True,
            # what jupyterhub's dynamic storage configures for each user
            volumes=volumes if volumes is not None else [
                {"name": "volume-{username}{servername}", "persistentVolumeClaim": {"claimName": "claim-{username}{servername}"}}],
            volume_mounts=mounts if mounts is not None else [
                {"name": "volume-{username}{servername}", "mountPath": "/home/jovyan"}],
            environment={},
        ),
        JupyterHub=SimpleNamespace(services=services if services is not None else [
            {"name": "deployer-health"}, {"name": "dask-gateway"}]),
    )
    for key in ("BASEHUB_NFS_HOME", "BASEHUB_NFS_SHARED_MOUNT_PATH", "BASEHUB_DASK_GATEWAY_TRAEFIK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    exec(compile(SNIPPET, "00-basehub", "exec"), {"c": c})  # noqa: S102 - the chart's own code, under test
    return c


def test_without_nfs_or_gateway_nothing_changes(monkeypatch):
    c = run({"BASEHUB_NFS_HOME": "false"}, monkeypatch)
    assert c.KubeSpawner.storage_pvc_ensure is True
    assert [v["name"] for v in c.KubeSpawner.volumes] == ["volume-{username}{servername}"]
    assert c.KubeSpawner.environment == {}
    assert c.JupyterHub.services == [{"name": "deployer-health"}, {"name": "dask-gateway"}]


def test_nfs_homes_replace_the_per_user_volume_with_the_home_share(monkeypatch):
    c = run({"BASEHUB_NFS_HOME": "true", "BASEHUB_NFS_SHARED_MOUNT_PATH": "/home/jovyan/shared"}, monkeypatch)
    assert c.KubeSpawner.storage_pvc_ensure is False
    assert c.KubeSpawner.volumes == [{"name": "home", "persistentVolumeClaim": {"claimName": "home-nfs"}}]
    assert c.KubeSpawner.volume_mounts == [
        {"name": "home", "mountPath": "/home/jovyan", "subPath": "{escaped_username}"},
        {"name": "home", "mountPath": "/home/jovyan/shared", "subPath": "_shared", "readOnly": True},
    ]


def test_nfs_keeps_a_hubs_own_volumes_and_mounts_in_dictionary_form(monkeypatch):
    # corpus hubs mount the `home` volume elsewhere too (e.g. a shared-public folder)
    volumes = {"01-scratch": {"name": "scratch", "emptyDir": {}}}
    mounts = {"01-public": {"name": "home", "mountPath": "/home/jovyan/shared-public", "subPath": "_shared-public"}}
    c = run({"BASEHUB_NFS_HOME": "true"}, monkeypatch, volumes=volumes, mounts=mounts)
    assert c.KubeSpawner.volumes == [{"name": "scratch", "emptyDir": {}},
                                     {"name": "home", "persistentVolumeClaim": {"claimName": "home-nfs"}}]
    assert [m["mountPath"] for m in c.KubeSpawner.volume_mounts] == ["/home/jovyan/shared-public", "/home/jovyan"]


def test_a_hubs_own_home_volume_is_not_replaced(monkeypatch):
    own = [{"name": "home", "persistentVolumeClaim": {"claimName": "elsewhere"}}]
    c = run({"BASEHUB_NFS_HOME": "true"}, monkeypatch, volumes=own, mounts=[])
    assert c.KubeSpawner.volumes == own


@pytest.mark.parametrize("traefik", ["traefik-dask-a-dask-gateway"])
def test_the_gateway_is_registered_at_its_own_traefik_and_users_get_its_addresses(monkeypatch, traefik):
    c = run({"BASEHUB_DASK_GATEWAY_TRAEFIK": traefik}, monkeypatch)
    assert c.JupyterHub.services[1] == {"name": "dask-gateway", "url": f"http://{traefik}"}
    assert c.KubeSpawner.environment == {
        "DASK_GATEWAY__ADDRESS": "http://proxy-public/services/dask-gateway",
        "DASK_GATEWAY__PROXY_ADDRESS": f"gateway://{traefik}:80",
        "DASK_GATEWAY__PUBLIC_ADDRESS": "/services/dask-gateway/",
        "DASK_GATEWAY__AUTH__TYPE": "jupyterhub",
    }


def test_a_hubs_own_volume_of_the_home_claim_is_reused_and_null_entries_are_left_out(monkeypatch):
    """hhmi/staging's shape: its own extraVolumes name the claim home-nfs (a read-only shared folder) and its
    extraVolumeMounts turn default mounts off with null entries. The kubelet mounts one volume per claim in a
    pod (a second volume of it never mounts: ContainerCreating for good), so the home reuses that volume."""
    volumes = {"1-shared-dir-volume": {"name": "shared-dir-pv", "persistentVolumeClaim": {"claimName": "home-nfs"}}}
    mounts = {"002-shared-volumemount": None,
              "1-shared-readonly-volumemount": {"name": "shared-dir-pv", "mountPath": "/home/jovyan/shared-readonly",
                                                "subPath": "_shared", "readOnly": True}}
    c = run({"BASEHUB_NFS_HOME": "true"}, monkeypatch, volumes=volumes, mounts=mounts)
    assert c.KubeSpawner.volumes == [volumes["1-shared-dir-volume"]]
    assert c.KubeSpawner.volume_mounts == [
        mounts["1-shared-readonly-volumemount"],
        {"name": "shared-dir-pv", "mountPath": "/home/jovyan", "subPath": "{escaped_username}"}]


def test_nfs_homes_replace_the_per_user_volume_as_the_jupyterhub_chart_4_3_3_configures_it(monkeypatch):
    """The jupyterhub chart 4.3.3's dynamic storage names the claim `{pvc_name}` (KubeSpawner expands it to
    claim-<user>): left in place, the user pod waited for a claim nobody makes (found by previewing corpus hubs)."""
    c = run({"BASEHUB_NFS_HOME": "true"}, monkeypatch,
            volumes={"volume-{user_server}": {"name": "volume-{user_server}",
                                              "persistentVolumeClaim": {"claimName": "{pvc_name}"}}},
            mounts={"volume-{user_server}": {"name": "volume-{user_server}", "mountPath": "/home/jovyan"}})
    assert c.KubeSpawner.volumes == [{"name": "home", "persistentVolumeClaim": {"claimName": "home-nfs"}}]
    assert c.KubeSpawner.volume_mounts == [
        {"name": "home", "mountPath": "/home/jovyan", "subPath": "{escaped_username}"}]
