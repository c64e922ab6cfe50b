"""The typer application, its global options, and the boundary that maps errors to exit codes."""

from __future__ import annotations

import enum
import logging
import signal
from typing import Optional

import typer

from deployer.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, DeployerError
from deployer.application import Application
from deployer.paths import ROOT_ENV, STATE_DIR_ENV

log = logging.getLogger("deployer")


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


class AppState(Application):
    """Handed to every command through typer's context: the application object (deployer.application)."""

    @property
    def app(self) -> Application:
        return self


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
        from deployer import DISTRIBUTION, __version__

        typer.echo(f"{DISTRIBUTION} {__version__}")
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
    state_dir: Optional[str] = typer.Option(
        None,
        "--state-dir",
        envvar=STATE_DIR_ENV,
        help="Folder for deployer's state: local cluster, chart cache, reports (default: <repository>/.deployer).",
        metavar="DIR",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug lines (redacted) to stderr."),
    version: bool = typer.Option(False, "--version", help="Print the installed package's name and version, and exit.",
                                 is_eager=True, callback=_print_version),
) -> None:
    from deployer.redact import install_log_redaction

    app = ctx.obj if isinstance(ctx.obj, AppState) else AppState()  # run_app hands in the invocation's
    app.root_option, app.state_dir_option, app.verbose = root, state_dir, verbose
    install_log_redaction(verbose, app.redactor)  # every log record redacted; library body logging at WARNING
    ctx.obj = app


def state(ctx: typer.Context) -> AppState:
    """The invocation's application object (the one run_app made, on the root context)."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def print_error(err: DeployerError, app: Optional[Application] = None) -> None:
    """One error for the user: message and hint, through the invocation's redactor (which holds
    every secret registered anywhere in the run: its runner, adapters and decrypted files feed it)."""
    from deployer.redact import Redactor

    redact = app.redactor if app is not None else Redactor()

    typer.echo(f"error: {redact(err.message)}", err=True)
    if err.hint:
        typer.echo(f"  hint: {redact(err.hint)}", err=True)
    cause, seen = err.__cause__, 0
    while cause is not None and seen < 10:  # --verbose: the causes, each redacted
        log.debug("caused by %s: %s", type(cause).__name__, redact(str(cause))[:2000])
        cause, seen = cause.__cause__, seen + 1


def _click_exceptions():
    """The click exception classes typer raises: typer >= 0.25 bundles its own click
    (`typer._click`); older typer uses the click package. The pinned range is in pyproject.toml."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older typer
        from click import exceptions
    return exceptions


def run_app(application: typer.Typer, args: list[str] | None = None, app: "AppState | None" = None) -> int:
    """Run the CLI and return its exit code; never let a traceback reach a user for a known error.

    Usage errors (unknown option or command, missing argument, bad choice or type) print click's
    own message and exit 2; deployer's errors print their message and hint (redacted) and exit
    with their code. SIGINT (Ctrl-C) and SIGTERM stop any command through one path (deployer/stopping.py):
    children stopped, secret folders removed, exit 130 or 143.
    """
    from deployer import stopping

    policy = stopping.begin()  # SIGINT and SIGTERM: one path (deployer/stopping.py)
    try:
        try:
            rc = _run(application, args, app or AppState())
        except KeyboardInterrupt:  # a stop that came while an error was being shown
            rc = policy.exit_code or stopping.exit_code_for(signal.SIGINT)
    finally:
        policy.finishing()  # from here, a further signal kills children and raises nothing
        if policy.stopping:
            policy.wait_for_workers(STOP_WAIT)  # steps' blocking calls unwind, removing what they made
        policy.finish()  # children left are killed, secret folders left are removed
        policy.restore()
    if policy.exit_code is not None:
        return policy.exit_code  # 130 (SIGINT) or 143 (SIGTERM), whatever the command made of the stop
    return rc


STOP_WAIT = 1.0  # seconds a stopped command's worker threads have to unwind before the exit


def _interrupted() -> int:
    from deployer import stopping

    signum = stopping.current().signum or signal.SIGINT
    typer.echo(f"interrupted by {signal.Signals(signum).name}", err=True)
    return stopping.exit_code_for(signum)


def _run(application: typer.Typer, args: list[str] | None, app: "AppState") -> int:
    """`app`: the invocation's one application object: commands get it as typer's ctx.obj."""
    click_exc = _click_exceptions()
    try:
        rc = application(args=args, standalone_mode=False, prog_name="deployer", obj=app)
    except DeployerError as err:
        print_error(err, app)
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
        return _interrupted()
    except Exception as e:  # the unexpected: a bug
        log.debug("internal error", exc_info=True)
        typer.echo(app.redactor(f"internal error: {type(e).__name__}: {e}"), err=True)
        typer.echo("  hint: this is a bug in deployer; rerun with --verbose for the traceback and report it", err=True)
        return EXIT_FAILED
    from deployer import stopping

    if stopping.current().stopping:  # typer turns KeyboardInterrupt into exit 130 itself: said here
        return _interrupted()
    return rc if isinstance(rc, int) else EXIT_OK
