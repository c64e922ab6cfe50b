"""terraform: init, plan, show, apply, output and force-unlock, in one cluster's working folder.

A thin adapter of our own (see README: Provisioning clusters for why not python-terraform): every call goes
through the ProcessRunner (timeout, redacted debug log, process group stopped on Ctrl-C), with
`TF_CLI_CONFIG_FILE` from `terraform_env()` (providers from the filesystem mirror only),
`TF_DATA_DIR` inside the cluster's folder, and `-input=false`. Terraform answers in JSON
(`-json` UI stream, `show -json`, `output -json`); its error diagnostics are translated here
into typed errors with a hint, never shown as a raw dump.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from deployer.adapters.process import Completed, ProcessRunner, last_line
from deployer.errors import ToolError
from deployer.toolchain import find_tool, terraform_env

INIT_TIMEOUT = 300.0
PLAN_TIMEOUT = 1800.0
APPLY_TIMEOUT = 3600.0
QUICK_TIMEOUT = 120.0


class TerraformError(ToolError):
    """terraform failed; `diagnostics` holds its error summaries."""

    def __init__(self, message: str, hint: Optional[str] = None, diagnostics: tuple[str, ...] = ()) -> None:
        super().__init__(message, hint)
        self.diagnostics = diagnostics


class StateLocked(TerraformError):
    def __init__(self, message: str, hint: str, lock: dict[str, str]) -> None:
        super().__init__(message, hint)
        self.lock = lock


class StalePlan(TerraformError):
    """The saved plan was made against a state that has changed since."""


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    summary: str
    detail: str = ""


def diagnostics(stdout: str, stderr: str = "") -> list[Diagnostic]:
    """Error and warning diagnostics from terraform's `-json` stream (and its plain stderr)."""
    found: list[Diagnostic] = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        diag = msg.get("diagnostic") if isinstance(msg, dict) else None
        if isinstance(diag, dict):
            found.append(Diagnostic(str(diag.get("severity", "")), str(diag.get("summary", "")), str(diag.get("detail", ""))))
    # some errors (a broken CLI config, a crash) never reach the JSON stream
    text = re.sub(r"^[│╷╵]\s?", "", stderr, flags=re.M).strip()
    if text and not any(d.severity == "error" for d in found):
        m = re.search(r"^Error: (.+)$", text, re.M)
        if m:
            rest = text[m.end():].strip()
            found.append(Diagnostic("error", m.group(1).strip(), rest))
    return found


_LOCK_FIELD = re.compile(r"^\s*(ID|Path|Operation|Who|Version|Created|Info):\s*(.*)$", re.M)


def lock_info(detail: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2).strip() for m in _LOCK_FIELD.finditer(detail)}


_UNREACHABLE = re.compile(r"connection refused|no such host|i/o timeout|dial tcp|connect: network is unreachable|"
                          r"request send failed|exceeded maximum number of attempts|EOF", re.I)
_CREDENTIALS = re.compile(r"no valid credential sources|InvalidClientTokenId|could not find default credentials|"
                          r"failed to refresh cached credentials|ExpiredToken|SignatureDoesNotMatch|"
                          r"AuthorizationFailed|invalid_grant|unable to build authorizer", re.I)


def translate(result: Completed, what: str, redact, *, context: Mapping[str, str]) -> TerraformError:
    """The typed error for a failed terraform call, with a hint saying what to do."""
    diags = [d for d in diagnostics(result.stdout, result.stderr) if d.severity == "error"]
    cluster = context.get("cluster", "<cluster>")
    state = context.get("state", "the state")
    if not diags:
        tail = redact(last_line(result.stderr) or last_line(result.stdout)) or f"exit {result.returncode}"
        return TerraformError(f"terraform {what} failed: {tail}", hint="rerun with --verbose to see terraform's log lines")
    first = diags[0]
    summary = redact(first.summary)
    detail = redact(first.detail)
    if "state lock" in first.summary.lower():
        lock = lock_info(first.detail)
        who = f" by {lock['who']}" if lock.get("who") else ""
        since = f" since {lock['created']}" if lock.get("created") else ""
        op = f" ({lock['operation']})" if lock.get("operation") else ""
        return StateLocked(
            f"the Terraform state of `{cluster}` ({state}) is locked{who}{since}{op}: another provision is running, "
            "or one was interrupted and left its lock behind",
            hint=(f"if no other `deployer provision` runs for {cluster}, release the lock with "
                  f"`deployer provision unlock {cluster} {lock.get('id', '<lock id>')}`, then plan again"),
            lock=lock,
        )
    if first.summary.strip().lower().startswith("saved plan is stale"):
        return StalePlan(
            f"the saved plan for `{cluster}` is stale: the state changed after it was made (another apply ran)",
            hint=f"run `deployer provision plan {cluster}` again and review the new plan",
        )
    blob = f"{first.summary}\n{first.detail}"
    hint: Optional[str] = None
    if _CREDENTIALS.search(blob):
        hint = ("terraform runs with your own cloud credentials (the environment of this shell): log in to the "
                "cloud, or export the credentials, then retry")
    elif _UNREACHABLE.search(blob):
        hint = ("the cloud API (or the state backend) did not answer: check the network and the endpoint; "
                f"resources created so far are recorded in the state ({state}) — rerun the same command once it answers")
    elif "Invalid value for variable" in first.summary or "Invalid value for input variable" in first.summary:
        hint = f"fix the value under terraform.variables in config/clusters/{cluster}/cluster.yaml"
    elif "Backend initialization required" in first.summary or "backend configuration changed" in blob.lower():
        hint = "rerun the command: deployer initialises the backend again when cluster.yaml's backend changes"
    elif first.summary.startswith("Failed to get existing workspaces") or "NoSuchBucket" in blob:
        hint = "the state backend is not reachable or its bucket/container does not exist: create it first"
    detail_line = next((ln.strip() for ln in detail.splitlines() if ln.strip()), "")
    message = f"terraform {what} failed: {summary}" + (f": {detail_line}" if detail_line else "")
    if len(diags) > 1:
        message += f" (and {len(diags) - 1} more error(s))"
    return TerraformError(message, hint=hint or "rerun with --verbose for terraform's full output",
                          diagnostics=tuple(redact(d.summary) for d in diags))


