"""Option values the core cannot use are usage errors at the command line (exit 2, click's
message naming the option): durations that are not finite or overflow a timer, state folders
that are files."""

from __future__ import annotations

import pytest

from deployer.cli import app
from deployer.cli.app import run_app
from tests.repo_builder import make_repo


def _run(capsys, args):
    rc = run_app(app, args)
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


@pytest.mark.parametrize("value, says", [
    ("inf", "'inf' is not a finite number of seconds"),
    ("-inf", "'-inf' is not a finite number of seconds"),
    ("nan", "'nan' is not a finite number of seconds"),
    ("1e308", "1e308 is not in the range 1<=x<=604800 (seconds; 604800 is 7 days)"),
    ("0", "0 is not in the range 1<=x<=604800 (seconds; 604800 is 7 days)"),
    ("ten", "'ten' is not a number of seconds"),
])
def test_a_timeout_that_is_not_a_usable_duration_is_a_usage_error(tmp_path, capsys, value, says):
    root = make_repo(tmp_path / "repo")
    rc, text = _run(capsys, ["--root", str(root), "deploy", "alpha", "--dry-run", "--timeout", value])
    assert rc == 2, text
    assert f"Error: Invalid value for '--timeout': {says}" in text
    assert "rollback" not in text and "internal error" not in text


def test_every_duration_option_of_the_tree_refuses_inf(capsys):
    import typer.main

    root = typer.main.get_command(app)
    seen = []

    def walk(cmd, path):
        for name, child in sorted((getattr(cmd, "commands", None) or {}).items()):
            walk(child, [*path, name])
        for param in cmd.params if not getattr(cmd, "commands", None) else ():
            if param.metavar == "SECONDS":
                seen.append((path, max(param.opts, key=len)))

    walk(root, [])
    assert len(seen) >= 14, seen
    for path, flag in seen:
        rc, text = _run(capsys, [*path, *(["x"] if path[-1] not in ("up", "use-cluster-credentials") else []),
                                 flag, "inf"])
        assert rc == 2 and f"Invalid value for '{flag}': 'inf' is not a finite number of seconds" in text, (path, text)


def test_local_status_of_a_state_folder_that_is_a_file_says_so(capsys):
    rc, text = _run(capsys, ["local", "status", "--state-dir", "/etc/passwd"])
    assert rc == 1, text
    assert text == ("error: --state-dir (or DEPLOYER_STATE_DIR) /etc/passwd: it is a file, not a folder\n"
                    "  hint: pass --state-dir PATH (or set DEPLOYER_STATE_DIR) to a folder, or one that can be created\n")
