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
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    root: Optional[str] = typer.Option(
        None,
        "--root",
        envvar=ROOT_ENV,
        help="Repository holding config/clusters (default: nearest parent folder that has one).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug lines (redacted) to stderr."),
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


def run_app(application: typer.Typer, args: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; never let a traceback reach a user for a known error."""
    try:
        rc = application(args=args, standalone_mode=False)
    except DeployerError as err:
        print_error(err)
        return err.exit_code
    except typer.Exit as e:
        return e.exit_code
    except SystemExit as e:  # typer/click exits
        return e.code if isinstance(e.code, int) else EXIT_FAILED
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as e:  # click usage errors and the unexpected
        import click

        if isinstance(e, click.exceptions.UsageError):
            e.show()
            return EXIT_USAGE
        if isinstance(e, click.exceptions.Abort):
            typer.echo("aborted", err=True)
            return EXIT_FAILED
        if isinstance(e, click.ClickException):
            e.show()
            return e.exit_code
        log.debug("internal error", exc_info=True)
        from deployer.redact import redact

        typer.echo(redact(f"internal error: {type(e).__name__}: {e}"), err=True)
        typer.echo("  hint: this is a bug in deployer; rerun with --verbose for the traceback and report it", err=True)
        return EXIT_FAILED
    return rc if isinstance(rc, int) else EXIT_OK
