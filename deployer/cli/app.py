"""The typer application, its global options, and the boundary that maps errors to exit codes."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from deployer.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, DeployerError
from deployer.paths import ROOT_ENV, find_root

log = logging.getLogger("deployer")


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


@dataclass
class AppState:
    """Handed to every command through typer's context: one place for global options."""

    root_option: Optional[str] = None  # the raw text: Path("") would silently become "."
    verbose: bool = False

    def root(self) -> Path:
        if self.root_option is not None and not self.root_option.strip():
            return find_root(Path(" "))  # find_root refuses an empty explicit root (ConfigError)
        return find_root(Path(self.root_option).expanduser() if self.root_option is not None else None)


app = typer.Typer(
    name="deployer",
    help="Turn a git repository of per-cluster YAML into running JupyterHubs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from deployer import __version__

        typer.echo(f"deployer {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _global_options(
    ctx: typer.Context,
    root: Optional[str] = typer.Option(
        None,
        "--root",
        envvar=ROOT_ENV,
        metavar="PATH",
        help="Repository holding config/clusters (default: nearest parent folder that has one).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug lines (redacted) to stderr."),
    version: bool = typer.Option(False, "--version", help="Print deployer's version and exit.",
                                 is_eager=True, callback=_print_version),
) -> None:
    from deployer.redact import install_log_redaction

    install_log_redaction(verbose)  # every log record redacted; library body logging held at WARNING
    ctx.obj = AppState(root_option=root, verbose=verbose)


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, AppState) else AppState()


def print_error(err: DeployerError) -> None:
    from deployer.redact import redact

    typer.echo(redact(f"error: {err.message}"), err=True)
    if err.hint:
        typer.echo(redact(f"  hint: {err.hint}"), err=True)


def _click_exceptions():
    """The click exception classes typer raises: typer >= 0.25 bundles its own click
    (`typer._click`); older typer uses the click package. The pinned range is in pyproject.toml."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older typer
        from click import exceptions
    return exceptions


def run_app(application: typer.Typer, args: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; never let a traceback reach a user for a known error.

    Usage errors (unknown option or command, missing argument, bad choice or type) print click's
    own message and exit 2; deployer's errors print their message and hint (redacted) and exit
    with their code; Ctrl-C exits 130.
    """
    click_exc = _click_exceptions()
    try:
        rc = application(args=args, standalone_mode=False, prog_name="deployer")
    except DeployerError as err:
        print_error(err)
        return err.exit_code
    except typer.Exit as e:
        return e.exit_code
    except click_exc.UsageError as e:
        e.show()
        return EXIT_USAGE
    except typer.Abort:
        typer.echo("aborted", err=True)
        return EXIT_FAILED
    except click_exc.ClickException as e:
        e.show()
        return e.exit_code
    except SystemExit as e:  # typer/click exits
        return e.code if isinstance(e.code, int) else EXIT_FAILED
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as e:  # the unexpected: a bug
        log.debug("internal error", exc_info=True)
        from deployer.redact import redact

        typer.echo(redact(f"internal error: {type(e).__name__}: {e}"), err=True)
        typer.echo("  hint: this is a bug in deployer; rerun with --verbose for the traceback and report it", err=True)
        return EXIT_FAILED
    return rc if isinstance(rc, int) else EXIT_OK
