"""Problems found in a configuration repository, and the report that collects them."""

from __future__ import annotations

import enum
from collections import defaultdict
from typing import Optional

from pydantic import BaseModel, ConfigDict


class Severity(str, enum.Enum):
    error = "error"
    warning = "warning"


class Problem(BaseModel):
    """One thing wrong, where it is, and what to do. Never holds a secret's content."""

    model_config = ConfigDict(frozen=True)

    file: str  # relative to the repository root
    line: int = 0  # 1-based; 0 = the file as a whole
    column: int = 0
    severity: Severity = Severity.error
    code: str
    message: str
    hint: Optional[str] = None

    @property
    def location(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


class Report(BaseModel):
    """Everything `deployer validate` found, in a stable order."""

    problems: list[Problem]
    clusters: int
    hubs: int
    files: int

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.warning]

    @property
    def ok(self) -> bool:
        return not self.errors

    def by_file(self) -> dict[str, list[Problem]]:
        grouped: dict[str, list[Problem]] = defaultdict(list)
        for p in self.problems:
            grouped[p.file].append(p)
        return dict(grouped)


def sort_problems(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.file, p.line, p.column, p.code, p.message))
