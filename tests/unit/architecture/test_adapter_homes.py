"""One adapter per external system: the Kubernetes client and Grafana's HTTP API each have one home."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "deployer"
HOMES = {
    "kubernetes": {"adapters/kube.py", "local/node.py"},  # node.py is the local cluster's simulated kubelet
    "urllib3": {"adapters/grafana.py", "adapters/kube.py"},  # kube.py: the kubernetes client's own errors
}


def importers(module: str) -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            if any(n == module or n.startswith(module + ".") for n in names):
                found.add(path.relative_to(PACKAGE).as_posix())
    return found


def test_each_client_library_is_imported_by_its_adapter_only():
    for module, homes in HOMES.items():
        assert importers(module) <= homes, module


def test_help_does_not_import_the_grafana_or_kubernetes_clients():
    code = ("import sys; from deployer.cli import app; "
            "print(','.join(m for m in ('urllib3','kubernetes') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr
