"""Running a cloud CLI (gcloud, aws, az) for credentials: private environment, timeout, clear errors."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

from deployer.adapters.clouds.base import ALL_CLOUD_ENV
from deployer.adapters.process import ProcessRunner, last_line
from deployer.errors import ToolError, ToolMissing
from deployer.toolchain import find_tool

CLI_TIMEOUT = 120.0

INSTALL = {
    "gcloud": "install the Google Cloud CLI (with gke-gcloud-auth-plugin): https://cloud.google.com/sdk/docs/install",
    "aws": "install the AWS CLI: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html",
    "az": "install the Azure CLI (and kubelogin for AAD clusters): https://learn.microsoft.com/cli/azure/install-azure-cli",
    "kubelogin": "install kubelogin, e.g. with `az aks install-cli`",
}


def cli_binary(name: str, explicit: Optional[Path] = None) -> Path:
    if explicit is not None:
        return explicit
    try:
        return find_tool(name)
    except ToolMissing as e:
        raise ToolMissing(f"{name}: not found on PATH; it is needed for this cluster's credentials",
                          hint=INSTALL.get(name, e.hint)) from e


def scrubbed_env(own: Mapping[str, str], base: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """Our environment without any cloud's credential variables, plus `own`."""
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if k not in ALL_CLOUD_ENV}
    env.update(own)
    return env


def run_cli(runner: ProcessRunner, argv: Sequence[str | os.PathLike[str]], env: Mapping[str, str], what: str,
            hint: str, timeout: float = CLI_TIMEOUT) -> None:
    """Run a cloud CLI with exactly `env` (nothing else of ours leaks into it)."""
    result = runner.run(argv, timeout=timeout, env=dict(env), replace_env=True)
    if not result.ok:
        reason = runner.redactor(last_line(result.stderr) or last_line(result.stdout)) or f"exit {result.returncode}"
        raise ToolError(f"{what} failed: {reason}", hint=hint)
