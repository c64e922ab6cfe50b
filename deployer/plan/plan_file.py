"""The files that pass between CI stages, as versioned schemas: the plan (`plan-upgrade
--output json` / `--plan-file`, read by `deploy --plan` and `canary-gate --plan`) and the run
report (`deploy --report-file`, read by `canary-gate --reports`).

Both carry `version`. Reading one checks it against the model: an unknown key, a missing key or a
value of the wrong type is an error naming the key (exit 1), never a plan silently read as empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from deployer.userfiles import UserFileError, first_problem, read_json

PLAN_VERSION = 1
REPORT_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class PlanJob(_Strict):
    id: str
    cluster: str
    kind: Literal["support", "hub"]
    hub: Optional[str]
    stage: Optional[Literal["staging", "prod"]]
    chart: str
    reasons: list[str]
    digest: Optional[str] = None  # the release's input digest (what the cluster's ledger records)


class PlanRemoval(_Strict):
    id: str
    cluster: str
    kind: Literal["support", "hub"]
    hub: Optional[str]
    reason: str


class PlanCounts(_Strict):
    support: int
    staging: int
    prod: int
    removals: int


class PlanFile(_Strict):
    """What `plan-upgrade --output json` writes."""

    version: Literal[1]
    base: str
    head: str
    support_jobs: list[PlanJob]
    staging_jobs: list[PlanJob]
    prod_jobs: list[PlanJob]
    removals: list[PlanRemoval]
    counts: PlanCounts
    # planned against the clusters' ledgers (plan-upgrade --against cluster)
    against: Optional[Literal["cluster"]] = None
    unchecked: list[dict[str, Any]] = []  # releases that could not be checked: planned anyway
    unchanged: list[str] = []  # release ids the ledger shows deployed as they are


class StepRecord(_Strict):
    id: str
    label: str
    group: str
    state: Literal["pending", "running", "succeeded", "unchanged", "failed", "skipped", "interrupted"]
    duration_seconds: float
    message: str
    hint: Optional[str]
    details: dict[str, Any]


class RunReportFile(_Strict):
    """What `deploy --report-file` / `deploy --output json` writes."""

    version: Literal[1]
    ok: bool
    interrupted: bool
    started_at: str
    duration_seconds: float
    counts: dict[str, int]
    steps: list[StepRecord]
    cluster: Optional[str] = None
    plan: Optional[str] = None
    dry_run: Optional[bool] = None
    chart_repo: Optional[str] = None


def _check_version(data: Any, option: str, path: Path, current: int, maker: str) -> None:
    if isinstance(data, dict) and "version" in data and data["version"] != current:
        raise UserFileError(f"{option} {path}: version {data['version']!r} is not one this deployer reads "
                            f"(it reads version {current})", hint=f"make it again with {maker} of this deployer")


def load_plan(path: Path, option: str = "--plan") -> PlanFile:
    maker = "`deployer plan-upgrade --output json`"
    return _load(path, option, PlanFile, PLAN_VERSION, "a plan", f"a plan made by {maker}", maker,
                 hint=f"make it with {maker}")


def load_report(path: Path, option: str = "--reports") -> RunReportFile:
    maker = "`deployer deploy --report-file`"
    return _load(path, option, RunReportFile, REPORT_VERSION, "a run report", f"a run report written by {maker}",
                 maker, hint=f"the folder may hold only reports written by {maker}")


M = TypeVar("M", bound=BaseModel)


def _load(path: Path, option: str, model: type[M], version: int, what: str, expected: str, maker: str, *,
          hint: str) -> M:
    """One plan-stage file: JSON, an object, of our version, matching `model` exactly."""
    data = read_json(path, option, expected)
    if not isinstance(data, dict):
        raise UserFileError(f"{option} {path}: {what} is a JSON object, this is a {type(data).__name__}", hint=hint)
    _check_version(data, option, path, version, maker)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise UserFileError(f"{option} {path}: not {what}: {first_problem(e)}", hint=hint) from e
