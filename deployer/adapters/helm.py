"""Helm releases through pyhelm3 (async) over the real `helm` binary.

Holds no policy: it installs, upgrades, rolls back, lists history and renders, each with a
timeout, and translates pyhelm3's errors into ours with secrets redacted. Values always travel
on helm's standard input (never a file).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from deployer.adapters.process import ProcessRunner
from deployer.errors import ToolError, ToolTimeout

log = logging.getLogger("deployer.helm")

# Pending states are left behind when helm is killed mid-operation; helm then refuses to touch
# the release ("another operation is in progress") until someone recovers it.
PENDING = {"pending-install", "pending-upgrade", "pending-rollback"}
GRACE = 30.0  # seconds allowed beyond helm's own --timeout before we cancel it
STOP_GRACE = 4.0  # seconds a cancelled helm may take to exit (it leaves a pending release, recovered later)
COMMAND_CEILING = 6 * 3600.0  # the process layer's own bound; each call has its own, shorter one
# labels for the `helm upgrade` of the current task (pyhelm3 has no option for them); a context
# variable, so concurrent upgrades on one Helm each carry their own
_UPGRADE_LABELS: contextvars.ContextVar[Optional[dict[str, str]]] = contextvars.ContextVar("upgrade_labels",
                                                                                           default=None)


# What kind of failure a helm error is, decided once here from helm's own text (helm has no
# machine-readable errors): each kind is a subclass of HelmError below, and callers branch on the
# class. The samples in tests/unit/data/helm_stderr/ are helm 3.17's own words.
RENDER = "render"  # the chart did not render with these values (nothing was applied)
UNREACHABLE = "unreachable"  # the cluster's API server did not answer
TIMEOUT = "timeout"  # applied, but not ready in time (helm's --wait gave up)
REJECTED = "rejected"  # the API server refused an object (validation, admission)
NOT_FOUND = "not-found"  # no such release
IN_PROGRESS = "in-progress"  # the release's last operation is still pending (helm was killed mid-way)
OTHER = "other"

_NOT_FOUND = ("release: not found",)
_IN_PROGRESS = ("another operation (install/upgrade/rollback) is in progress",)
_UNREACHABLE = ("connection refused", "no such host", "unable to connect", "kubernetes cluster unreachable",
                "connect: connection reset", "i/o timeout", "eof", "the server is currently unable",
                "tls handshake timeout", "no route to host", "cluster unreachable", "unexpected eof", ": eof\n")
_TIMEOUT = ("context deadline exceeded", "timed out waiting for the condition", "resource not ready")
_SCHEMA = ("values don't meet the specifications",)
_RENDER = ("failed to render chart", "execution error", *_SCHEMA, "parse error", "template:")
_REJECTED = ("is invalid", "admission webhook", "forbidden", "field is immutable", "unprocessable")


def classify(stderr: str) -> str:
    """The kind (RENDER, UNREACHABLE, ..., OTHER) of helm's error text."""
    low = stderr.lower() + "\n"
    for kind, keys in ((NOT_FOUND, _NOT_FOUND), (IN_PROGRESS, _IN_PROGRESS), (RENDER, _RENDER),
                       (UNREACHABLE, _UNREACHABLE), (TIMEOUT, _TIMEOUT), (REJECTED, _REJECTED)):
        if any(k in low for k in keys):
            return kind
    return OTHER


class HelmError(ToolError):
    """A helm operation failed; `detail` is helm's own (redacted) explanation. Its class says what
    kind of failure it is (`kind` names it too, for reports)."""

    KIND = OTHER

    def __init__(self, message: str, hint: Optional[str] = None, detail: str = "") -> None:
        super().__init__(message, hint)
        self.detail = detail

    @property
    def kind(self) -> str:
        return self.KIND


class ClusterUnreachable(HelmError):
    """The API server stopped answering (found by helm, or by the probe while helm waited)."""

    KIND = UNREACHABLE

    def __init__(self, message: str, hint: Optional[str] = None, detail: str = "") -> None:
        super().__init__(message, hint or "the cluster's API server did not answer: check that it is up "
                         "(`deployer local status` for the local cluster), then deploy again: a release left "
                         "pending is recovered", detail)


