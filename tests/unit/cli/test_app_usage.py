"""CLI conventions: every usage error, on every command of the tree, exits 2 with click's own
message; never a traceback, never "internal error". The tree is walked, so a new command or
option is covered without editing this file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deployer.cli import app
from deployer.cli.app import run_app


def _command_tree():
    import typer.main

    root = typer.main.get_command(app)
    out = []

    def walk(cmd, path):
        sub = getattr(cmd, "commands", None)
        if sub:
            out.append((path, cmd, True))
            for name, child in sorted(sub.items()):
                walk(child, [*path, name])
        else:
            out.append((path, cmd, False))

    walk(root, [])
    return out


TREE = _command_tree()
LEAVES = [(p, c) for p, c, group in TREE if not group]
GROUPS = [(p, c) for p, c, group in TREE if group]


def _ids(items):
    return [" ".join(p) or "deployer" for p, _ in items]


def _required_args(cmd) -> list[str]:
    """Placeholder values for the command's required positional arguments, so that an option error is reached."""
    return ["x" for param in cmd.params if _is_argument(param) and param.required]


def _is_argument(param) -> bool:
    return type(param).__name__.endswith("Argument")


def _run(capsys, args):
    rc = run_app(app, args)
    out, err = capsys.readouterr()
    return rc, out + err


def test_the_walk_found_every_command_group():
    names = {" ".join(p) for p, _ in LEAVES}
    assert {"validate", "deploy", "local up", "provision plan", "grafana deploy-dashboards"} <= names


@pytest.mark.parametrize(("path", "cmd"), LEAVES, ids=_ids(LEAVES))
def test_an_unknown_option_exits_2_with_clicks_message(capsys, path, cmd):
    rc, text = _run(capsys, [*path, *_required_args(cmd), "--no-such-option-xyz"])
    assert rc == 2, text
    assert "Error: No such option: --no-such-option-xyz" in text
    assert f"Usage: deployer {' '.join(path)}" in text
    assert "internal error" not in text and "Traceback" not in text


@pytest.mark.parametrize(("path", "cmd"), GROUPS, ids=_ids(GROUPS))
def test_an_unknown_command_exits_2(capsys, path, cmd):
    rc, text = _run(capsys, [*path, "no-such-command-xyz"])
    assert rc == 2, text
    assert "Error: No such command 'no-such-command-xyz'." in text


@pytest.mark.parametrize(("path", "cmd"), GROUPS, ids=_ids(GROUPS))
def test_a_group_without_a_command_exits_2_with_its_help(capsys, path, cmd):
    rc, text = _run(capsys, path)
    assert rc == 2, text
    assert f"Usage: deployer {' '.join(path)}".rstrip() in text
    assert "Commands:" in text


def _typed_options():
    """(path, cmd, option flag, bad value, expected message) for every option whose type can be violated."""
    import enum

    cases = []
    for path, cmd in LEAVES:
        for param in cmd.params:
            if _is_argument(param) or not param.opts:
                continue
            kind = param.type_descriptor.annotation
            flag = max(param.opts, key=len)
            if isinstance(kind, type) and issubclass(kind, enum.Enum):
                cases.append((path, cmd, flag, "no-such-choice", "Invalid value for"))
            elif kind in (int, float):
                cases.append((path, cmd, flag, "not-a-number", "Invalid value for"))
                if getattr(param, "min", None) is not None:
                    cases.append((path, cmd, flag, str(param.min - 1), "Invalid value for"))
    return cases


TYPED = _typed_options()


def test_the_walk_found_typed_options():
    flags = {(" ".join(p), f) for p, _, f, _, _ in TYPED}
    assert ("validate", "--output") in flags
    assert ("deploy", "--concurrency") in flags


@pytest.mark.parametrize(("path", "cmd", "flag", "value", "message"), TYPED,
                         ids=[f"{' '.join(p)} {f}={v}" for p, _, f, v, _ in TYPED])
def test_a_bad_option_value_exits_2(capsys, path, cmd, flag, value, message):
    rc, text = _run(capsys, [*path, *_required_args(cmd), flag, value])
    assert rc == 2, text
    assert f"Error: {message} '{flag}'" in text or f"Error: {message} '{flag.lstrip('-')}'" in text or (
        f"Error: {message} '" in text and f"{flag}" in text), text
    assert "internal error" not in text


@pytest.mark.parametrize(("path", "cmd"), [(p, c) for p, c in LEAVES if _required_args(c)],
                         ids=_ids([(p, c) for p, c in LEAVES if _required_args(c)]))
def test_a_missing_argument_exits_2(capsys, path, cmd):
    rc, text = _run(capsys, path)
    assert rc == 2, text
    assert "Error: Missing argument" in text


def test_version_prints_the_package_version(capsys):
    from deployer import __version__

    rc, text = _run(capsys, ["--version"])
    assert rc == 0
    assert text.strip() == f"jupyterhub-fleet-deployer {__version__}"


def test_an_installed_entry_point_reports_a_usage_error_without_a_traceback():
    done = subprocess.run([sys.executable, "-m", "deployer", "validate", "--bogus"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Error: No such option: --bogus" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_shell_completion_script_is_offered():
    # typer finds the user's shell from the process tree (shellingham), and "bash" after the flag is an
    # extra argument, not the shell: run from a bash that stays the parent (`; exit $?` keeps it from exec'ing
    # python), as a user's shell is, instead of from whatever started pytest (an xdist worker in the
    # background has no shell above it: "Shell  not supported.").
    done = subprocess.run(["bash", "-c", f"'{sys.executable}' -m deployer --show-completion; exit $?"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "_DEPLOYER_COMPLETE=complete_bash" in done.stdout, done.stdout + done.stderr
