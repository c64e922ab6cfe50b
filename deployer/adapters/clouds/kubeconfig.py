"""A cluster reached through a (sops-encrypted) kubeconfig file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from deployer.adapters.clouds.base import ClusterAccess
from deployer.adapters.sops import Sops
from deployer.config.files import is_secret_name


@contextlib.contextmanager
def access(file: Path, sops: Sops, context: Optional[str] = None) -> Iterator[ClusterAccess]:
    if is_secret_name(file.name):
        with sops.decrypted_file(file) as plain:
            yield ClusterAccess(plain, context, description=f"kubeconfig {file.name} (decrypted for this run)")
    else:
        yield ClusterAccess(file, context, description=f"kubeconfig {file.name}")
