"""Install as users do: build the sdist and wheel, install the wheel into a fresh virtual
environment outside the checkout, and use it from other folders (the corpus, a new `init` repo)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, output_json, require_corpus

pytestmark = pytest.mark.e2e


def run(args, *, cwd=None, env=None, timeout=900):
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = run([sys.executable, "-m", "build", "--outdir", out, REPO])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory):
    """A fresh venv with only the wheel (and its dependencies from PyPI) in it, and a clean home."""
    base = tmp_path_factory.mktemp("user")
    venv = base / "venv"
    assert run([sys.executable, "-m", "venv", venv]).returncode == 0
    wheel = next(dist.glob("jupyterhub_fleet_deployer-*.whl"))
    # without PYTHONPATH: a checkout on it (its build's *.egg-info) would make pip take the package as
    # installed already, and skip the wheel
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = run([venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", wheel], env=clean)
    assert done.returncode == 0, done.stderr[-3000:]
    home = base / "home"
    home.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    return venv, env, base


def site_files(venv: Path) -> set[str]:
    return {str(p) for p in (venv / "lib").rglob("*") if "__pycache__" not in p.parts}


def test_the_sdist_and_wheel_pass_twine_check_and_carry_the_charts(dist):
    done = run([sys.executable, "-m", "twine", "check", *dist.iterdir()])
    assert done.returncode == 0, done.stdout + done.stderr
    names = zipfile.ZipFile(next(dist.glob("*.whl"))).namelist()
    for expected in ("deployer/_data/helm-charts/basehub/Chart.yaml", "deployer/_data/helm-charts/support/Chart.yaml",
                     "deployer/_data/helm-charts/daskhub/Chart.yaml", "deployer/_data/terraform/aws/eks.tf",
                     "deployer/templates/init/cluster.yaml", "deployer/dashboards/jupyterhub-cluster.json"):
        assert expected in names
    assert not [n for n in names if "/mirror/" in n or n.endswith(".tfstate")]


def test_the_installed_tool_validates_the_corpus_as_the_checkout_does_and_a_new_repository_clean(installed, tmp_path):
    """The corpus: the installed wheel finds its charts (no `chart basehub is not known`), so it gives
    exactly the checkout's report — the keys the corpus uses that our charts refuse by name (the
    in-cluster NFS server, binderhub-service, ...: README, charts) and nothing else."""
    venv, env, base = installed
    before = site_files(venv)
    corpus = require_corpus()
    done = run(["deployer", "validate", "-o", "json"], cwd=corpus, env=env, timeout=300)
    checkout = run([sys.executable, "-m", "deployer", "validate", "-o", "json"], cwd=corpus,
                   env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    installed_report, checkout_report = output_json(done, (0, 1)), output_json(checkout, done.returncode)
    assert installed_report["problems"] == checkout_report["problems"]
    assert not [p for p in installed_report["problems"] if "is not known" in p["message"]]
    repo = tmp_path / "fleet"
    done = run(["deployer", "init", repo], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    done = run(["deployer", "validate"], cwd=repo / "config", env=env)
    assert done.returncode == 0 and done.stdout.startswith("ok: 0 error(s), 0 warning(s)"), done.stdout + done.stderr
    assert site_files(venv) == before, "deployer wrote inside its installed package"


def test_the_installed_tool_keeps_tools_and_state_out_of_site_packages(installed):
    venv, env, base = installed
    done = run(["deployer", "doctor", "-o", "json"], cwd=base, env=env, timeout=300)
    report = output_json(done, (0, 1))  # 1: a fresh home has no tools
    assert report["tools_dir"] == str(Path(env["HOME"]) / ".cache" / "deployer" / "tools")
    done = run(["deployer", "tools", "dir"], cwd=base, env={**env, "XDG_CACHE_HOME": str(base / "xc")})
    assert done.stdout.strip() == str(base / "xc" / "deployer" / "tools")


def test_the_installed_tool_reports_usage_errors_with_exit_2_and_no_traceback(installed):
    venv, env, base = installed
    done = run(["deployer", "validate", "--bogus"], cwd=base, env=env)
    assert done.returncode == 2
    assert "Error: No such option: --bogus" in done.stderr and "Traceback" not in done.stderr
    done = run(["deployer", "--version"], cwd=base, env=env)
    from deployer import __version__

    assert done.returncode == 0 and done.stdout.strip() == f"jupyterhub-fleet-deployer {__version__}"
    done = run(["deployer", "validate"], cwd=base, env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "error: no config/clusters folder in" in done.stderr and "deployer init" in done.stderr
