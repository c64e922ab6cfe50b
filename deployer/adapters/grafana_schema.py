"""Grafana's dashboard schema, as a program: `grafana-dashboard-check` (our main.go over Grafana's
Foundation SDK for Go, built once by `deployer tools install`) decodes each dashboard strictly against
the schema Grafana generates that SDK from. This adapter runs it and reads its JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from deployer.errors import ToolError

CHECK_TIMEOUT = 60.0


def check_dashboards(runner, files: Iterable[Path], *, program: Path | None = None) -> dict[str, list[str]]:
    """{file: the schema's errors for it} (an empty list: the file follows the schema)."""
    from deployer.toolchain import find_tool

    files = [str(f) for f in files]
    if not files:
        return {}
    program = program or find_tool("grafana-dashboard-check")
    result = runner.run([str(program), *files], timeout=CHECK_TIMEOUT)
    if result.returncode not in (0, 1):
        raise ToolError(f"grafana-dashboard-check failed (exit {result.returncode}): {result.stderr.strip()[-300:]}")
    out: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        if line.strip():
            doc = json.loads(line)
            out[doc["file"]] = list(doc["errors"])
    return out
