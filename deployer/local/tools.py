"""The programs a local cluster runs: Kubernetes, etcd, CoreDNS and the volume provisioner from the
per-user tool cache (exactly the pinned versions, checksum-checked), else PATH; containerd, runc,
iptables and ip from the host's packages."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from deployer.errors import ToolMissing

# program -> the Debian package that has it
HOST_PROGRAMS = {"containerd": "containerd", "containerd-shim-runc-v2": "containerd", "runc": "runc",
                 "ctr": "containerd", "iptables": "iptables", "ip": "iproute2"}


def find_tools(node: bool) -> dict[str, Path]:
    """Each program's path (a node needs the kubelet, kube-proxy, CoreDNS, the provisioner and the host's)."""
    from deployer.toolchain import find_tool, kubebuild

    builds = [kubebuild.etcd_build(), kubebuild.kubernetes_build()] + (
        [kubebuild.coredns_build(), kubebuild.provisioner_build()] if node else [])
    found: dict[str, Path] = {}
    for build in builds:
        names = [n for n in build.binaries if node or n not in ("kubelet", "kube-proxy")]
        cached = kubebuild.installed(build)  # checksum-verified, remembered by file stat
        for name in names:
            found[name] = cached / name if cached is not None else find_tool(name)
    if node:
        found.update(host_programs(os.environ.get("PATH", "") + ":/usr/sbin:/sbin"))
    return found


def host_programs(search_path: str) -> dict[str, Path]:
    """Each of HOST_PROGRAMS found on `search_path`; the first missing one is named with its package."""
    found: dict[str, Path] = {}
    for program, package in HOST_PROGRAMS.items():
        where = shutil.which(program, path=search_path)
        if where is None:
            raise ToolMissing(f"{program}: program not found (the local node needs it)",
                              hint=f"install the Debian package {package} (scripts/install-toolchain.sh does it)")
        found[program] = Path(where)
    return found
