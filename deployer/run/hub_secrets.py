"""A hub's secrets, known to the redactor before anything of the cluster is shown: the
sops-encrypted values files of the hubs a command acts on (decrypted in memory only), and what
deployed revisions hold at the same key paths (older values the files no longer contain)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from deployer.adapters.helm import Helm
from deployer.adapters.sops import Sops
from deployer.config.models import Cluster
from deployer.errors import DeployerError


def secret_files(root: Path, cluster: Cluster, hubs: list[str], support: bool = False) -> list[Path]:
    """The sops-encrypted files whose values the named hubs (and the support stack) deploy."""
    from deployer.config.file_reader import is_secret_name

    folder = root / "config" / "clusters" / cluster.name
    names: list[str] = []
    if support and cluster.support is not None:
        names += cluster.support.helm_chart_values_files
    for hub in cluster.hubs:
        if hub.name in hubs:
            names += hub.helm_chart_values_files
            if hub.domain_override_file:
                names.append(hub.domain_override_file)
    return [folder / n for n in dict.fromkeys(names) if is_secret_name(Path(n).name)]


def register_secrets(root: Path, cluster: Cluster, hubs: list[str], sops: Sops, support: bool = False) -> int:
    """Decrypt (in memory) every secret values file of these hubs, so that each value is known to
    the redactor before any command output, log line or error can carry it. Returns the count."""
    return len(secret_paths(root, cluster, hubs, sops, support))


def secret_paths(root: Path, cluster: Cluster, hubs: list[str], sops: Sops, support: bool = False) -> list[tuple]:
    """Decrypt (and so register) the hubs' secret files; the key paths of their values."""
    from deployer.redact import leaf_paths

    paths: list[tuple] = []
    for path in secret_files(root, cluster, hubs, support):
        data = sops.decrypt_data(path)  # registers every leaf value; a failure (no key) stops the command
        if isinstance(data, dict):
            data.pop("sops", None)
            paths.extend(leaf_paths(data))
    return paths


async def register_live_secrets(helm: Helm, release: str, namespace: str, paths: list[tuple],
                                revisions: tuple[Optional[int], ...] = (None,)) -> None:
    """What deployed revisions hold at the secret files' key paths are secrets too (older values,
    which today's files no longer contain): register them before showing anything of those
    revisions (diff's live side, rollback's target)."""
    from deployer.redact import strings_at

    if not paths:
        return
    for revision in revisions:
        try:
            values = await helm.user_values(release, namespace, revision)
        except DeployerError:
            continue  # not installed (yet), or no such revision: nothing to hide
        for value in strings_at(values, paths):
            helm.redactor.add(value)