class Terraform:
    """terraform in one working folder (`code_dir`), with its data under `data_dir`."""

    def __init__(self, runner: ProcessRunner, code_dir: Path, data_dir: Path, *,
                 binary: Optional[Path] = None, env: Optional[Mapping[str, str]] = None,
                 context: Optional[Mapping[str, str]] = None, lock_timeout: str = "0s") -> None:
        self.runner = runner
        self.code_dir = code_dir
        self.data_dir = data_dir
        self._binary = binary
        self.extra_env = dict(env or {})
        self.context = dict(context or {})
        self.lock_timeout = lock_timeout

    @property
    def binary(self) -> Path:
        if self._binary is None:
            self._binary = find_tool("terraform")
        return self._binary

    def env(self) -> dict[str, str]:
        return {
            **terraform_env(),
            "TF_DATA_DIR": str(self.data_dir),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",  # no version check against the network
            **self.extra_env,
        }

    def _run(self, args: list[str], timeout: float) -> Completed:
        return self.runner.run([self.binary, f"-chdir={self.code_dir}", *args], timeout=timeout, env=self.env())

    def _check(self, result: Completed, what: str) -> Completed:
        if not result.ok:
            raise translate(result, what, self.runner.redactor, context=self.context)
        return result

    # --- commands -----------------------------------------------------------------------------
    def init(self, backend_config: Path, *, timeout: float = INIT_TIMEOUT) -> None:
        self._check(self._run(["init", "-input=false", "-no-color", "-json", "-reconfigure",
                               f"-backend-config={backend_config}"], timeout), "init")

    def plan(self, var_file: Path, out: Path, *, destroy: bool = False, timeout: float = PLAN_TIMEOUT) -> bool:
        """Plan into `out`; True when there are changes (terraform's -detailed-exitcode 2)."""
        args = ["plan", "-input=false", "-no-color", "-json", "-detailed-exitcode",
                f"-lock-timeout={self.lock_timeout}", f"-var-file={var_file}", f"-out={out}"]
        if destroy:
            args.append("-destroy")
        result = self._run(args, timeout)
        if result.returncode == 2:
            return True
        self._check(result, "plan")
        return False

    def show_json(self, plan_file: Path, *, timeout: float = QUICK_TIMEOUT) -> dict[str, Any]:
        result = self._check(self._run(["show", "-json", "-no-color", str(plan_file)], timeout), "show")
        return _json(result.stdout, "show -json")

    def apply(self, plan_file: Path, *, timeout: float = APPLY_TIMEOUT) -> None:
        self._check(self._run(["apply", "-input=false", "-no-color", "-json", f"-lock-timeout={self.lock_timeout}",
                               str(plan_file)], timeout), "apply")

    def output_json(self, *, timeout: float = QUICK_TIMEOUT) -> dict[str, Any]:
        result = self._check(self._run(["output", "-json", "-no-color"], timeout), "output")
        data = _json(result.stdout or "{}", "output -json")
        return data if isinstance(data, dict) else {}

    def force_unlock(self, lock_id: str, *, timeout: float = QUICK_TIMEOUT) -> None:
        self._check(self._run(["force-unlock", "-force", lock_id], timeout), "force-unlock")

    def fmt_check(self, *, timeout: float = QUICK_TIMEOUT) -> list[str]:
        """Files `terraform fmt` would change (empty when the module is formatted)."""
        result = self._run(["fmt", "-check", "-list=true", "-no-color"], timeout)
        if result.returncode not in (0, 3):
            raise translate(result, "fmt", self.runner.redactor, context=self.context)
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as e:
        raise TerraformError(f"terraform {what} printed something that is not JSON ({e.msg})",
                             hint="check `deployer doctor`: the terraform binary may not be the expected version") from e
