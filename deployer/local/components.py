"""What each component of the local cluster runs with (its command line and the port it listens on,
the same for a first start and a repair), and starting it as a background process whose PID, start
time, port and log are recorded in the cluster's state."""

from __future__ import annotations

import os
from pathlib import Path

from deployer.adapters.process import ProcessRunner
from deployer.local import certs, procs, state_file
from deployer.local.spec import (
    Component, Layout, State, apiserver_args, containerd_args, controller_manager_args, coredns_args, etcd_args,
    kubelet_args, provisioner_args, proxy_args, scheduler_args,
)


def component_args(layout: Layout, name: str, tools: dict[str, Path], pki: certs.Pki,
                   state: State) -> tuple[list[str], int | None]:
    """How component `name` is started, and the port it listens on (None: no TCP port of its own)."""
    ports, tool = state.ports, tools[name]
    match name:
        case "etcd":
            return etcd_args(tool, layout, ports), ports["etcd"]
        case "containerd":
            return containerd_args(tool, layout), None
        case "kube-apiserver":
            return apiserver_args(tool, pki, ports, node=state.node), ports["api"]
        case "kube-controller-manager":
            return controller_manager_args(tool, pki, layout, ports), ports["kcm"]
        case "kube-scheduler":
            return scheduler_args(tool, layout, ports), ports["scheduler"]
        case "kubelet":
            return kubelet_args(tool, layout), ports["kubelet"]
        case "kube-proxy":
            return proxy_args(tool, layout), None
        case "coredns":
            return coredns_args(tool, layout), 53
        case "volume-provisioner":
            return provisioner_args(tool, layout), None
    raise ValueError(f"no such component: {name}")


def spawn_component(layout: Layout, runner: ProcessRunner, state: State, tools: dict[str, Path], pki: certs.Pki,
                    name: str) -> None:
    args, port = component_args(layout, name, tools, pki, state)
    spawn(layout, runner, state, name, args, port)


def spawn(layout: Layout, runner: ProcessRunner, state: State, name: str, args: list[str], port: int | None) -> None:
    """Start `args` in the cluster's folder, output to `logs/<name>.log`, and record it (state saved)."""
    log = layout.log(name)
    env = {"PATH": component_path(os.environ.get("PATH", "/usr/bin:/bin"))}
    proc = runner.spawn(args, log_file=log, cwd=layout.root, env=env)
    state.components.append(Component(name, proc.pid, procs.start_ticks(proc.pid), port, str(log)))
    state_file.save(layout, state)


def component_path(path: str) -> str:
    """The components' PATH: the kubelet, kube-proxy and containerd call runc, iptables, mount and
    conntrack by name, which live in /usr/sbin or /sbin."""
    return path + "".join(f":{d}" for d in ("/usr/sbin", "/sbin") if d not in path.split(":"))
