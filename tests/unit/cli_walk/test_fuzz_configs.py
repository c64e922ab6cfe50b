"""A sample of `benchmarks/fuzz_configs.py`: seeded fuzzed configurations through validate and
render (the real helm and charts): no traceback, no internal error, no hang, exits 0, 1 or 2."""

from __future__ import annotations

import importlib.util
import sys

from tests.conftest import REPO, require_chart_repo, require_tool


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("fuzz_configs", REPO / "benchmarks" / "fuzz_configs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_fuzzed_configurations_never_give_a_traceback_an_internal_error_or_a_hang(monkeypatch):
    require_tool("helm")
    monkeypatch.setenv("DEPLOYER_CHART_REPO", str(require_chart_repo()))
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    module = _fuzz_module()
    results = module.fuzz(30, seed=2222)
    counts = module.summary(results)
    for command in ("validate", "render"):
        c = counts[command]
        assert c["runs"] == 30
        assert (c["traceback"], c["internal_error"], c["hung"], c["odd_exit"]) == (0, 0, 0, 0), [
            (cfg.mutations, r.text[-500:]) for cfg, runs in results for r in runs
            if r.traceback or r.internal or r.hung or r.odd_exit][:5]
    # the sample is not all refusals: some configurations pass both
    assert counts["validate"]["exit_codes"].get("0", 0) > 0 and counts["render"]["exit_codes"].get("0", 0) > 0
    assert counts["render_passed_what_validate_refused"] == 0
