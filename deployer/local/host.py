"""What the local node changes on the host, and how `down` takes each change back.

The node adds: NODE_IP on the loopback interface; `net.ipv4.ip_forward` and
`net.bridge.bridge-nf-call-iptables` set to 1; the CNI bridge and its veth pairs; network
namespaces under /run/netns (one per pod); iptables chains (KUBE-* from the kubelet and
kube-proxy, CNI-* from the bridge and portmap plugins); CNI result files in /var/lib/cni/results;
containerd shim sockets in /run/containerd/s; cgroups under `kubepods`; mounts (overlay root
file systems, volumes, namespaces). Each is listed by a `leftovers` function a test can count,
and removed by `down`. Reading uses /proc and /sys; changes go through the ProcessRunner (`ip`,
`iptables`) or, for mounts, umount2(2).
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from deployer.adapters.process import ProcessRunner
from deployer.errors import DeployerError
from deployer.local.spec import BRIDGE, CNI_NETWORK, NODE_IP

RUN_NETNS = Path("/run/netns")
CNI_RESULTS = Path("/var/lib/cni/results")
RUN_CONTAINERD = Path("/run/containerd")
SHIM_SOCKETS = RUN_CONTAINERD / "s"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTAINER_LOGS = Path("/var/log/containers")  # the kubelet's symlinks to pod logs (a fixed path)
KUBEPODS = "kubepods"
CHAIN_PREFIXES = ("KUBE-", "CNI-")
TABLES = ("filter", "nat", "mangle", "raw")
SYSCTLS = {"ip_forward": "net/ipv4/ip_forward", "bridge_nf_call_iptables": "net/bridge/bridge-nf-call-iptables"}
MNT_DETACH = 2
IP_TIMEOUT = 20.0


class HostProblem(DeployerError):
    """The host lacks something the node needs (a kernel feature, a program)."""


# ---- reading -----------------------------------------------------------------------------


def read_sysctl(name: str) -> str | None:
    try:
        return (Path("/proc/sys") / SYSCTLS[name]).read_text().strip()
    except OSError:
        return None


def write_sysctl(name: str, value: str) -> None:
    (Path("/proc/sys") / SYSCTLS[name]).write_text(value + "\n")


def mounts_under(*roots: Path) -> list[str]:
    """Mount points at or below any of `roots` (from /proc/self/mountinfo), deepest first."""
    prefixes = [str(r).rstrip("/") for r in roots]
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def netns_names() -> list[str]:
    try:
        return sorted(p.name for p in RUN_NETNS.iterdir())
    except OSError:
        return []


def shim_sockets() -> list[str]:
    try:
        return sorted(p.name for p in SHIM_SOCKETS.iterdir())
    except OSError:
        return []


def cni_results() -> list[str]:
    """Our network's cached CNI results (files are named `<network>-<container>-<interface>`)."""
    try:
        return sorted(p.name for p in CNI_RESULTS.iterdir() if p.name.startswith(CNI_NETWORK + "-"))
    except OSError:
        return []


def links() -> list[str]:
    """Our network interfaces: the bridge and the host ends of pod veth pairs attached to it."""
    out = []
    net = Path("/sys/class/net")
    for dev in sorted(net.iterdir()) if net.is_dir() else []:
        master = dev / "master"
        if dev.name == BRIDGE or (master.exists() and os.path.basename(os.readlink(master)) == BRIDGE):
            out.append(dev.name)
    return out


def node_ip_present(runner: ProcessRunner) -> bool:
    r = runner.run(["ip", "-4", "-o", "addr", "show", "dev", "lo"], timeout=IP_TIMEOUT)
    return f"inet {NODE_IP}/32" in r.stdout


def iptables_chains(runner: ProcessRunner) -> list[str]:
    """`table/CHAIN` of every KUBE-* and CNI-* chain, in iptables and ip6tables."""
    found = []
    for binary in ("iptables", "ip6tables"):
        for table in TABLES:
            r = runner.run([binary, "-w", "5", "-t", table, "-S"], timeout=IP_TIMEOUT)
            if not r.ok:
                continue
            for line in r.stdout.splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "-N" and parts[1].startswith(CHAIN_PREFIXES):
                    found.append(f"{binary}:{table}/{parts[1]}")
    return found


