"""Taking a local cluster down: every process stopped and every change to the host taken back
(network namespaces, iptables chains, links, the node address, mounts, sysctls, CNI results, log
links, shim sockets), then the folder emptied down to what is kept. Never under another folder's
running node; never following a mount out of the folder."""

from __future__ import annotations

import shutil

from deployer.adapters.process import ProcessRunner
from deployer.local import host, procs
from deployer.local.node_lock import other_node
from deployer.local.spec import MARKER, Baseline, Layout, State

STOP_GRACE = 3.0


def teardown(layout: Layout, runner: ProcessRunner, state: State | None, *, node: bool, keep_logs: bool = False,
             keep_data: bool = False) -> list[tuple[str, int]]:
    """Stop every process and take back every change to the host; the folder keeps only the
    marker (and the logs when `keep_logs`, after a failed start)."""
    root = layout.root
    baseline = state.baseline if state else Baseline()
    comps = {c.name: c for c in (state.components if state else [])}
    stopped: list[tuple[str, int]] = []

    def stop(names: tuple[str, ...]) -> None:
        live = [comps[n] for n in names if n in comps and procs.is_alive(comps[n].pid, comps[n].ticks)]
        host.kill_processes([c.pid for c in live], grace=STOP_GRACE)
        stopped.extend((c.name, c.pid) for c in live)

    stop(("volume-provisioner", "kubelet", "kube-proxy", "coredns", "kube-scheduler", "kube-controller-manager"))
    with_node = state.node if state is not None else node
    if not with_node or other_node(root):  # never sweep the host under another folder's running node
        stop(("containerd", "kube-apiserver", "etcd"))
        host.kill_processes(host.processes_using(str(root) + "/"), grace=STOP_GRACE)
        clear_folder(layout, keep=(MARKER, layout.lock_file.name) + (("logs",) if keep_logs else ())
                       + (("volumes",) if keep_data else ()))
        return stopped
    host.kill_pods()
    stop(("containerd",))
    # shims and anything else started with our folder in its command line
    recorded = {c.pid for c in comps.values()}
    host.kill_processes([p for p in host.processes_using(str(root) + "/") if p not in recorded], grace=STOP_GRACE)
    stop(("kube-apiserver", "etcd"))
    host.kill_processes(host.processes_using(str(root) + "/"), grace=STOP_GRACE)  # anything left
    host.unmount_all(host.mounts_under(root))
    host.remove_netns(baseline.netns)
    host.delete_chains(runner)
    host.delete_links(runner)
    if state is None or baseline.node_ip_added:
        host.remove_node_ip(runner)
    host.remove_cni_results()
    host.remove_log_links(layout.pod_logs, baseline.container_logs_existed)
    host.remove_shim_sockets(baseline.shim_sockets, baseline.run_containerd_existed)
    if state is not None:
        host.write_sysctl("ip_forward", baseline.ip_forward)
        if baseline.bridge_nf_call_iptables is not None:
            host.write_sysctl("bridge_nf_call_iptables", baseline.bridge_nf_call_iptables)
    for c in comps.values():
        procs.reap(c.pid)
    clear_folder(layout, keep=(MARKER, layout.lock_file.name) + (("logs",) if keep_logs else ())
                       + (("volumes",) if keep_data else ()))
    return stopped


def clear_folder(layout: Layout, keep: tuple[str, ...]) -> None:
    """Remove the content of our (marked) folder, never following a mount out of it."""
    root = layout.root
    if not layout.marker.is_file() or not root.is_dir():
        return
    host.unmount_all(host.mounts_under(root))
    for child in root.iterdir():
        if child.name in keep:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
