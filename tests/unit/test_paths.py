"""Where deployer reads and writes: the state folder and the per-user cache, never the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.errors import ConfigError
from deployer.paths import cache_dir, find_root, state_dir, tool_dir


def test_state_lives_in_the_repository_dot_deployer_folder(tmp_path):
    assert state_dir(tmp_path, env={}) == tmp_path / ".deployer"


def test_state_dir_option_beats_the_environment_which_beats_the_repository(tmp_path):
    env = {"DEPLOYER_STATE_DIR": str(tmp_path / "env")}
    assert state_dir(tmp_path, env=env) == tmp_path / "env"
    assert state_dir(tmp_path, tmp_path / "opt", env=env) == tmp_path / "opt"


def test_outside_any_repository_state_goes_to_the_xdg_state_folder():
    assert state_dir(None, env={"HOME": "/home/u"}) == Path("/home/u/.local/state/deployer")
    assert state_dir(None, env={"HOME": "/home/u", "XDG_STATE_HOME": "/s"}) == Path("/s/deployer")
    # a relative XDG path is invalid by the spec and ignored
    assert state_dir(None, env={"HOME": "/home/u", "XDG_STATE_HOME": "rel"}) == Path("/home/u/.local/state/deployer")


def test_cache_and_tool_folders_are_per_user_and_keyed_by_version():
    assert cache_dir(env={"HOME": "/home/u"}) == Path("/home/u/.cache/deployer")
    assert tool_dir("helm", "3.17.3", env={"XDG_CACHE_HOME": "/c"}) == Path("/c/deployer/tools/helm/3.17.3")


def test_an_empty_root_or_state_dir_is_an_error_not_the_working_directory(tmp_path):
    with pytest.raises(ConfigError) as e:
        find_root("", env={})
    assert e.value.message == "--root is empty"
    with pytest.raises(ConfigError) as e:
        state_dir(tmp_path, env={"DEPLOYER_STATE_DIR": " "})
    assert e.value.message == "the state folder is empty"


def test_a_folder_without_config_clusters_names_init(tmp_path):
    with pytest.raises(ConfigError) as e:
        find_root(cwd=tmp_path, env={})
    assert e.value.message == f"no config/clusters folder in {tmp_path.resolve()} or any parent folder"
    assert "deployer init" in e.value.hint


def test_no_module_computes_a_writable_path_from_the_package_location():
    package = Path(__file__).resolve().parents[2] / "deployer"
    offenders = []
    for py in package.rglob("*.py"):
        text = py.read_text()
        if "repo_dir(" in text or '".state"' in text or "'.state'" in text or '".tools"' in text:
            offenders.append(str(py.relative_to(package)))
    assert offenders == []


def test_an_unwritable_state_folder_is_a_clear_error_naming_the_option(tmp_path):
    from deployer.application import Application

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    app = Application(root_option=None, state_dir_option=str(blocker / "state"))
    with pytest.raises(ConfigError) as e:
        app.charts_work_dir()
    assert e.value.message == f"--state-dir (or DEPLOYER_STATE_DIR) {blocker / 'state'}: {blocker} is a file, not a folder"
    assert e.value.hint == "pass --state-dir PATH (or set DEPLOYER_STATE_DIR) to a folder, or one that can be created"


@pytest.mark.parametrize("bad, problem", [
    ("/etc/passwd", "it is a file, not a folder"),
    ("/etc/passwd/state", "/etc/passwd is a file, not a folder"),
    ("/" + "s" * 300, "a name in it is too long (300 bytes, at most 255): " + "s" * 30 + "…" + "s" * 30),
])
def test_a_state_folder_that_cannot_be_one_is_refused_naming_the_option(bad, problem):
    from deployer.paths import state_dir

    with pytest.raises(ConfigError) as e:
        state_dir(None, bad, env={})
    assert e.value.message.startswith("--state-dir (or DEPLOYER_STATE_DIR) /") and e.value.message.endswith(": " + problem)


def test_a_root_path_too_long_is_refused_naming_the_option():
    from deployer.paths import find_root

    with pytest.raises(ConfigError) as e:
        find_root("/" + "a" * 5000, env={})
    assert e.value.message == "--root /" + "a" * 59 + "…" + "a" * 60 + ": the path is too long (5001 bytes, at most 4095)"


def test_the_chart_cache_is_created_inside_the_state_folder(tmp_path):
    from deployer.application import Application

    app = Application(state_dir_option=str(tmp_path / "st"))
    assert app.charts_work_dir() == tmp_path / "st" / "charts" and (tmp_path / "st" / "charts").is_dir()


@pytest.mark.parametrize("command", [["local", "status"], ["local", "down"], ["local", "up"]])
def test_an_empty_local_state_dir_is_refused_and_nothing_is_deleted(tmp_path, command):
    import subprocess
    import sys

    (tmp_path / "precious.txt").write_text("keep")
    done = subprocess.run([sys.executable, "-m", "deployer", *command, "--state-dir", ""], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: --state-dir is empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]
