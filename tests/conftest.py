"""Shared test helpers.

`require_tool` / `require_corpus` skip a test when something it needs is absent on a user's
machine; in CI (`CI=true` or `DEPLOYER_REQUIRE_TOOLS=1`) the same condition is a failure,
so that no e2e test can silently stop running there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
# the real upstream charts our charts depend on, as a Helm chart repository (index.yaml + .tgz)
SHARED_CHARTS = REPO.parent / "shared" / "charts"


def strict() -> bool:
    return os.environ.get("DEPLOYER_REQUIRE_TOOLS") == "1" or os.environ.get("CI", "").lower() == "true"


def missing(what: str) -> None:
    """Skip, or in CI fail, because `what` is not available."""
    if strict():
        pytest.fail(f"{what} is missing, and CI requires every e2e test to run", pytrace=False)
    pytest.skip(f"{what} is missing")


def require_corpus() -> Path:
    clusters = CORPUS / "2i2c" / "config" / "clusters"
    if not clusters.is_dir():
        missing(f"the shared corpus ({clusters})")
    return CORPUS / "2i2c"


def require_chart_repo() -> Path:
    """The shared chart repository that chart dependencies resolve from offline (`--chart-repo`)."""
    if not (SHARED_CHARTS / "index.yaml").is_file():
        missing(f"the shared chart repository ({SHARED_CHARTS})")
    return SHARED_CHARTS.resolve()


def require_tool(name: str) -> Path:
    """Find a tool the way deployer does (.tools/ first, then PATH), or skip/fail."""
    from deployer.errors import ToolMissing

    try:
        from deployer.toolchain import find_tool
    except ImportError:  # pragma: no cover - before the toolchain module exists
        found = shutil.which(name)
        if not found:
            missing(f"tool `{name}`")
        return Path(found)
    try:
        return find_tool(name)
    except ToolMissing:
        missing(f"tool `{name}`")
        raise AssertionError("unreachable")


def output_json(proc, expect: "int | tuple[int, ...]") -> Any:
    """The JSON a command printed, read only after its exit code is checked, with its stderr in the
    message: a command that failed (or printed nothing under load) says why, not a JSONDecodeError."""
    import json

    codes = (expect,) if isinstance(expect, int) else tuple(expect)
    assert proc.returncode in codes, (f"exit {proc.returncode}, expected {' or '.join(map(str, codes))}\n"
                                      f"stderr: {proc.stderr[-4000:]}\nstdout: {proc.stdout[-2000:]}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\nstdout: {proc.stdout[-2000:]}\n"
                             f"stderr: {proc.stderr[-4000:]}") from e


@pytest.fixture(scope="session")
def corpus_root() -> Path:
    return require_corpus()


