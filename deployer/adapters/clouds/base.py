"""What every provider's credentials come down to: a kubeconfig (and a context in it)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from deployer import stopping
from deployer.errors import DeployerError

# Environment variables through which a cloud SDK or CLI picks its credentials. A child process
# working on one cluster gets none of them from our environment: only the ones its cluster sets.
CLOUD_CREDENTIAL_ENV: dict[str, tuple[str, ...]] = {
    "aws": (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
        "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    ),
    "gcp": (
        "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON",
        "GCLOUD_KEYFILE_JSON", "GOOGLE_OAUTH_ACCESS_TOKEN", "CLOUDSDK_CONFIG",
        "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", "CLOUDSDK_CORE_ACCOUNT",
        "CLOUDSDK_CORE_PROJECT", "GOOGLE_CLOUD_PROJECT",
    ),
    "azure": (
        "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID",
        "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_USERNAME", "AZURE_PASSWORD",
        "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CONFIG_DIR", "ARM_CLIENT_ID", "ARM_CLIENT_SECRET", "ARM_TENANT_ID",
        "ARM_SUBSCRIPTION_ID", "ARM_ACCESS_KEY", "ARM_SAS_TOKEN", "ARM_USE_MSI", "ARM_USE_OIDC",
        "AAD_SERVICE_PRINCIPAL_CLIENT_ID", "AAD_SERVICE_PRINCIPAL_CLIENT_SECRET",
    ),
}
ALL_CLOUD_ENV: tuple[str, ...] = tuple(n for names in CLOUD_CREDENTIAL_ENV.values() for n in names)

# set in the environment of a command run with a cluster's credentials: nesting is refused
NESTED_ENV = "DEPLOYER_CLUSTER_CREDENTIALS"


@dataclass(frozen=True)
class ClusterAccess:
    kubeconfig: Path
    context: Optional[str] = None
    # extra environment a child process needs next to the kubeconfig (never os.environ).
    # Cloud credential variables this cluster does not set are given as "" (unset, for every
    # cloud SDK), so that merged over our environment no other cloud's credentials leak through.
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """A complete environment for a child: `base` without any cloud's credential variables,
        plus this cluster's own (the blanked ones removed outright), plus KUBECONFIG."""
        env = {k: v for k, v in base.items() if k not in ALL_CLOUD_ENV}
        env.update({k: v for k, v in self.env.items() if v != "" or k not in ALL_CLOUD_ENV})
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env


def credential_env(own: Mapping[str, str]) -> dict[str, str]:
    """`own` plus every other cloud credential variable blanked (see ClusterAccess.env)."""
    env = {name: "" for name in ALL_CLOUD_ENV}
    env.update(own)
    return env


@contextlib.contextmanager
def private_dir(prefix: str) -> Iterator[Path]:
    """An owner-only temporary folder, removed on every exit path (a stopped command's included:
    it is registered with the stop policy)."""
    policy = stopping.current()
    folder = policy.secret_folder(prefix)
    try:
        os.chmod(folder, 0o700)
        yield folder
    finally:
        policy.remove_folder(folder)


def write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file the cloud CLI created keeps its own mode through O_TRUNC
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def inject_exec_env(kubeconfig: Path, env: Mapping[str, str]) -> int:
    """Add `env` to the `exec:` credential plugin of every user in `kubeconfig` (kubectl, helm
    and the Python client run that plugin with it). Returns how many users have a plugin.
    The file is rewritten as JSON (valid YAML), owner-only."""
    from deployer.config.yamlload import YamlProblem, decode, load_yaml

    try:
        data: Any = load_yaml(decode(kubeconfig.read_bytes()), positions=False).data
    except (OSError, YamlProblem) as e:
        raise DeployerError(f"the kubeconfig written for the cluster cannot be read: {e}",
                            hint="rerun with --verbose to see what the cloud CLI printed") from e
    if not isinstance(data, dict):
        raise DeployerError("the kubeconfig written for the cluster is empty or not a mapping")
    count = 0
    for user in data.get("users") or []:
        plugin = (user or {}).get("user", {}).get("exec") if isinstance(user, dict) else None
        if not isinstance(plugin, dict):
            continue
        entries = [e for e in (plugin.get("env") or []) if isinstance(e, dict) and e.get("name") not in env]
        entries.extend({"name": k, "value": v} for k, v in env.items())
        plugin["env"] = entries
        count += 1
    write_private(kubeconfig, json.dumps(data, indent=2))
    return count