def kubepods_cgroups() -> list[Path]:
    """Every `kubepods` cgroup folder, deepest first, in every v1 hierarchy."""
    out: list[Path] = []
    if not CGROUP_ROOT.is_dir():
        return out
    for hierarchy in CGROUP_ROOT.iterdir():
        top = hierarchy / KUBEPODS
        if top.is_dir():
            out += [Path(d) for d, _, _ in os.walk(top)]
    return sorted(out, key=lambda p: -len(p.parts))


def processes_using(marker: str) -> list[int]:
    """PIDs whose command line mentions `marker` (our state folder or containerd socket)."""
    pids = []
    me = {os.getpid(), os.getppid()}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) in me:
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            pids.append(int(d.name))
    return pids


@dataclass
class Leftovers:
    """Everything of a local node still on the host; all empty after a clean `down`."""

    processes: list[int] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    iptables_chains: list[str] = field(default_factory=list)
    cni_results: list[str] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)
    containerd_state: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    log_links: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.__dict__.items()}

    @property
    def empty(self) -> bool:
        return not any(self.__dict__.values())


def log_links(pod_logs: Path) -> list[str]:
    """The kubelet's /var/log/containers symlinks that point into our pod log folder."""
    out = []
    try:
        for p in CONTAINER_LOGS.iterdir():
            if p.is_symlink() and os.readlink(p).startswith(str(pod_logs) + "/"):
                out.append(p.name)
    except OSError:
        pass
    return sorted(out)


def remove_log_links(pod_logs: Path, existed: bool) -> None:
    for name in log_links(pod_logs):
        (CONTAINER_LOGS / name).unlink(missing_ok=True)
    if not existed:
        try:
            CONTAINER_LOGS.rmdir()
        except OSError:
            pass


def leftovers(runner: ProcessRunner, root: Path, baseline_netns: list[str] = (),
              baseline_shims: list[str] = (), pod_logs: Path | None = None) -> Leftovers:
    return Leftovers(
        processes=processes_using(str(root) + "/"),
        # /run/netns itself is a mount point once anyone ran `ip netns add`: only namespaces below it count
        mounts=mounts_under(root) + [m for m in mounts_under(RUN_NETNS)
                                     if m != str(RUN_NETNS) and Path(m).name not in baseline_netns],
        interfaces=links(),
        addresses=[NODE_IP] if node_ip_present(runner) else [],
        iptables_chains=iptables_chains(runner),
        cni_results=cni_results(),
        netns=[n for n in netns_names() if n.startswith("cni-") and n not in baseline_netns],
        containerd_state=([str(root / "containerd")] if (root / "containerd").exists() else [])
        + [s for s in shim_sockets() if s not in baseline_shims],
        cgroups=[str(p) for p in kubepods_cgroups()],
        log_links=log_links(pod_logs or root / "pod-logs"),
    )


# ---- setting up --------------------------------------------------------------------------


def check_kernel() -> None:
    """The kernel features the node needs, each a clear message when missing."""
    fs = Path("/proc/filesystems").read_text()
    if "overlay" not in fs.split():
        raise HostProblem("the kernel has no overlay file system (containerd's overlayfs snapshotter needs it); "
                          "load it with `modprobe overlay`")
    if read_sysctl("bridge_nf_call_iptables") is None:
        raise HostProblem("the kernel has no br_netfilter (/proc/sys/net/bridge is missing): Services cannot reach "
                          "pods on the CNI bridge; load it with `modprobe br_netfilter`")
    if not (CGROUP_ROOT / "memory").is_dir() and not (CGROUP_ROOT / "cgroup.controllers").exists():
        raise HostProblem("no cgroup file system at /sys/fs/cgroup")
    if os.geteuid() != 0:
        raise HostProblem("a real node needs root (containerd, the kubelet and iptables change the host)")


