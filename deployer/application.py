"""The application object: built once per invocation, handed to every command.

It holds what every command shares: where the configuration repository and the state folder
are, verbosity, and the one ProcessRunner (with its Redactor) through which every external
program runs. Secrets registered with the redactor are masked in every log line, command line
and error message of the invocation. It knows nothing of the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from deployer.adapters.process import ProcessRunner
from deployer.errors import ConfigError
from deployer.paths import STATE_DIR_ENV, find_root, state_dir, try_find_root
from deployer.redact import Redactor


@dataclass
class Application:
    root_option: Path | str | None = None
    state_dir_option: Path | str | None = None
    verbose: bool = False
    redactor: Redactor = field(default_factory=Redactor)

    @cached_property
    def runner(self) -> ProcessRunner:
        return ProcessRunner(redactor=self.redactor)

    def root(self) -> Path:
        """The configuration repository (an error naming the fix when there is none)."""
        return find_root(self.root_option)

    def state_dir(self) -> Path:
        """`--state-dir`, `$DEPLOYER_STATE_DIR`, `<repository>/.deployer`, else the user's state folder."""
        return state_dir(try_find_root(self.root_option) if self.root_option is None else self.root(),
                         self.state_dir_option)

    def writable_state_dir(self, sub: str = "") -> Path:
        """The state folder (or a subfolder), created if needed; a clear error when it cannot be written."""
        folder = self.state_dir() / sub if sub else self.state_dir()
        return ensure_writable(folder, what="the state folder", hint=f"pass --state-dir DIR or set {STATE_DIR_ENV}")

    def charts_work_dir(self) -> Path:
        """Where chart dependencies are built (a cache of the state folder)."""
        return self.writable_state_dir("charts")

    def redact(self, text: str) -> str:
        return self.redactor(text)


def ensure_writable(folder: Path, *, what: str, hint: str) -> Path:
    """Create `folder` (and parents) and check a file can be made in it; ConfigError otherwise."""
    import os

    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"{what} {folder} cannot be written: {e.strerror or e}", hint=hint) from e
    return folder
