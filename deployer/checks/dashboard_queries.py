"""The PromQL of a Grafana dashboard, as Prometheus would see it, ready for Prometheus' own parser.

Each panel target's `expr` (panels inside rows included) has its Grafana variables filled the way
Grafana fills them: a range or interval variable in `[...]` (`$__rate_interval`, `${interval}`) by a
duration, any other (`$hub`, `${user:regex}`, `[[node]]`) by a plain word; then every query becomes a
recording rule of one rule file (`rule_file`), which `promtool check rules` parses. A query with a
variable in a place a word cannot stand (an operator, a number) is reported like any parse error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DURATION = "5m"
WORD = "deployer_variable"
_IN_RANGE = re.compile(r"\[\s*(?:\$\{[^}]+\}|\$\w+|\[\[[^\]]+\]\])\s*(?=[:\]])")
_VARIABLE = re.compile(r"\$\{[^}]+\}|\$\w+|\[\[[^\]]+\]\]")
_SUBQUERY_STEP = re.compile(r":\s*(?:\$\{[^}]+\}|\$\w+|\[\[[^\]]+\]\])\s*\]")


@dataclass(frozen=True)
class PanelQuery:
    panel: str  # the panel's title (its id when untitled)
    ref_id: str  # the target's refId (A, B, ...)
    expr: str  # as written in the dashboard

    @property
    def where(self) -> str:
        return f"panel \"{self.panel}\", query {self.ref_id}"


def panel_queries(dashboard: Any) -> list[PanelQuery]:
    """Every Prometheus query of the dashboard's panels, in order (rows' panels included)."""
    out: list[PanelQuery] = []

    def walk(panels: Any) -> None:
        for panel in panels if isinstance(panels, list) else []:
            if not isinstance(panel, dict):
                continue
            title = str(panel.get("title") or f"id {panel.get('id', '?')}")
            for i, target in enumerate(panel.get("targets") or []):
                if isinstance(target, dict) and isinstance(target.get("expr"), str) and target["expr"].strip():
                    out.append(PanelQuery(title, str(target.get("refId") or chr(ord("A") + i)), target["expr"]))
            walk(panel.get("panels"))

    if isinstance(dashboard, dict):
        walk(dashboard.get("panels"))
        walk([p for row in dashboard.get("rows") or [] if isinstance(row, dict) for p in row.get("panels") or []])
    return out


def as_promql(expr: str) -> str:
    """`expr` with Grafana's variables filled: durations inside [...], a word elsewhere."""
    text = _IN_RANGE.sub("[" + DURATION, expr)
    text = _SUBQUERY_STEP.sub(":" + DURATION + "]", text)
    return _VARIABLE.sub(WORD, text)


def rule_file(queries: list[PanelQuery]) -> dict[str, Any]:
    """One rule group whose rule N (1-based) is query N, as a recording rule."""
    return {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard_query_{i}", "expr": as_promql(q.expr)} for i, q in enumerate(queries, start=1)]}]}
