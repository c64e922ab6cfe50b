"""The canary gate (plan/canary_gate.py) over run reports."""

from __future__ import annotations


def test_the_canary_gate_lets_prod_follow_an_unchanged_staging_hub():
    from deployer.plan.canary_gate import gate
    from deployer.plan.plan_file import PlanFile, RunReportFile

    def job(hub, stage):
        return {"id": f"c/{hub}", "cluster": "c", "kind": "hub", "hub": hub, "stage": stage, "chart": "basehub",
                "reasons": ["changed"]}

    def report(state):
        return RunReportFile.model_validate({
            "version": 1, "ok": True, "interrupted": False, "started_at": "2026-12-02T00:00:00+00:00",
            "duration_seconds": 1.0, "counts": {state: 1},
            "steps": [{"id": "c/s", "label": "c/s", "group": "staging", "state": state, "duration_seconds": 1.0,
                       "message": "", "hint": None, "details": {}}]})

    plan = PlanFile.model_validate({"version": 1, "base": "a", "head": "b", "support_jobs": [],
                                    "staging_jobs": [job("s", "staging")], "prod_jobs": [job("p", "prod")],
                                    "removals": [], "counts": {"support": 0, "staging": 1, "prod": 1, "removals": 0}})
    allowed, skipped = gate(plan, "prod", [report("unchanged")])
    assert [j.hub for j in allowed] == ["p"] and skipped == []
    allowed, skipped = gate(plan, "prod", [report("failed")])
    assert allowed == [] and skipped[0]["reason"] == "skipped: c/s failed"
