"""What rendering produces: releases with their objects, and problems reported like validate's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class RenderProblem:
    """One thing wrong with a rendered release: which release, which object or file, what, what to do."""

    release: str  # <cluster>/<hub> or <cluster>/support
    code: str
    message: str
    hint: Optional[str] = None
    kind: str = ""
    name: str = ""
    file: str = ""  # a values file, chart file or template the problem points at
    severity: str = "error"

    @property
    def where(self) -> str:
        obj = f" {self.kind}/{self.name}" if self.kind else ""
        at = f" ({self.file})" if self.file else ""
        return f"{self.release}{obj}{at}"

    def to_json(self) -> dict[str, Any]:
        return {"release": self.release, "kind": self.kind or None, "name": self.name or None,
                "file": self.file or None, "severity": self.severity, "code": self.code,
                "message": self.message, "hint": self.hint}


@dataclass
class RenderedObject:
    kind: str
    name: str
    namespace: str
    api_version: str
    source: str  # the template that made it (helm's `# Source:` line)
    body: dict[str, Any]


@dataclass
class RenderedRelease:
    id: str
    release: str
    namespace: str
    cluster: str
    chart: str = ""
    chart_version: str = ""
    domain: Optional[str] = None
    is_hub: bool = False
    objects: list[RenderedObject] = field(default_factory=list)
    # "<chart> <version>" -> its kubeVersion constraint, for the chart and every subchart
    kube_versions: dict[str, str] = field(default_factory=dict)
    placeholders: list[str] = field(default_factory=list)  # encrypted files whose values are placeholders
    problems: list[RenderProblem] = field(default_factory=list)
    seconds: float = 0.0
    schema_checked: int = 0
    schema_skipped: int = 0

    @property
    def rendered(self) -> bool:
        return bool(self.objects)
