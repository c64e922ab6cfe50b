"""The external tools deployer drives: where they are, which version, and whether they are intact.

Tools live in the per-user cache, one folder per pinned version
(`<cache>/tools/<package>/<version>/bin/<name>`, see `deployer.paths`), filled by
`deployer tools install`; they are looked up there first, then on PATH. A cached binary that has a
`<name>.sha256` file beside it is checked against that pin before use: a corrupt cached binary is
a clear error, never a mysterious crash later.

`TOOLS` (deployer.toolchain.pins), `parse_version` and the path logic are pure; `doctor` runs each
tool's version command through the ProcessRunner.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from deployer.errors import DeployerError, ToolError, ToolMissing
from deployer.paths import TOOLS_DIR_ENV, tools_root  # noqa: F401 (TOOLS_DIR_ENV re-exported)
from deployer.toolchain.pins import INSTALL_HINT, TOOLS, ToolSpec
from deployer.stopping import thread_pool

__all__ = ["INSTALL_HINT", "TOOLS", "ToolSpec", "find_tool", "tools_dir", "tool_bin_dir", "terraform_env", "doctor"]

VERSION_TIMEOUT = 30.0

_VERSION_RE = re.compile(r"v?(\d+\.\d+\.\d+)")
_JSON_VERSION_RE = re.compile(r'"(?:gitVersion|terraform_version)"\s*:\s*"v?(\d+\.\d+\.\d+)')


def parse_version(output: str) -> str | None:
    """The tool's own version from what its version command printed (pure)."""
    m = _JSON_VERSION_RE.search(output) or _VERSION_RE.search(output)
    return m.group(1) if m else None


def tools_dir(env: Mapping[str, str] | None = None) -> Path:
    """The root of the tool cache: `$DEPLOYER_TOOLS_DIR`, else `<cache>/tools` (deployer.paths.tools_root)."""
    return tools_root(env)


def tool_bin_dir(spec: ToolSpec, tools: Path | None = None) -> Path:
    """`<tools>/<package>/<version>/bin`: where `deployer tools install` puts this tool. A package's
    version is its first tool's pin (the npm layer that brings helm and kubectl is `helm/3.17.3`)."""
    from deployer.toolchain.pins import package_version

    tools = tools_dir() if tools is None else tools
    return tools / spec.package / package_version(spec.package, spec) / "bin"


def terraform_env(tools: Path | None = None) -> dict[str, str]:
    """Environment for terraform: our CLI config, whose provider mirror keeps it off the network."""
    return {"TF_CLI_CONFIG_FILE": str(terraform_config_file(tools))}


def terraform_config_file(tools: Path | None = None) -> Path:
    tools = tools_dir() if tools is None else tools
    spec = TOOLS["terraform"]
    return tools / spec.package / (spec.pinned or "any") / "cli.tfrc"


# --- checksums ----------------------------------------------------------------------------------



@functools.lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int, ino: int) -> str:
    """A file's SHA-256, hashed once per (path, size, mtime, inode): a memo of a pure function."""
    return sha256_file(Path(path))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pin_file(binary: Path) -> Path:
    return binary.with_name(binary.name + ".sha256")


def read_pin(binary: Path) -> str | None:
    """The SHA-256 recorded for a cached binary (`sha256sum` format), or None when it has none."""
    pin = pin_file(binary)
    if not pin.is_file():
        return None
    text = pin.read_text(encoding="utf-8", errors="replace").split()
    return text[0].lower() if text else ""


def verify_pin(binary: Path) -> None:
    """Raise ToolError when `binary` does not match the SHA-256 pinned beside it.

    A file is hashed once per process for the same (size, mtime, inode).
    """
    expected = read_pin(binary)
    if expected is None:
        return
    st = binary.stat()
    actual = _file_sha256(str(binary), st.st_size, st.st_mtime_ns, st.st_ino)
    if actual != expected:
        raise ToolError(
            f"{binary}: checksum mismatch (expected SHA-256 {expected[:16]}…, found {actual[:16]}…); "
            "the cached binary is corrupt or was replaced",
            hint="run `deployer tools install`: it reinstalls every tool whose checksum is wrong",
        )


# --- lookup -------------------------------------------------------------------------------------


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_tool(name: str, *, tools: Path | None = None, path_env: str | None = None, verify: bool = True) -> Path:
    """Where `name` is: the tool cache first (checksum-verified), then PATH."""
    tools = tools_dir() if tools is None else tools
    spec = TOOLS.get(name)
    looked = tool_bin_dir(spec, tools) if spec else tools
    if spec:
        local = looked / name
        if _executable(local):
            if verify:
                verify_pin(local)
            return local
    if spec and spec.source.kind == "path":
        # a tool that comes with deployer's own Python environment (moto_server), even when that
        # environment's bin folder is not on PATH (a venv used without activating it)
        beside = Path(sys.executable).parent / name
        if _executable(beside):
            return beside
    found = shutil.which(name, path=os.environ.get("PATH", os.defpath) if path_env is None else path_env)
    if found:
        return Path(found)
    raise ToolMissing(
        f"{name}: not found in {looked} nor on PATH",
        hint=spec.hint if spec else INSTALL_HINT,
    )


# --- doctor -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolStatus:
    name: str
    required: bool
    found: bool
    ok: bool
    version: str | None
    pinned: str | None
    path: str | None
    problem: str | None
    hint: str | None
    purpose: str = ""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def check_tool(spec: ToolSpec, *, runner, tools: Path | None = None) -> ToolStatus:
    """Find one tool, verify its checksum, and ask its version (through `runner`, the invocation's
    ProcessRunner: the toolchain sits below the adapters and is handed it)."""
    tools = tools_dir() if tools is None else tools

    def status(found: bool, ok: bool, path: Path | None, version=None, problem=None, hint=None) -> ToolStatus:
        return ToolStatus(spec.name, spec.required, found, ok, version, spec.pinned,
                          str(path) if path else None, problem, hint, spec.purpose)

    try:
        path = find_tool(spec.name, tools=tools)
    except ToolMissing as e:
        return status(False, False, None, problem="not found", hint=e.hint)
    except ToolError as e:
        return status(True, False, tool_bin_dir(spec, tools) / spec.name, problem=e.message, hint=e.hint)
    if spec.version_args is None:
        return status(True, True, path)
    env = terraform_env(tools) if spec.name == "terraform" else None
    try:
        done = runner.run([path, *spec.version_args], timeout=VERSION_TIMEOUT, env=env)
    except DeployerError as e:
        return status(True, False, path, problem=e.message, hint=e.hint or spec.hint)
    version = parse_version(done.stdout + "\n" + done.stderr)
    if not done.ok or version is None:
        return status(True, False, path, problem=f"`{spec.name} {' '.join(spec.version_args)}` failed (exit {done.returncode})",
                      hint=spec.hint)
    problem = None
    if spec.pinned and version != spec.pinned:
        problem = f"version {version} differs from the pinned {spec.pinned}"
    return status(True, True, path, version=version, problem=problem)


def doctor(*, runner, tools: Path | None = None, names: list[str] | None = None) -> list[ToolStatus]:
    """Every tool's status, in `TOOLS` order (version commands run two at a time)."""
    specs = [TOOLS[n] for n in (names or list(TOOLS))]
    with thread_pool(2) as pool:
        return list(pool.map(lambda s: check_tool(s, tools=tools, runner=runner), specs))


def missing_required(statuses: list[ToolStatus]) -> list[ToolStatus]:
    return [s for s in statuses if s.required and not s.ok]
