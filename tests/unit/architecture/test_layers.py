"""Layering is checked by a tool, not by review (contracts in pyproject.toml)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "deployer"


def test_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint)], capture_output=True, text=True, timeout=120, cwd=PACKAGE.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BROKEN" not in proc.stdout and "KEPT" in proc.stdout


def test_only_the_process_adapter_imports_subprocess():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if "subprocess" in names and path.relative_to(PACKAGE).as_posix() != "adapters/process.py":
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


def test_help_does_not_import_heavy_libraries():
    code = "import sys; from deployer.cli import app; print(','.join(m for m in ('kubernetes','pyhelm3','jinja2','python_terraform') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr
