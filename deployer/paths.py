"""Where deployer reads and writes, computed explicitly (no import-time globals, nothing inside
the installed package).

- The configuration repository (`find_root`): `--root`, `$DEPLOYER_ROOT`, or the nearest parent
  folder of the working directory that has `config/clusters`.
- State (`state_dir`): the local cluster, the chart cache, run reports, provision outputs.
  `--state-dir`, `$DEPLOYER_STATE_DIR`, else `<repository>/.deployer` (git-ignored), else,
  outside any repository, `$XDG_STATE_HOME/deployer` (`~/.local/state/deployer`).
- The per-user cache (`cache_dir`): pinned external tools and expensive builds (Kubernetes
  binaries, images), keyed by version, shared by every repository of the user.
  `$DEPLOYER_CACHE_DIR`, else `$XDG_CACHE_HOME/deployer` (`~/.cache/deployer`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from deployer.errors import ConfigError
from deployer.userfiles import path_problem, short_path

ROOT_ENV = "DEPLOYER_ROOT"
STATE_DIR_ENV = "DEPLOYER_STATE_DIR"
CACHE_DIR_ENV = "DEPLOYER_CACHE_DIR"
CLUSTERS_DIR = Path("config") / "clusters"
STATE_FOLDER = ".deployer"


def package_dir() -> Path:
    """The installed `deployer` package folder: read-only data shipped with deployer lives below it."""
    return Path(__file__).resolve().parent


def shipped_data(name: str) -> Path:
    """A read-only folder shipped with deployer (`helm-charts`, `terraform`): inside the installed
    package (`deployer/_data/<name>`, put there by the wheel build), else beside the package in a
    source checkout or an editable install."""
    packaged = package_dir() / "_data" / name
    if packaged.is_dir():
        return packaged
    return package_dir().parent / name


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _xdg(env: Mapping[str, str], var: str, default: str) -> Path:
    value = env.get(var, "")
    # the XDG spec: a relative path in these variables is invalid and must be ignored
    if value and os.path.isabs(value):
        return Path(value)
    return Path(env.get("HOME") or Path.home()) / default


def find_root(explicit: Path | str | None = None, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Return the repository that holds `config/clusters`.

    Order: an explicit `--root`, then `$DEPLOYER_ROOT`, then the nearest parent of the
    working directory that has `config/clusters`.
    """
    env = _env(env)
    if explicit is None and env.get(ROOT_ENV):
        explicit = Path(env[ROOT_ENV])
    if explicit is not None:
        if str(explicit).strip() == "":
            raise ConfigError("--root is empty", hint="pass the path of a repository that has config/clusters")
        root = Path(explicit).expanduser()
        problem = path_problem(root)
        if problem:
            raise ConfigError(f"--root {short_path(root)}: {problem}",
                              hint="pass the path of a repository that has config/clusters")
        if not (root / CLUSTERS_DIR).is_dir():
            raise ConfigError(
                f"{root}: no {CLUSTERS_DIR} folder here",
                hint=f"pass --root (or set {ROOT_ENV}) to a repository that has {CLUSTERS_DIR}/<cluster>/cluster.yaml,"
                " or create one with `deployer init`",
            )
        return root.resolve()
    start = (cwd or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if (candidate / CLUSTERS_DIR).is_dir():
            return candidate
    raise ConfigError(
        f"no {CLUSTERS_DIR} folder in {start} or any parent folder",
        hint=f"run inside a configuration repository, pass --root PATH (or set {ROOT_ENV}), or create one with `deployer init`",
    )


def try_find_root(explicit: Path | str | None = None, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """`find_root`, or None when there is no configuration repository (for commands that work without one)."""
    try:
        return find_root(explicit, cwd, env)
    except ConfigError:
        return None


def state_dir(root: Path | None = None, explicit: Path | str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The state folder: `--state-dir`, `$DEPLOYER_STATE_DIR`, `<root>/.deployer`, else the user's XDG state folder."""
    env = _env(env)
    if explicit is None and env.get(STATE_DIR_ENV):
        explicit = Path(env[STATE_DIR_ENV])
    if explicit is not None:
        if str(explicit).strip() == "":
            raise ConfigError("the state folder is empty", hint=f"pass --state-dir PATH or set {STATE_DIR_ENV} to a folder")
        return _usable_state_dir(Path(explicit).expanduser(), f"--state-dir (or {STATE_DIR_ENV})").resolve()
    if root is not None:
        return _usable_state_dir(root / STATE_FOLDER, "the repository's state folder")
    return _usable_state_dir(_xdg(env, "XDG_STATE_HOME", ".local/state") / "deployer", "the user's state folder")


def _usable_state_dir(path: Path, what: str) -> Path:
    """`path` when it is a folder or can be made one; else a ConfigError naming it."""
    problem = path_problem(path)
    if problem is None and os.path.lexists(path) and not os.path.isdir(path):
        problem = "it is a file, not a folder"
    if problem:
        raise ConfigError(f"{what} {short_path(path)}: {problem}",
                          hint=f"pass --state-dir PATH (or set {STATE_DIR_ENV}) to a folder, or one that can be created")
    return path


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The per-user cache: `$DEPLOYER_CACHE_DIR`, else `$XDG_CACHE_HOME/deployer` (`~/.cache/deployer`)."""
    env = _env(env)
    if env.get(CACHE_DIR_ENV):
        return Path(env[CACHE_DIR_ENV]).expanduser().resolve()
    return _xdg(env, "XDG_CACHE_HOME", ".cache") / "deployer"


TOOLS_DIR_ENV = "DEPLOYER_TOOLS_DIR"


def tools_root(env: Mapping[str, str] | None = None) -> Path:
    """The tool cache: `$DEPLOYER_TOOLS_DIR`, else `<cache>/tools`."""
    env = _env(env)
    if env.get(TOOLS_DIR_ENV):
        return Path(env[TOOLS_DIR_ENV]).expanduser().resolve()
    return cache_dir(env) / "tools"


def tool_dir(tool: str, version: str, env: Mapping[str, str] | None = None) -> Path:
    """`<tool cache>/<tool>/<version>`: one pinned tool's files (binaries under `bin/`)."""
    return tools_root(env) / tool / version
