"""The programs a local cluster runs (deployer.local.tools): the host's, each named with its Debian
package when missing; an API-server-only cluster needs none of the node's."""

from __future__ import annotations

import pytest

from deployer.errors import ToolMissing
from deployer.local.cluster import LocalCluster
from deployer.local.tools import HOST_PROGRAMS, find_tools, host_programs
from deployer.toolchain import kubebuild
from tests.conftest import missing
from tests.unit.local.conftest import program


def test_the_host_programs_are_found_on_the_search_path(tmp_path):
    for folder, names in (("a", ("containerd", "runc", "ip")), ("b", ("containerd-shim-runc-v2", "ctr", "iptables"))):
        (tmp_path / folder).mkdir()
        for name in names:
            program(tmp_path / folder, name, "exit 0")
    found = host_programs(f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert found == {"containerd": tmp_path / "a" / "containerd", "containerd-shim-runc-v2": tmp_path / "b" / "containerd-shim-runc-v2",
                     "runc": tmp_path / "a" / "runc", "ctr": tmp_path / "b" / "ctr", "iptables": tmp_path / "b" / "iptables",
                     "ip": tmp_path / "a" / "ip"}


def test_a_missing_host_program_is_named_with_its_package(tmp_path):
    for name in HOST_PROGRAMS:
        if name != "ip":
            program(tmp_path, name, "exit 0")
    with pytest.raises(ToolMissing) as e:
        host_programs(str(tmp_path))
    assert e.value.message == "ip: program not found (the local node needs it)"
    assert e.value.hint == "install the Debian package iproute2 (scripts/install-toolchain.sh does it)"


def test_an_api_server_only_cluster_needs_only_etcd_and_the_control_plane():
    if kubebuild.installed(kubebuild.kubernetes_build()) is None or kubebuild.installed(kubebuild.etcd_build()) is None:
        missing("the Kubernetes and etcd builds in the tool cache (./install.sh)")
    found = find_tools(node=False)
    assert sorted(found) == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    assert found["etcd"] == kubebuild.installed(kubebuild.etcd_build()) / "etcd"


def test_programs_given_to_the_cluster_are_used_as_given(tmp_path):
    given = {"etcd": tmp_path / "etcd"}
    cluster = LocalCluster(tmp_path / "local", tools=given)
    assert cluster._find_tools() == given and cluster._find_tools() is not given
