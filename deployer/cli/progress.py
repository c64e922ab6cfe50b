"""Showing a run: live progress lines while it works, a summary table and JSON at the end."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import typer

from deployer.redact import Redactor, dumps_redacted
from deployer.run.engine import RunReport, State, StepResult

_SYMBOL = {State.pending: " ", State.running: "…", State.succeeded: "✓", State.unchanged: "=", State.failed: "✗",
           State.skipped: "-", State.interrupted: "!"}


class Progress:
    """One line per step: on a terminal a live table; elsewhere (CI logs) a line per change."""

    def __init__(self, redactor: Redactor, *, live: Optional[bool] = None, stream=None) -> None:
        self.redact = redactor
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._rows: dict[str, StepResult] = {}
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._live = None

    def __enter__(self) -> "Progress":
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._table(), console=Console(file=self.stream), refresh_per_second=4,
                              get_renderable=self._table)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def event(self, result: StepResult) -> None:
        with self._lock:
            previous = self._rows.get(result.id)
            changed = previous is None or previous.state is not result.state or previous.message != result.message
            self._rows[result.id] = StepResult(**{**result.__dict__})
        if not self.live and changed:
            at = time.monotonic() - self._t0
            line = f"[{at:6.1f}s] {result.label:<28} {result.state.value:<11} {self.redact(result.message)}"
            print(line.rstrip(), file=self.stream, flush=True)

    def _table(self):
        from rich.table import Table

        table = Table(box=None, show_header=False, pad_edge=False)
        with self._lock:
            rows = list(self._rows.values())
        for r in rows:
            table.add_row(_SYMBOL[r.state], r.label, r.state.value, f"{r.elapsed():5.1f}s", self.redact(r.message)[:100])
        return table


def render_summary(report: RunReport, redactor: Redactor, echo: Callable[[str], None] = typer.echo) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=None, show_lines=False)
    for col in ("release", "stage", "result", "revision", "chart", "duration", "message"):
        table.add_column(col)
    for r in report.results:
        d = r.details
        chart = f"{d.get('chart', '')} {d.get('chart_version', '')}".strip()
        table.add_row(r.label, r.group, r.state.value, str(d.get("revision", "")), chart,
                      f"{r.duration:.1f}s", redactor(r.message + (f" (hint: {r.hint})" if r.hint and r.state is State.failed else "")))
    console = Console(file=sys.stdout, width=max(120, Console().width))
    console.print(table)
    counts = ", ".join(f"{report.count(s)} {s.value}" for s in (State.succeeded, State.unchanged, State.failed, State.skipped, State.interrupted)
                       if report.count(s))
    echo(f"{'ok' if report.ok else 'FAILED'}: {counts} in {report.duration:.1f}s")


def report_json(report: RunReport, redactor: Redactor, extra: Optional[dict] = None) -> str:
    payload = {**report.to_json(), **(extra or {})}
    return dumps_redacted(payload, redactor, indent=2, default=str)


def write_report(path: Path, text: str) -> None:
    from deployer.userfiles import write_text

    write_text(path, text + "\n", "--report-file", make_parents=True)
