"""An EKS cluster: `aws eks update-kubeconfig` with the deployer's access key.

The key (sops-encrypted JSON, `{"AccessKey": {"AccessKeyId": ..., "SecretAccessKey": ...}}` as
`aws iam create-access-key` prints it) is decrypted into memory and written to a private
AWS_SHARED_CREDENTIALS_FILE (owner-only, in a temporary folder, with a private AWS_CONFIG_FILE);
the kubeconfig's exec plugin (`aws eks get-token`) gets the same environment. Removed when the
`with` block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from deployer.adapters.clouds.base import ClusterAccess, credential_env, inject_exec_env, private_dir, write_private
from deployer.adapters.clouds.cli import cli_binary, run_cli, scrubbed_env
from deployer.adapters.sops import Sops
from deployer.config.models import AwsConfig
from deployer.errors import DeployerError

PROFILE = "deployer"


def access_key(data: Any, file: str) -> tuple[str, str]:
    """(key id, secret) from the decrypted key file; the error names the file, never its content."""
    block = data.get("AccessKey") if isinstance(data, dict) else None
    if isinstance(block, dict) and isinstance(block.get("AccessKeyId"), str) and isinstance(block.get("SecretAccessKey"), str):
        return block["AccessKeyId"], block["SecretAccessKey"]
    raise DeployerError(f"{file}: not an AWS access key (expected AccessKey.AccessKeyId and AccessKey.SecretAccessKey)",
                        hint="store the output of `aws iam create-access-key --user-name <user>`, encrypted with sops")


@contextlib.contextmanager
def access(cfg: AwsConfig, folder: Path, sops: Sops, cluster: str = "", binary: Optional[Path] = None,
           ) -> Iterator[ClusterAccess]:
    aws = cli_binary("aws", binary)
    runner = sops.runner
    key_id, secret = access_key(sops.decrypt_data(folder / cfg.key), cfg.key)
    runner.redactor.add(secret)
    with private_dir("deployer-aws-") as tmp:
        credentials = write_private(tmp / "credentials",
                                    f"[{PROFILE}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n")
        config = write_private(tmp / "config", f"[profile {PROFILE}]\nregion = {cfg.region}\n")
        kubeconfig = tmp / "kubeconfig"
        own = {
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_CONFIG_FILE": str(config),
            "AWS_PROFILE": PROFILE,
            "AWS_DEFAULT_REGION": cfg.region,
            "AWS_REGION": cfg.region,
        }
        hint = f"check the access key in {cfg.key} and `aws.clusterName`/`aws.region` in cluster.yaml"
        run_cli(runner, [aws, "eks", "update-kubeconfig", "--name", cfg.clusterName, "--region", cfg.region,
                         "--kubeconfig", kubeconfig, "--alias", cluster or cfg.clusterName],
                scrubbed_env(own), "aws eks update-kubeconfig", hint)
        inject_exec_env(kubeconfig, own)
        yield ClusterAccess(kubeconfig, env=credential_env(own),
                            description=f"EKS cluster {cfg.clusterName} in {cfg.region} (account {cfg.account})")