class ReleaseNotFound(HelmError):
    """The release does not exist (in that namespace)."""

    KIND = NOT_FOUND


class AnotherOperationInProgress(HelmError):
    """helm refuses to touch the release: its last operation is pending (a killed helm left it)."""

    KIND = IN_PROGRESS


class ChartRenderFailed(HelmError):
    """The chart did not render with these values: nothing was applied."""

    KIND = RENDER


class ChartSchemaRejected(ChartRenderFailed):
    """The values do not meet the JSON schema of the chart or of a subchart."""


class ObjectsRejected(HelmError):
    """The API server refused an object of the release (validation, admission, immutable field)."""

    KIND = REJECTED


class ReleaseTimeout(HelmError):
    """helm applied the release, but it was not ready within --timeout (`--wait` gave up)."""

    KIND = TIMEOUT


_CLASSES: dict[str, type[HelmError]] = {NOT_FOUND: ReleaseNotFound, IN_PROGRESS: AnotherOperationInProgress,
                                        RENDER: ChartRenderFailed, TIMEOUT: ReleaseTimeout, REJECTED: ObjectsRejected}


def helm_error(what: str, detail: str) -> HelmError:
    """helm's (redacted) error text for `helm <what>` as the one typed error it means."""
    first = _summary(detail)
    kind = classify(detail)
    if kind == UNREACHABLE:
        return ClusterUnreachable(f"cluster unreachable: helm {what} failed: {first}", detail=detail)
    if kind == RENDER:
        cls: type[HelmError] = ChartSchemaRejected if any(k in detail.lower() for k in _SCHEMA) else ChartRenderFailed
        return cls(f"helm {what} failed: {first}",
                   "the chart could not render with these values: check the values files named above", detail)
    return _CLASSES.get(kind, HelmError)(f"helm {what} failed: {first}", None, detail)


@dataclass(frozen=True)
class Revision:
    revision: int
    status: str
    chart: str  # name-version
    app_version: str
    updated: str
    description: str

    @property
    def chart_version(self) -> str:
        return self.chart.rsplit("-", 1)[-1] if "-" in self.chart else self.chart


@dataclass(frozen=True)
class ChartSource:
    """Where helm takes a chart from: a local folder, or a repository and a pinned version."""

    ref: str
    repo: Optional[str] = None
    version: Optional[str] = None

    @classmethod
    def folder(cls, path: Path) -> "ChartSource":
        return cls(str(path))

    @classmethod
    def remote(cls, name: str, repository: str, version: str) -> "ChartSource":
        if repository.startswith("oci://"):
            return cls(f"{repository.rstrip('/')}/{name}", None, version)
        return cls(name, repository, version)


