"""`provision` as stages: load -> prepare the cluster's folder -> init -> plan / apply / destroy
-> outputs. Terraform itself is behind `deployer.adapters.terraform`; what to write and how to
read Terraform's answers is planned in `deployer.plan.terraform_plan` (pure).

The cluster's folder (`.state/terraform/<cluster>/`, or under `$DEPLOYER_STATE_DIR`) holds a copy
of the module with deployer's backend file, `<cluster>.tfvars.json`, the backend settings, the
saved plan (owner-only, removed once applied or found stale) and `outputs.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from deployer.render.inputs import saved_outputs  # noqa: F401 (what provision saved, read as a values layer)
from deployer.adapters.process import ProcessRunner
from deployer.adapters.terraform import APPLY_TIMEOUT, StalePlan, Terraform
from deployer.checks.rules import ClusterDoc
from deployer.config.models import Cluster
from deployer.config.tfmodule import read_module
from deployer.errors import DeployerError, UsageError
from deployer.plan.terraform_plan import (
    Outputs, PlanSummary, Workspace, find_module, module_candidates, sensitive_strings, split_outputs,
    summarize_plan, workspace,
)

# environment variables whose values are secrets: registered with the redactor before terraform runs
SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "GOOGLE_CREDENTIALS",
    "GOOGLE_OAUTH_ACCESS_TOKEN", "ARM_CLIENT_SECRET", "ARM_ACCESS_KEY", "ARM_SAS_TOKEN", "AZURE_CLIENT_SECRET",
)
MODULE_FILE_SUFFIXES = (".tf", ".tftpl", ".tf.json")


@dataclass(frozen=True)
class PlanResult:
    summary: PlanSummary
    saved: Optional[Path]  # the plan file, kept for `apply` when there are changes
    seconds: float
    destroy: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"has_changes": self.summary.has_changes, "destroy_plan": self.destroy, **self.summary.to_json(),
                "saved_plan": str(self.saved) if self.saved else None, "seconds": round(self.seconds, 2)}


@dataclass(frozen=True)
class ApplyResult:
    applied: bool
    summary: PlanSummary
    outputs: Outputs
    seconds: float
    used_saved_plan: bool = False
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"applied": self.applied, **self.summary.to_json(), "used_saved_plan": self.used_saved_plan,
                "seconds": round(self.seconds, 2), **self.outputs.to_json(), "notes": list(self.notes)}


Confirm = Callable[[PlanSummary], bool]


def terraform_block(doc: ClusterDoc) -> Cluster:
    """A cluster loaded by `load_valid_cluster` (the same checks as `deployer validate`, the
    terraform block's included) that provision can work on: it has a `terraform:` block with a
    backend. Not a loader: provision's own rule on top of the one way to load a cluster."""
    cluster = doc.model
    if cluster.terraform is None:
        raise DeployerError(
            f"cluster `{cluster.name}` has no `terraform:` block in {doc.rel}: nothing to provision",
            hint="add `terraform: {backend: {type: ..., config: {...}}, variables: {...}}` (see README: Provisioning clusters)",
        )
    if cluster.terraform.backend is None:  # validate reports it too; kept for direct callers
        raise DeployerError(f"{doc.rel}: the `terraform:` block has no `backend:`",
                            hint="add `backend: {type: s3|gcs|azurerm|local, config: {...}}`")
    return cluster


@dataclass
class Provisioner:
    root: Path
    cluster: Cluster
    runner: ProcessRunner
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    timeout: float = APPLY_TIMEOUT
    terraform_binary: Optional[Path] = None
    ws: Workspace = field(init=False)
    tf: Terraform = field(init=False)

    def __post_init__(self) -> None:
        module_dir = find_module(self.root, self.cluster)
        if module_dir is None:
            tried = ", ".join(str(p) for p in module_candidates(self.root, self.cluster))
            raise DeployerError(f"no Terraform module for `{self.cluster.name}` (looked in {tried})",
                                hint="set `terraform.module` in cluster.yaml")
        declared = set(read_module(module_dir).variables)
        self.ws = workspace(self.root, self.cluster, module_dir, self.env, declared)
        for name in SECRET_ENV:
            self.runner.redactor.add(self.env.get(name))
        self.tf = Terraform(self.runner, self.ws.code_dir, self.ws.data_dir, binary=self.terraform_binary,
                            context={"cluster": self.cluster.name, "state": self.ws.state_location})

    # --- the cluster's folder ---------------------------------------------------------------------
    def module_files(self) -> dict[str, str]:
        files = {}
        for path in sorted(self.ws.module.iterdir()):
            if path.is_file() and (path.name.endswith(MODULE_FILE_SUFFIXES) or path.name == ".terraform.lock.hcl"):
                files[path.name] = path.read_text(encoding="utf-8")
        return files

    def prepare(self) -> str:
        """Write the module's copy, the backend file and the tfvars; init when any changed.
        Returns the fingerprint of everything that shapes a plan."""
        files = self.module_files()
        wanted = self.ws.files(files)
        self.ws.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.ws.dir, 0o700)
        self.ws.code_dir.mkdir(exist_ok=True)
        for stale in self.ws.code_dir.iterdir():  # a file removed from the module goes from the copy too
            if stale.is_file() and stale not in wanted and stale.name != ".terraform.lock.hcl":
                stale.unlink()
        for path, text in wanted.items():
            _write_private(path, text)
        fingerprint = self.ws.fingerprint(files)
        marker = self.ws.data_dir / "deployer-init.json"
        init_key = _sha(self.ws.backend_file.read_text() + json.dumps(files, sort_keys=True))
        if not marker.is_file() or _read_json(marker).get("key") != init_key:
            self.tf.init(self.ws.backend_file, timeout=min(self.timeout, 600))
            _write_private(marker, json.dumps({"key": init_key}))
        return fingerprint

    # --- plan ------------------------------------------------------------------------------------
    def plan(self, *, destroy: bool = False) -> PlanResult:
        started = time.monotonic()
        fingerprint = self.prepare()
        self.discard_saved_plan()
        plan_file = self.ws.plan_file
        try:
            changes = self.tf.plan(self.ws.tfvars_file, plan_file, destroy=destroy, timeout=self.timeout)
            summary = summarize_plan(self.tf.show_json(plan_file))
        except BaseException:
            self.discard_saved_plan()
            raise
        if not changes:
            self.discard_saved_plan()  # nothing to apply: no plan (nor the state inside it) stays behind
            return PlanResult(summary, None, time.monotonic() - started, destroy)
        os.chmod(plan_file, 0o600)
        _write_private(self.ws.plan_meta_file, json.dumps(
            {"fingerprint": fingerprint, "destroy": destroy, "created": time.time(), "summary": summary.to_json()}))
        return PlanResult(summary, plan_file, time.monotonic() - started, destroy)

    def discard_saved_plan(self) -> None:
        for path in (self.ws.plan_file, self.ws.plan_meta_file):
            path.unlink(missing_ok=True)

    def saved_plan_current(self, fingerprint: str, destroy: bool = False) -> Optional[PlanSummary]:
        """The saved plan's summary if it was made from exactly what is configured now."""
        if not self.ws.plan_file.is_file() or not self.ws.plan_meta_file.is_file():
            return None
        meta = _read_json(self.ws.plan_meta_file)
        if meta.get("fingerprint") != fingerprint or bool(meta.get("destroy")) != destroy:
            return None
        return summary_from_json(meta.get("summary") or {})

    # --- apply and destroy -----------------------------------------------------------------------
    def apply(self, confirm: Confirm, *, destroy: bool = False) -> ApplyResult:
        """Apply the saved plan if it is still current; else plan, and apply once `confirm` agrees.
        A plan terraform finds stale is refused (and removed), never applied."""
        started = time.monotonic()
        notes: list[str] = []
        fingerprint = self.prepare()
        summary = None if destroy else self.saved_plan_current(fingerprint)
        used_saved = summary is not None
        if summary is None:
            if self.ws.plan_file.exists() and not destroy:
                notes.append("the saved plan no longer matches cluster.yaml or the module: planned again")
            result = self.plan(destroy=destroy)
            summary = result.summary
            if result.saved is None:
                return ApplyResult(False, summary, self._outputs_after(destroy), time.monotonic() - started,
                                   False, tuple(notes + ["no changes: nothing to apply"]))
            try:
                confirmed = confirm(summary)
            except BaseException:  # no answer, Ctrl-C: the plan made for this question goes too
                self.discard_saved_plan()
                raise
            if not confirmed:
                self.discard_saved_plan()
                raise DeployerError("not applied: the plan was not confirmed", hint="pass --yes to apply without asking")
        try:
            self.tf.apply(self.ws.plan_file, timeout=self.timeout)
        except StalePlan:
            self.discard_saved_plan()
            raise
        finally:
            # applied, failed or interrupted: a saved plan (and the state inside it) never stays behind
            if self.ws.plan_file.exists():
                self.discard_saved_plan()
        outputs = self._outputs_after(destroy)
        return ApplyResult(True, summary, outputs, time.monotonic() - started, used_saved, tuple(notes))

    def _outputs_after(self, destroy: bool) -> Outputs:
        if destroy:
            self.ws.outputs_file.unlink(missing_ok=True)
            return Outputs()
        return self.outputs()

    # --- outputs ---------------------------------------------------------------------------------
    def outputs(self, *, refresh_init: bool = False) -> Outputs:
        if refresh_init:
            self.prepare()
        raw = self.tf.output_json()
        for secret in sensitive_strings(raw):
            self.runner.redactor.add(secret)
        outputs = split_outputs(raw)
        self.save_outputs(outputs)
        return outputs

    def save_outputs(self, outputs: Outputs) -> None:
        data = {"cluster": self.cluster.name, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "state": self.ws.state_location, **outputs.to_json()}
        if outputs.values or outputs.sensitive:
            _write_private(self.ws.outputs_file, json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o644)
        else:
            self.ws.outputs_file.unlink(missing_ok=True)

    def unlock(self, lock_id: str) -> None:
        self.prepare()
        self.tf.force_unlock(lock_id)


def summary_from_json(data: Mapping[str, Any]) -> PlanSummary:
    """The summary saved beside a plan (what `PlanSummary.to_json` wrote)."""
    from deployer.plan.terraform_plan import ResourceChange

    changes = tuple(
        ResourceChange(str(c.get("address")), str(c.get("type")), str(c.get("action")),
                       tuple(tuple(p) for p in c.get("replace_paths") or []))
        for c in data.get("changes") or [] if isinstance(c, dict)
    )
    return PlanSummary(changes, tuple(str(o) for o in data.get("output_changes") or []))


def check_lock_id(lock_id: str) -> str:
    lock_id = lock_id.strip()
    if not lock_id or any(c.isspace() for c in lock_id) or lock_id.startswith("-"):
        raise UsageError(f"`{lock_id}` is not a lock ID", hint="copy the ID from the `state is locked` message")
    return lock_id


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write through a temporary file and rename: a Ctrl-C never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def remove_work_dir(ws: Workspace) -> None:  # pragma: no cover - used by tests and operators
    shutil.rmtree(ws.dir, ignore_errors=True)
