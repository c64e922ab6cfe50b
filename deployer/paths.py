"""Finding the configuration repository root, explicitly (no import-time globals)."""

from __future__ import annotations

import os
from pathlib import Path

from deployer.errors import ConfigError

ROOT_ENV = "DEPLOYER_ROOT"
CLUSTERS_DIR = Path("config") / "clusters"


def package_dir() -> Path:
    """The installed `deployer` package folder (charts shipped with deployer live below it)."""
    return Path(__file__).resolve().parent


def find_root(explicit: Path | None = None, cwd: Path | None = None, env: dict[str, str] | None = None) -> Path:
    """Return the repository that holds `config/clusters`.

    Order: an explicit `--root`, then `$DEPLOYER_ROOT`, then the nearest parent of the
    working directory that has `config/clusters`.
    """
    env = os.environ if env is None else env
    if explicit is None and env.get(ROOT_ENV):
        explicit = Path(env[ROOT_ENV])
    if explicit is not None:
        root = explicit.expanduser()
        if not (root / CLUSTERS_DIR).is_dir():
            raise ConfigError(
                f"{root}: no {CLUSTERS_DIR} folder here",
                hint=f"pass --root (or set {ROOT_ENV}) to a repository that has {CLUSTERS_DIR}/<cluster>/cluster.yaml",
            )
        return root.resolve()
    start = (cwd or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if (candidate / CLUSTERS_DIR).is_dir():
            return candidate
    raise ConfigError(
        f"no {CLUSTERS_DIR} folder in {start} or any parent folder",
        hint=f"run inside a configuration repository, or pass --root PATH (or set {ROOT_ENV})",
    )