def _command_class():
    """pyhelm3's Command builds helm's arguments and parses its JSON; its own process layer is
    replaced: it runs helm through `sh -c`, so cancelling (Ctrl-C, a timeout) terminates the
    shell and leaves helm running, and it cannot pass an environment. Ours runs helm directly in
    its own process group (stopped on cancel), with our environment and a redacted debug log."""
    from pyhelm3 import Command
    from pyhelm3 import errors as herr

    class DeployerCommand(Command):
        def __init__(self, *, runner: ProcessRunner, env: dict[str, str], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._runner = runner
            self._env = env

        async def run(self, command: list, input: Optional[bytes] = None) -> bytes:
            input = utf8_values(input)
            # helm 3 reads a bare --dry-run as client-side; ours asks the API server to validate
            argv = [self._executable, *("--dry-run=server" if str(c) == "--dry-run" else str(c) for c in command)]
            labels = _UPGRADE_LABELS.get()
            if labels and command and str(command[0]) == "upgrade":
                argv += ["--labels", ",".join(f"{k}={v}" for k, v in sorted(labels.items()))]
            if self._kubeconfig:
                argv += ["--kubeconfig", str(self._kubeconfig)]
            if self._kubecontext:
                argv += ["--kube-context", self._kubecontext]
            if input:  # pyhelm3 sends values as ASCII JSON: characters beyond the BMP (an emoji) become
                # surrogate-pair escapes, which helm's YAML parser refuses; send them as UTF-8 instead
                input = _utf8_json(input)
            # a cancelled helm (Ctrl-C, the cluster gone) gets STOP_GRACE seconds to exit before SIGKILL
            result = await self._runner.run_async(argv, timeout=COMMAND_CEILING, env=self._env, input=input,
                                                  grace=STOP_GRACE)
            if result.ok:
                return result.stdout.encode()
            # carried to Helm._call, which classifies it (helm_error) once
            raise herr.Error(result.returncode, result.stdout.encode(), result.stderr.encode())

    return DeployerCommand


class Helm:
    """One per cluster access (kubeconfig + context)."""

    def __init__(self, binary: Path, kubeconfig: Optional[Path], runner: ProcessRunner, *,
                 context: Optional[str] = None, history_max: int = 10, env: Optional[dict[str, str]] = None) -> None:
        self.redactor = runner.redactor
        self._command = _command_class()(
            runner=runner, env=dict(env or {}), executable=str(binary), kubeconfig=kubeconfig, kubecontext=context,
            history_max_revisions=history_max, default_timeout="5m",
        )

    async def _call(self, what: str, coro: Any, timeout: float) -> Any:
        from pyhelm3 import errors as herr

        try:
            return await asyncio.wait_for(coro, timeout)
        except asyncio.TimeoutError as e:
            raise ToolTimeout(f"helm {what}: no answer after {timeout:.0f}s",
                              hint="check that the cluster's API server answers (`deployer local status` for the local cluster)") from e
        except herr.Error as e:
            raise helm_error(what, self.redactor(e.stderr.decode(errors="replace").strip())) from e
        except FileNotFoundError as e:
            raise ToolError(f"helm not found: {e}", hint="run ./install.sh") from e

    async def history(self, release: str, namespace: str, timeout: float = 60) -> list[Revision]:
        """Revisions, oldest first; [] when the release does not exist."""
        try:
            raw = await self._call(f"history {release}",
                                   self._command.history(release, namespace=namespace, max_revisions=20), timeout)
        except ReleaseNotFound:
            return []
        return [
            Revision(int(r["revision"]), str(r.get("status", "")), str(r.get("chart", "")),
                     str(r.get("app_version", "")), str(r.get("updated", "")), str(r.get("description", "")))
            for r in raw
        ]

    async def upgrade_install(self, release: str, chart: ChartSource, values: dict[str, Any], *, namespace: str,
                              timeout: float, wait: bool = True, dry_run: bool = False, description: str = "",
                              labels: Optional[dict[str, str]] = None) -> dict:
        """`helm upgrade --install`; `labels` are stored on the new revision's release record
        (helm merges them with the labels of the revision before)."""
        token = _UPGRADE_LABELS.set(labels or None)
        try:
            return await self._upgrade_install(release, chart, values, namespace=namespace, timeout=timeout,
                                               wait=wait, dry_run=dry_run, description=description)
        finally:
            _UPGRADE_LABELS.reset(token)

    async def _upgrade_install(self, release: str, chart: ChartSource, values: dict[str, Any], *, namespace: str,
                               timeout: float, wait: bool, dry_run: bool, description: str) -> dict:
        return await self._call(
            f"upgrade --install {release}",
            self._command.install_or_upgrade(
                release, chart.ref, values, namespace=namespace, create_namespace=True, wait=wait,
                timeout=f"{int(timeout)}s", dry_run=dry_run, description=description or None,
                repo=chart.repo, version=chart.version,
            ),
            timeout + GRACE,
        )

    async def rollback(self, release: str, revision: int, *, namespace: str, timeout: float, wait: bool = True) -> None:
        await self._call(
            f"rollback {release} {revision}",
            self._command.rollback(release, revision, namespace=namespace, timeout=f"{int(timeout)}s", wait=wait),
            timeout + GRACE,
        )

    async def uninstall(self, release: str, *, namespace: str, timeout: float) -> None:
        await self._call(
            f"uninstall {release}",
            self._command.uninstall(release, namespace=namespace, timeout=f"{int(timeout)}s", wait=False),
            timeout + GRACE,
        )

    async def template(self, release: str, chart: ChartSource, values: dict[str, Any], *, namespace: str,
                       timeout: float = 120) -> list[dict]:
        docs = await self._call(
            f"template {release}",
            self._command.template(release, chart.ref, values, namespace=namespace, repo=chart.repo, version=chart.version),
            timeout,
        )
        return [d for d in docs if d]

    async def status(self, release: str, namespace: str, timeout: float = 60) -> dict:
        return await self._call(f"status {release}", self._command.status(release, namespace=namespace), timeout)

    async def list_releases(self, timeout: float = 60) -> list[dict]:
        """Every release in every namespace, whatever its state (`helm list -A --all -o json`)."""
        return list(await self._call("list --all-namespaces", self._command.list(all=True, all_namespaces=True,
                                                                                   max_releases=10000), timeout))

    async def render(self, release: str, chart: ChartSource, values: dict[str, Any], *, namespace: str,
                     timeout: float = 120) -> list[dict]:
        """The objects `upgrade_install` would apply, rendered by a server-side dry run: as in a
        real upgrade, the chart's `lookup` sees the cluster, so values it generates and keeps
        (tokens in the Secret `hub`) are the live ones, not fresh random ones."""
        import yaml

        result = await self.upgrade_install(release, chart, values, namespace=namespace, timeout=timeout, wait=False,
                                            dry_run=True)
        return [d for d in yaml.safe_load_all(result.get("manifest") or "") if d]

    async def user_values(self, release: str, namespace: str, revision: Optional[int] = None,
                          timeout: float = 60) -> dict:
        """The values given to a revision of the release (`helm get values`); {} when none."""
        values = await self._call(f"get values {release}",
                                  self._command.get_values(release, namespace=namespace, revision=revision), timeout)
        return values if isinstance(values, dict) else {}

    async def manifest(self, release: str, namespace: str, timeout: float = 60) -> list[dict]:
        """The objects of the release's current revision (`helm get manifest`), hooks excluded."""
        async def load() -> list[dict]:
            return [d for d in await self._command.get_resources(release, namespace=namespace) if d]

        return await self._call(f"get manifest {release}", load(), timeout)


def _utf8_json(data: bytes) -> bytes:
    import json

    try:
        return json.dumps(json.loads(data), ensure_ascii=False).encode("utf-8")
    except ValueError:
        return data


def error_summary(detail: str) -> str:
    """helm's error in one line: its last `Error:` line, with the lines that carry its message
    when that line only introduces them (a chart's `fail "\n..."`, a values-schema rejection)."""
    return _summary(detail)


def _summary(detail: str) -> str:
    lines = [ln.strip() for ln in detail.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.lower().startswith("error")]
    line = (errors or lines or ["(no message)"])[-1]
    if line.endswith(":") and line in lines:  # the message is on the lines after (a chart's `fail "\n..."`)
        rest = []
        for ln in lines[lines.index(line) + 1:]:
            if ln.startswith("Use --debug flag") or ln.lower().startswith("error"):
                break
            rest.append(ln)
        if rest and not _MULTI.search(line):
            for ln in rest:  # a line ending in ":" introduces the next one
                line += (" " if line.endswith(":") else "; ") + ln
    if _MULTI.search(line):  # "Error: 1 error occurred:" then one "* ..." line per error: those say what
        items = [ln.removeprefix("* ") for ln in lines[lines.index(line) + 1:] if ln.startswith("* ")]
        line = "; ".join(items) or line
    return line.removeprefix("Error: ").removeprefix("error: ")[:500]


_MULTI = re.compile(r"\d+ errors? occurred:$")


def utf8_values(data: Optional[bytes]) -> Optional[bytes]:
    """pyhelm3 hands helm its values as JSON on stdin, written with json's ASCII escapes: a character
    beyond the BMP (an emoji in a secret) becomes a surrogate pair `\\ud83d\\ude00`, which helm's YAML
    parser refuses ("found invalid Unicode character escape code"). The same JSON in plain UTF-8."""
    if not data:
        return data
    import json

    try:
        return json.dumps(json.loads(data), ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return data
