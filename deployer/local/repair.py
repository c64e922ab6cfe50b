"""Repair: start again only the components that died, keeping everything the cluster holds (etcd's
data, containerd's images and containers, the releases): what a second `up` does after a crash of
the kubelet or containerd."""

from __future__ import annotations

import time
from pathlib import Path

from deployer.adapters.process import ProcessRunner
from deployer.local import certs, procs, readiness, state_file
from deployer.local.components import spawn_component
from deployer.local.node_lock import LocalClusterError, machine_lock
from deployer.local.spec import COMPONENTS, Layout

FIRST = ("etcd", "containerd")  # the others need these: each is waited for before the next starts


def repair(layout: Layout, runner: ProcessRunner, tools: dict[str, Path], timeout: float) -> list[str] | None:
    """The components started again (in start order), or None when a repair cannot work (no state,
    the folder's keys are gone, nothing or something unknown died) and the caller starts afresh."""
    state = state_file.load(layout)
    if state is None:
        return None
    try:
        pki = certs.load(layout.pki)
    except (OSError, IndexError, KeyError, ValueError):
        return None
    dead = [c for c in state.components if not procs.is_alive(c.pid, c.ticks)]
    if not dead or any(c.name not in COMPONENTS for c in dead):
        return None
    names = sorted((c.name for c in dead), key=COMPONENTS.index)
    for c in dead:
        procs.reap(c.pid)
    state.components = [c for c in state.components if c.name not in names]
    state_file.save(layout, state)
    deadline = time.monotonic() + timeout

    def wait(name: str) -> None:
        readiness.wait(state, name, deadline, readiness.ready_check(layout, state, name))

    with machine_lock(state.node, timeout):
        try:
            for name in names:
                spawn_component(layout, runner, state, tools, pki, name)
                if name in FIRST:
                    wait(name)
            later = [n for n in names if n not in FIRST]
            if "containerd" in names and "kubelet" not in later:
                later.append("kubelet")  # a node cut off from its runtime is Ready once the kubelet reports
            for name in later:
                wait(name)
        except LocalClusterError as e:
            raise LocalClusterError(f"restarting {', '.join(names)} failed: {e.message}",
                                    hint=(e.hint + "; " if e.hint else "")
                                    + "or start afresh with `deployer local down && deployer local up`"
                                      " (the cluster's releases are lost then)") from e
    return names
