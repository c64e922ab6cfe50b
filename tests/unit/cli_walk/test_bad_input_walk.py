"""The walk of `benchmarks/bad_input_walk.py`: every command and option with bad values, and the
bad files of issue 15, and issue 22's inputs: no traceback, no "internal error", no hang, only exit
codes 0, 1 and 2, and for issue 22's inputs the exit code each must end with (never a silent 0)."""

from __future__ import annotations

import importlib.util
import sys

from tests.conftest import REPO


def _walk_module():
    spec = importlib.util.spec_from_file_location("bad_input_walk", REPO / "benchmarks" / "bad_input_walk.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_no_bad_input_to_any_command_gives_a_traceback_an_internal_error_or_a_hang():
    module = _walk_module()
    results = module.walk()
    assert len(results) > 600  # the whole tree was walked
    assert sum(r.case.klass.startswith("issue22") for r in results) >= 29
    bad = [f"{r.case.args[:4]!r} exit {r.code} (expected {r.case.expect or 'any'}): {r.text.strip()[-300:]}"
           for r in results if r.bad]
    assert bad == [], "\n".join(bad[:20])
