"""An AKS cluster: `az login --service-principal`, then `az aks get-credentials`.

The service principal (sops-encrypted JSON with appId, password and tenant, as
`az ad sp create-for-rbac` prints it) is decrypted into memory; `az` runs with a private
AZURE_CONFIG_DIR (the operator's own login is never used nor changed) and writes a temporary
kubeconfig; an exec plugin in it (kubelogin, on AAD clusters) gets the same environment.
Removed when the `with` block ends.

`az login` takes the password on its command line (it has no other way for a secret): it is
registered with the redactor, so our logs never show it, but other processes of the same user
could see it in the process list for the second the login takes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from deployer.adapters.clouds.base import ClusterAccess, credential_env, inject_exec_env, private_dir
from deployer.adapters.clouds.cli import cli_binary, run_cli, scrubbed_env
from deployer.adapters.sops import Sops
from deployer.config.models import AzureConfig
from deployer.errors import DeployerError


def service_principal(data: Any, file: str) -> tuple[str, str, str]:
    if isinstance(data, dict) and all(isinstance(data.get(k), str) for k in ("appId", "password", "tenant")):
        return data["appId"], data["password"], data["tenant"]
    raise DeployerError(f"{file}: not a service principal (expected appId, password and tenant)",
                        hint="store the output of `az ad sp create-for-rbac`, encrypted with sops")


def _uses_kubelogin(kubeconfig: Path) -> bool:
    try:
        return "kubelogin" in kubeconfig.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


@contextlib.contextmanager
def access(cfg: AzureConfig, folder: Path, sops: Sops, binary: Optional[Path] = None) -> Iterator[ClusterAccess]:
    az = cli_binary("az", binary)
    runner = sops.runner
    app_id, password, tenant = service_principal(sops.decrypt_data(folder / cfg.key), cfg.key)
    runner.redactor.add(password)
    with private_dir("deployer-azure-") as tmp:
        kubeconfig = tmp / "kubeconfig"
        own = {"AZURE_CONFIG_DIR": str(tmp / "az"), "AZURE_CORE_COLLECT_TELEMETRY": "false"}
        env = scrubbed_env(own)
        hint = f"check the service principal in {cfg.key} and `azure.resource_group`/`azure.cluster` in cluster.yaml"
        run_cli(runner, [az, "login", "--service-principal", "--username", app_id, "--password", password,
                         "--tenant", tenant, "--output", "none", "--only-show-errors"], env, "az login", hint)
        subscription = ["--subscription", cfg.subscription_id] if cfg.subscription_id else []
        run_cli(runner, [az, "aks", "get-credentials", "--name", cfg.cluster, "--resource-group", cfg.resource_group,
                         *subscription, "--file", kubeconfig, "--overwrite-existing", "--only-show-errors"], env,
                "az aks get-credentials", hint)
        if _uses_kubelogin(kubeconfig):  # AAD clusters: let kubelogin take the az login above
            kubelogin = cli_binary("kubelogin")
            run_cli(runner, [kubelogin, "convert-kubeconfig", "--login", "azurecli", "--kubeconfig", kubeconfig],
                    env, "kubelogin convert-kubeconfig", "install kubelogin (`az aks install-cli`)")
        inject_exec_env(kubeconfig, own)
        yield ClusterAccess(kubeconfig, env=credential_env(own),
                            description=f"AKS cluster {cfg.cluster} in resource group {cfg.resource_group}")
