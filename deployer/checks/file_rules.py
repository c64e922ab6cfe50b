"""File rules: every file a cluster.yaml names exists, stays inside the cluster folder, parses,
and is encrypted exactly when its name says it holds secrets; charts are known; leftovers warned."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from deployer.checks.problems import Problem, Severity
from deployer.checks.rules import ClusterDoc
from deployer.config.file_reader import DataFile, FileReader, PathRefused, is_secret_name
from deployer.config.models import RemoteChart

# Files that live in a cluster folder without being named by cluster.yaml.
CONVENTIONAL = re.compile(r"(cluster\.yaml|enc-grafana-token\.secret\.ya?ml|README(\..*)?|.*\.md|\..*)\Z", re.I)
_ENC_VALUE = re.compile(r"ENC\[[A-Z0-9_]+,data:")


@dataclass
class FileRef:
    ref: str
    path: tuple  # where cluster.yaml names it
    kind: str  # values | chart-override | domain-override | credentials
    hub: Optional[str] = None


@dataclass
class FileCheck:
    doc: ClusterDoc
    folder: Path
    reader: FileReader
    charts: dict[str, Path]
    problems: list[Problem] = field(default_factory=list)
    referenced: set[Path] = field(default_factory=set)
    _checked: set[Path] = field(default_factory=set)

    # -- helpers -------------------------------------------------------------------------
    def _cluster_problem(self, path: tuple, code: str, message: str, hint: Optional[str]) -> None:
        line, col = self.doc.loaded.value_positions.get(path) or self.doc.loaded.position(path)
        self.problems.append(Problem(file=self.doc.rel, line=line, column=col, code=code, message=message, hint=hint))

    def _file_problem(self, f: DataFile, code: str, message: str, hint: Optional[str] = None, line: int = 0,
                      column: int = 0, severity: Severity = Severity.error) -> None:
        self.problems.append(
            Problem(file=f.rel, line=line, column=column, code=code, message=message, hint=hint, severity=severity)
        )

    # -- references ----------------------------------------------------------------------
    def references(self, hubs: Optional[set[str]]) -> list[FileRef]:
        c = self.doc.model
        refs: list[FileRef] = []
        block = c.provider_block()
        for attr in ("key", "file"):
            ref = getattr(block, attr, None) if block is not None else None
            if isinstance(ref, str):
                refs.append(FileRef(ref, (c.provider.value, attr), "credentials"))
        if hubs is None and c.support is not None:
            for i, ref in enumerate(c.support.helm_chart_values_files):
                refs.append(FileRef(ref, ("support", "helm_chart_values_files", i), "values"))
        for i, hub in enumerate(c.hubs):
            if hubs is not None and hub.name not in hubs:
                continue
            for j, ref in enumerate(hub.helm_chart_values_files):
                refs.append(FileRef(ref, ("hubs", i, "helm_chart_values_files", j), "values", hub.name))
            if hub.chart_override:
                refs.append(FileRef(hub.chart_override, ("hubs", i, "chart_override"), "chart-override", hub.name))
            if hub.domain_override_file:
                refs.append(FileRef(hub.domain_override_file, ("hubs", i, "domain_override_file"), "domain-override", hub.name))
        return refs

    def check_reference(self, ref: FileRef) -> None:
        try:
            path = self.reader.resolve_reference(self.folder, ref.ref)
        except PathRefused as e:
            self._cluster_problem(ref.path, e.code, e.message, e.hint)
            return
        if path in self.referenced:
            return  # already checked (a values file shared by many hubs)
        if not path.exists():
            dangling = _dangling_link(self.folder / ref.ref)
            if dangling:
                self._cluster_problem(ref.path, "missing-file", f"{ref.ref}: {dangling}",
                                      f"make {ref.ref} a regular file, or a link to one")
                return
            present = sorted(p.name for p in self.folder.iterdir() if p.name != ref.ref)
            close = difflib.get_close_matches(ref.ref, present, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`?" if close else f"create {ref.ref} in {self.reader.rel(self.folder)}/, or fix the name"
            self._cluster_problem(ref.path, "missing-file", f"{ref.ref}: no such file", hint)
            return
        self.referenced.add(path)
        f = self.reader.read(path, positions=False)
        if f.problem is not None and f.problem.code in ("not-a-file", "missing-file"):
            self._cluster_problem(ref.path, f.problem.code, f"{ref.ref}: {f.problem.message}", f.problem.hint)
            return
        self.check_file(f, ref.kind)

    # -- the file itself -------------------------------------------------------------------
    def check_file(self, f: DataFile, kind: str) -> None:
        if f.path in self._checked:
            return
        self._checked.add(f.path)
        if f.problem is not None:
            p = f.problem
            self._file_problem(f, p.code, p.message, p.hint, p.line, p.column)
            return
        data = f.data
        secret_name = is_secret_name(f.path.name)
        if kind != "credentials" and not isinstance(data, dict):
            what = "empty" if data is None else f"a {type(data).__name__}"
            if data is None and kind == "values" and not secret_name:
                self._file_problem(f, "empty-file", "values file is empty", "remove it from the list, or add values",
                                   severity=Severity.warning)
            else:
                self._file_problem(f, "not-a-mapping", f"must be a YAML mapping of keys, but it is {what}",
                                   "a values file holds `key: value` pairs at its top level")
            return
        if secret_name and not f.is_encrypted:
            self._file_problem(
                f, "plaintext-secret", "the file name says it holds secrets, but it is not sops-encrypted",
                f"encrypt it now (`sops --encrypt --in-place {f.path.name}`), and rotate any secret it held: "
                "it may already have been committed in plain text",
            )
            return
        if not secret_name and f.is_encrypted:
            self._file_problem(
                f, "secret-name", "the file is sops-encrypted, but its name does not contain `secret`",
                "rename it, e.g. enc-<name>.secret.values.yaml, so that tools and people treat it as a secret",
            )
        if f.is_encrypted:
            self._check_fully_encrypted(f)
        if kind == "chart-override":
            missing = [k for k in ("apiVersion", "name", "version") if k not in data]
            if missing:
                self._file_problem(f, "bad-chart-override", f"chart override lacks {', '.join(missing)}",
                                   "a chart override is a complete Chart.yaml (apiVersion, name, version, dependencies)")
        if kind == "domain-override" and not f.is_encrypted and not isinstance(data.get("domain"), str):
            self._file_problem(f, "bad-domain-override", "domain override file has no `domain:` string",
                               "the file holds one key: `domain: <the hub's temporary domain>`")

    def _check_fully_encrypted(self, f: DataFile) -> None:
        """In a sops file every value must be ciphertext, unless sops was told to leave some in clear."""
        meta = f.sops_metadata or {}
        wrong = [k for k in SOPS_SELECTORS if meta.get(k) is not None and not isinstance(meta[k], str)]
        placed = self.reader.read(f.path, positions=True) if wrong else f  # rare: parsed again, with positions
        for key in wrong:
            line, column = placed.loaded.position(("sops", key)) if placed.loaded else (0, 0)
            self._file_problem(
                f, "bad-sops-metadata",
                f"sops metadata `{key}` must be a string (a suffix or regular expression), not a "
                f"{type(meta[key]).__name__}",
                "sops writes it as a string: restore the file from git, or decrypt and re-encrypt it with sops",
                line, column)
        if wrong:
            return
        if any(meta.get(k) for k in SOPS_SELECTORS if k != "unencrypted_suffix"):
            return
        suffix = meta.get("unencrypted_suffix") or "_unencrypted"
        clear = _plaintext_paths(f.data, suffix)
        if clear:
            shown = ", ".join(".".join(str(p) for p in path) for path in clear[:5])
            more = f" and {len(clear) - 5} more" if len(clear) > 5 else ""
            self._file_problem(
                f, "plaintext-in-encrypted", f"values stored in clear text inside a sops-encrypted file: {shown}{more}",
                "add them with `sops <file>` (which encrypts them), never by editing the file directly; rotate them",
            )

    # -- charts ---------------------------------------------------------------------------
    def check_charts(self, hubs: Optional[set[str]]) -> None:
        c = self.doc.model
        for i, hub in enumerate(c.hubs):
            if hubs is not None and hub.name not in hubs:
                continue
            self._check_chart(hub.helm_chart, ("hubs", i, "helm_chart"))
        if c.support is not None and hubs is None:
            self._check_chart(c.support.helm_chart, ("support", "helm_chart"))

    def _check_chart(self, chart: Any, path: tuple) -> None:
        if isinstance(chart, RemoteChart):
            if not chart.repository.startswith(("https://", "oci://", "http://")):
                self._cluster_problem(path + ("repository",), "bad-chart", f"chart repository `{chart.repository}` is not a URL",
                                      "use an https:// or oci:// chart repository URL")
            return
        if chart not in self.charts:
            known = sorted(self.charts)
            close = difflib.get_close_matches(chart, known, n=1, cutoff=0.6)
            hint = (f"did you mean `{close[0]}`? " if close else "") + (
                f"known charts: {', '.join(known)}; or name a remote chart with name, repository and version"
            )
            self._cluster_problem(path, "unknown-chart", f"chart `{chart}` is not known", hint)

    # -- leftovers ------------------------------------------------------------------------
    def check_unreferenced(self) -> None:
        try:
            entries = sorted(self.folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if CONVENTIONAL.match(entry.name) or not entry.is_file():
                continue
            if Path(os.path.realpath(entry)) in self.referenced:
                continue
            rel = self.reader.rel(entry)
            if is_secret_name(entry.name) and entry.suffix.lower() in (".yaml", ".yml", ".json"):
                f = self.reader.read(entry, positions=False)
                if f.problem is None and not f.is_encrypted:
                    self._file_problem(f, "plaintext-secret", "the file name says it holds secrets, but it is not sops-encrypted",
                                       "encrypt it with sops (and rotate what it held), or delete it")
                    continue
            self.problems.append(
                Problem(file=rel, severity=Severity.warning, code="unreferenced-file",
                        message="not referenced by cluster.yaml",
                        hint="list it in a hub's helm_chart_values_files, or delete it")
            )


# the keys of a sops file's metadata that choose which values sops encrypted: each a string
SOPS_SELECTORS = ("unencrypted_suffix", "encrypted_suffix", "encrypted_regex", "unencrypted_regex",
                  "encrypted_comment_regex", "unencrypted_comment_regex")


def _plaintext_paths(data: Any, suffix: str) -> list[tuple]:
    out: list[tuple] = []
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if not path and k == "sops":
                    continue
                if isinstance(k, str) and k.endswith(suffix):
                    continue
                stack.append((path + (k,), v))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                stack.append((path + (i,), v))
        elif isinstance(node, str):
            if node and not _ENC_VALUE.match(node):
                out.append(path)
        elif node is not None:
            out.append(path)
    return sorted(out, key=str)


def _dangling_link(path: Path) -> str:
    """Why a path that is there (a symbolic link) does not lead to a file; "" when it is not there."""
    import errno

    if not os.path.islink(path):
        return ""
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symbolic link loop"
        return f"a symbolic link to {os.readlink(path)}, which does not exist"
    return ""