def add_node_ip(runner: ProcessRunner) -> bool:
    """Put NODE_IP on the loopback interface; False when it was already there (then not ours to remove)."""
    if node_ip_present(runner):
        return False
    r = runner.run(["ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo"], timeout=IP_TIMEOUT)
    if not r.ok:
        raise HostProblem(f"cannot add the node address {NODE_IP} to lo: {r.stderr.strip()}")
    return True


# ---- taking down -------------------------------------------------------------------------


def kill_pods() -> int:
    """SIGKILL every process in the kubepods cgroups (the containers), then remove the cgroups."""
    killed = 0
    for _ in range(20):
        pids = set()
        for cg in kubepods_cgroups():
            try:
                pids |= {int(p) for p in (cg / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    for cg in kubepods_cgroups():
        try:
            cg.rmdir()
        except OSError:
            pass
    return killed


def kill_processes(pids: list[int], grace: float = 3.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() and _running(p) for p in pids):
            for p in pids:
                try:
                    os.waitpid(p, os.WNOHANG)
                except ChildProcessError:
                    pass
            time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X")


def unmount_all(points: list[str]) -> list[str]:
    """Detach each mount point (deepest first); returns those that could not be unmounted."""
    libc = ctypes.CDLL(None, use_errno=True)
    failed = []
    for point in points:
        if libc.umount2(point.encode(), MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err not in (22, 2):  # EINVAL: not (or no longer) a mount point; ENOENT: gone
                failed.append(f"{point}: {os.strerror(err)}")
    return failed


def delete_chains(runner: ProcessRunner) -> list[str]:
    """Remove every KUBE-* and CNI-* chain: first the rules that jump to them, then flush and delete."""
    problems = []
    for binary in ("iptables", "ip6tables"):
        for table in TABLES:
            r = runner.run([binary, "-w", "5", "-t", table, "-S"], timeout=IP_TIMEOUT)
            if not r.ok:
                continue
            ours = [ln.split()[1] for ln in r.stdout.splitlines()
                    if ln.startswith("-N ") and ln.split()[1].startswith(CHAIN_PREFIXES)]
            if not ours:
                continue
            jump = re.compile(r"-j (" + "|".join(re.escape(c) for c in ours) + r")(\s|$)")
            for line in r.stdout.splitlines():
                parts = line.split()
                if line.startswith("-A ") and not parts[1].startswith(CHAIN_PREFIXES) and jump.search(line):
                    runner.run([binary, "-w", "5", "-t", table, "-D", *_shell_split(line)[1:]], timeout=IP_TIMEOUT)
            for chain in ours:
                runner.run([binary, "-w", "5", "-t", table, "-F", chain], timeout=IP_TIMEOUT)
            for chain in ours:
                d = runner.run([binary, "-w", "5", "-t", table, "-X", chain], timeout=IP_TIMEOUT)
                if not d.ok:
                    problems.append(f"{binary} -t {table} -X {chain}: {d.stderr.strip()}")
    return problems


def _shell_split(line: str) -> list[str]:
    import shlex

    return shlex.split(line)


def delete_links(runner: ProcessRunner) -> None:
    for name in reversed(links()):
        runner.run(["ip", "link", "del", name], timeout=IP_TIMEOUT)


def remove_node_ip(runner: ProcessRunner) -> None:
    if node_ip_present(runner):
        runner.run(["ip", "addr", "del", f"{NODE_IP}/32", "dev", "lo"], timeout=IP_TIMEOUT)


def remove_netns(baseline: list[str]) -> None:
    for name in netns_names():
        if name.startswith("cni-") and name not in baseline:
            unmount_all([str(RUN_NETNS / name)])
            try:
                (RUN_NETNS / name).unlink()
            except OSError:
                pass


def remove_cni_results() -> None:
    for name in cni_results():
        try:
            (CNI_RESULTS / name).unlink()
        except OSError:
            pass


def remove_shim_sockets(baseline: list[str], run_containerd_existed: bool) -> None:
    for name in shim_sockets():
        if name not in baseline:
            try:
                (SHIM_SOCKETS / name).unlink()
            except OSError:
                pass
    if not run_containerd_existed:
        for d in (SHIM_SOCKETS, RUN_CONTAINERD):
            try:
                d.rmdir()  # only when empty
            except OSError:
                pass
