"""The walk of `benchmarks/bad_input_walk.py`: every command and option with bad values, and the
bad files of issue 15: no traceback, no "internal error", no hang, only exit codes 0, 1 and 2."""

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
    assert len(results) > 400  # the whole tree was walked
    bad = [f"{r.case.args[:4]!r} exit {r.code}: {r.text.strip()[-300:]}" for r in results
           if r.traceback or r.internal or r.hung or r.odd_exit]
    assert bad == [], "\n".join(bad[:20])
