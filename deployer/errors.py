"""One root for every error the deployer raises on purpose.

Each error carries a one-line message for the user and a hint saying what to do.
The CLI maps them to exit codes; a Python traceback for user input is a bug.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # problems found, or a step failed
EXIT_USAGE = 2  # the command line itself is wrong


class DeployerError(Exception):
    """Root of every error the deployer reports to a user."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class UsageError(DeployerError):
    """The command line names something that does not exist or contradicts itself."""

    exit_code = EXIT_USAGE


class ConfigError(DeployerError):
    """The configuration repository cannot be read at all (no root, no clusters)."""


class ToolError(DeployerError):
    """An external tool is missing, broken, timed out or failed."""


class ToolMissing(ToolError):
    """A tool the command needs was not found."""


class ToolTimeout(ToolError):
    """An external call ran past its timeout."""
