"""A cluster reached through a (sops-encrypted) kubeconfig file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from deployer.adapters.clouds.base import ClusterAccess
from deployer.adapters.sops import Sops
from deployer.config.file_reader import is_secret_name
from deployer.config.yamlload import YamlProblem, decode, load_yaml
from deployer.errors import DeployerError

# What in a kubeconfig names or locates things rather than proving who one is: not registered as
# secrets (a user named `deployer` would hide that word in every message). Everything else is: tokens,
# passwords, client keys, exec and auth-provider settings, and keys this list does not know.
PUBLIC_KEYS = ("apiVersion", "kind", "name", "current-context", "cluster", "user", "namespace", "server",
               "certificate-authority", "certificate-authority-data", "tls-server-name", "client-certificate",
               "client-certificate-data", "client-key", "username", "as", "as-uid", "as-groups", "command",
               "installHint", "interactiveMode", "provideClusterInfo")

HINT = "fix the kubeconfig (`kubectl config view --kubeconfig FILE` shows what kubectl makes of it)"


class KubeconfigInvalid(DeployerError):
    """A kubeconfig file that no Kubernetes client could use."""


@contextlib.contextmanager
def access(file: Path, sops: Sops, context: Optional[str] = None) -> Iterator[ClusterAccess]:
    if is_secret_name(file.name):
        with sops.decrypted_file(file, public_keys=PUBLIC_KEYS) as plain:
            check_kubeconfig(plain, file.name)
            yield ClusterAccess(plain, context, description=f"kubeconfig {file.name} (decrypted for this run)")
    else:
        check_kubeconfig(file, file.name)
        yield ClusterAccess(file, context, description=f"kubeconfig {file.name}")


def check_kubeconfig(path: Path, name: str) -> None:
    """Refuse, with the key named, a kubeconfig of the wrong shape (before helm and the Kubernetes
    client fail on it with their own, less clear, errors). Values are never shown: it may be secret."""
    try:
        loaded = load_yaml(decode(path.read_bytes()), positions=False).data
    except OSError as e:
        raise KubeconfigInvalid(f"{name}: cannot read it: {e.strerror}") from e
    except YamlProblem as e:
        # keep-from-None: the YamlProblem's own cause is the parser's error (ruamel's pure-Python parser quotes
        # the failing line) or a UnicodeDecodeError holding the whole file in its args: a plain kubeconfig's
        # credentials, which the redactor is never given (only sops-decrypted files are registered)
        raise KubeconfigInvalid(f"{name}: not YAML (line {e.line}: {e.message})", HINT) from None
    except UnicodeError:
        # keep-from-None: a UnicodeDecodeError holds the whole file in its args (a plain kubeconfig's credentials)
        raise KubeconfigInvalid(f"{name}: not UTF-8 text", HINT) from None
    problem = kubeconfig_problem(loaded)
    if problem:
        raise KubeconfigInvalid(f"{name}: {problem}", HINT)


def kubeconfig_problem(data: Any) -> Optional[str]:
    """What is wrong with a parsed kubeconfig's shape, or None."""
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}"
        return f"a kubeconfig is a mapping (apiVersion, clusters, contexts, users), not {what}"
    for key, inner in (("clusters", "cluster"), ("contexts", "context"), ("users", "user")):
        items = data.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            return f"`{key}` must be a list of named {key}, not {type(items).__name__}"
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                return f"`{key}[{i}]` must be a mapping with `name`"
            if item.get(inner) is not None and not isinstance(item[inner], dict):
                return f"`{key}[{i}].{inner}` must be a mapping, not {type(item[inner]).__name__}"
    current = data.get("current-context")
    if current is not None and not isinstance(current, str):
        return f"`current-context` must be a string, not {type(current).__name__}"
    return None
