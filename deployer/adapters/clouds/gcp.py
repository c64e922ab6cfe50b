"""A GKE cluster: `gcloud container clusters get-credentials` with the deployer's service-account key.

The key is decrypted (sops) into an owner-only temporary file; gcloud runs with a private
CLOUDSDK_CONFIG (the operator's own gcloud login is never used nor changed), and writes a
temporary kubeconfig whose exec plugin (gke-gcloud-auth-plugin) gets the same environment.
Everything is removed when the `with` block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from deployer.adapters.clouds.base import ClusterAccess, credential_env, inject_exec_env, private_dir
from deployer.adapters.clouds.cli import cli_binary, run_cli, scrubbed_env
from deployer.adapters.sops import Sops
from deployer.config.models import GcpConfig


# What a service-account key file holds that names things (not registered as secrets): all but
# `private_key` and `private_key_id`, and keys this list does not know
PUBLIC_KEYS = ("type", "project_id", "client_email", "client_id", "auth_uri", "token_uri",
               "auth_provider_x509_cert_url", "client_x509_cert_url", "universe_domain")


def location_flag(location: str) -> str:
    """`--zone` for a zone (us-central1-b), `--region` for a region (us-central1)."""
    return "--zone" if len(location.split("-")) >= 3 else "--region"


@contextlib.contextmanager
def access(cfg: GcpConfig, folder: Path, sops: Sops, binary: Optional[Path] = None) -> Iterator[ClusterAccess]:
    gcloud = cli_binary("gcloud", binary)
    runner = sops.runner
    key_path = folder / cfg.key
    with private_dir("deployer-gcp-") as tmp, sops.decrypted_file(key_path, public_keys=PUBLIC_KEYS) as key:
        kubeconfig = tmp / "kubeconfig"
        own = {
            "CLOUDSDK_CONFIG": str(tmp / "gcloud"),
            "GOOGLE_APPLICATION_CREDENTIALS": str(key),
            "CLOUDSDK_CORE_PROJECT": cfg.project,
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "USE_GKE_GCLOUD_AUTH_PLUGIN": "True",
        }
        env = scrubbed_env({**own, "KUBECONFIG": str(kubeconfig)})
        hint = f"check the service-account key {cfg.key} and `gcp.project`/`gcp.cluster`/`gcp.zone` in cluster.yaml"
        run_cli(runner, [gcloud, "auth", "activate-service-account", f"--key-file={key}", "--quiet"], env,
                "gcloud auth activate-service-account", hint)
        run_cli(runner, [gcloud, "container", "clusters", "get-credentials", cfg.cluster,
                         f"--project={cfg.project}", f"{location_flag(cfg.zone)}={cfg.zone}", "--quiet"], env,
                "gcloud container clusters get-credentials", hint)
        inject_exec_env(kubeconfig, own)
        yield ClusterAccess(kubeconfig, env=credential_env(own),
                            description=f"GKE cluster {cfg.cluster} in {cfg.project} ({cfg.zone})")
