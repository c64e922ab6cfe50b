"""`use-cluster-credentials`: run one command with a cluster's temporary kubeconfig.

load the cluster -> refuse to nest -> get its credentials (a `with` block: everything decrypted
or written is removed at the end) -> run the command with KUBECONFIG and the cluster's own
cloud environment, no other cloud's credential variables -> its exit code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

from deployer.adapters.clouds.base import NESTED_ENV, ClusterAccess, private_dir, write_private
from deployer.adapters.process import ProcessRunner
from deployer.checks.validate import load_valid_cluster
from deployer.config.yamlload import YamlProblem, decode, load_yaml
from deployer.errors import DeployerError
from deployer.run.cluster_connection import open_cluster


def refuse_nesting(env: Mapping[str, str], cluster: str) -> None:
    outer = env.get(NESTED_ENV)
    if outer:
        same = " (the same cluster)" if outer == cluster else ""
        raise DeployerError(
            f"already running with the credentials of cluster `{outer}`{same}: refusing to nest `{cluster}` inside them",
            hint="leave the outer `deployer use-cluster-credentials` command (or shell) first",
        )


def child_env(access: ClusterAccess, base: Mapping[str, str], cluster: str, kubeconfig: Path) -> dict[str, str]:
    env = access.child_env(base)
    env["KUBECONFIG"] = str(kubeconfig)
    env[NESTED_ENV] = cluster
    return env


def with_context(kubeconfig: Path, context: str, folder: Path) -> Path:
    """A private copy of `kubeconfig` whose current context is `context` (for any tool)."""
    try:
        data = load_yaml(decode(kubeconfig.read_bytes()), positions=False).data
    except (OSError, YamlProblem) as e:
        raise DeployerError(f"the cluster's kubeconfig cannot be read: {e}") from e
    names = [c.get("name") for c in (data or {}).get("contexts") or [] if isinstance(c, dict)]
    if context not in names:
        raise DeployerError(f"the kubeconfig has no context `{context}`",
                            hint=f"contexts in it: {', '.join(str(n) for n in names) or '(none)'}")
    data["current-context"] = context
    return write_private(folder / "kubeconfig", json.dumps(data, indent=2))


def run_with_credentials(root: Path, name: str, command: Sequence[str], runner: ProcessRunner,
                         env: Mapping[str, str], timeout: float,
                         binaries: Optional[Mapping[str, Path]] = None, state_dir: Optional[Path] = None) -> int:
    refuse_nesting(env, name)
    cluster = load_valid_cluster(root, name, only_cluster_file=True).model  # the cluster's access, not its hubs
    with open_cluster(root, cluster, runner, binaries=binaries, state_dir=state_dir) as conn, private_dir("deployer-ctx-") as tmp:
        access = conn.access
        kubeconfig = with_context(access.kubeconfig, access.context, tmp) if access.context else access.kubeconfig
        return runner.run_attached(list(command), timeout=timeout,
                                   env=child_env(access, env, name, kubeconfig), replace_env=True)
