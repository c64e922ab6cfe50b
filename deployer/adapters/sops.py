"""sops: decrypt secrets just in time, in memory where possible, and register them for redaction.

Values files are decrypted into memory (sops writes the plaintext to a pipe) and handed to
helm on its standard input, so no plaintext values file ever exists on disk. Files that a tool
must read from disk (a kubeconfig) are decrypted into an owner-only temporary folder that is
removed when the `with` block ends, on every exit path including Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Optional

from deployer import stopping
from deployer.adapters.process import ProcessRunner
from deployer.config.yamlload import MAX_FILE_BYTES, YamlProblem, decode, load_json, load_yaml
from deployer.errors import ToolError
from deployer.redact import leaf_strings
from deployer.toolchain import find_tool

DECRYPT_TIMEOUT = 60.0
AGE_KEY_ENV = "SOPS_AGE_KEY_FILE"


class SopsError(ToolError):
    """A file could not be decrypted."""


class Sops:
    def __init__(self, runner: ProcessRunner, binary: Path | None = None) -> None:
        self.runner = runner
        self._binary = binary

    @property
    def binary(self) -> Path:
        if self._binary is None:
            self._binary = find_tool("sops")
        return self._binary

    def decrypt_text(self, path: Path, *, public_keys: Iterable[str] = ()) -> str:
        """The plaintext of a sops file; every value in it is registered for redaction, but those
        directly under one of `public_keys` (in a kubeconfig: names and URLs, not credentials)."""
        refuse_unsafe(path)
        check_age_key_file()
        result = self.runner.run(
            [self.binary, "--disable-version-check", "decrypt", path], timeout=DECRYPT_TIMEOUT
        )
        if not result.ok:
            raise SopsError(
                f"{path.name}: sops could not decrypt it: {self.runner.redactor(sops_failure(result.stderr))}",
                hint=_hint(result.stderr),
            )
        text = result.stdout
        self._register(text, path, public_keys)
        return text

    def decrypt_data(self, path: Path) -> Any:
        """Decrypt and parse (YAML or JSON by extension)."""
        text = self.decrypt_text(path)
        try:
            loaded = load_json(text) if path.suffix.lower() == ".json" else load_yaml(text, positions=False)
        except YamlProblem as e:
            # the message names the position, never the content
            raise SopsError(f"{path.name}: decrypted content does not parse: {e.message} (line {e.line})") from e
        return loaded.data

    def encrypt_text(self, text: str, filename: str, *, recipient: Optional[str] = None,
                     config: Optional[Path] = None, cwd: Optional[Path] = None) -> str:
        """Encrypt `text` (handed to sops on its standard input, never written to disk) as the
        file `filename` would be: its extension gives the format, and the creation rules of
        `config` (a .sops.yaml) match its path. `recipient`, an age public key, overrides them."""
        args: list[Any] = [self.binary, "--disable-version-check"]
        if config is not None and recipient is None:
            args += ["--config", config]
        args += ["encrypt", "--filename-override", filename]
        if recipient is not None:
            args += ["--age", recipient]
        args.append("/dev/stdin")
        result = self.runner.run(args, timeout=DECRYPT_TIMEOUT, input=text, cwd=cwd)
        if not result.ok:
            raise SopsError(
                f"{Path(filename).name}: sops could not encrypt it: {self.runner.redactor(sops_failure(result.stderr))}",
                hint="pass --age-recipient, or add a creation rule matching this path to the repository's .sops.yaml",
            )
        return result.stdout

    @contextlib.contextmanager
    def decrypted_file(self, path: Path, *, public_keys: Iterable[str] = ()) -> Iterator[Path]:
        """The plaintext in an owner-only temporary file, removed on every exit path. What is
        registered as secret: as `decrypt_text`."""
        text = self.decrypt_text(path, public_keys=public_keys)  # in memory first: no file if this fails
        policy = stopping.current()
        folder = policy.secret_folder("deployer-secret-")  # removed at the end of a stopped command too
        try:
            os.chmod(folder, 0o700)
            target = folder / path.name.replace("enc-", "", 1)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            yield target
        finally:
            policy.remove_folder(folder)

    def _register(self, text: str, path: Path, public_keys: Iterable[str] = ()) -> None:
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else load_yaml(text, positions=False).data
        except (ValueError, YamlProblem):
            self.runner.redactor.add(text)
            return
        for value in leaf_strings(data, numbers=True, public_keys=public_keys):
            self.runner.redactor.add(value)


STRUCTURED = (".yaml", ".yml", ".json")


def refuse_unsafe(path: Path) -> None:
    """What sops is never handed: anything but a regular file of bounded size, and a YAML or JSON
    file that deployer's own bounded loader refuses (an alias bomb that sops would expand into
    gigabytes, a duplicate key, a document too deep): what `deployer validate` refuses."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise SopsError(f"{path.name}: cannot read it: {e.strerror}") from e
    if not stat.S_ISREG(st.st_mode):
        raise SopsError(f"{path.name}: refused, not decrypted: not a regular file",
                        hint="name a sops-encrypted file, not a pipe, device or folder")
    if st.st_size > MAX_FILE_BYTES:
        raise SopsError(f"{path.name}: refused, not decrypted: larger than {MAX_FILE_BYTES // 2**20} MiB",
                        hint="run `deployer validate`")
    if path.suffix.lower() not in STRUCTURED:
        return  # sops's other formats (dotenv, ini, binary) are not parsed here
    try:
        text = decode(path.read_bytes())
        if path.suffix.lower() == ".json":
            load_json(text)
        else:
            load_yaml(text, positions=False)
    except OSError as e:
        raise SopsError(f"{path.name}: cannot read it: {e.strerror}") from e
    except YamlProblem as e:
        # the message names the position and the rule, never the content
        # keep-from-None: the parser's exception may quote the file's (secret) content
        raise SopsError(f"{path.name}: refused, not decrypted: {e.message} (line {e.line})",
                        hint=f"{e.hint + '; ' if e.hint else ''}run `deployer validate`") from None


def check_age_key_file(env: Optional[dict[str, str]] = None) -> None:
    """A SOPS_AGE_KEY_FILE that is set must name a readable file: sops itself would only say that
    no key decrypted the file, and `render` would quietly fall back to placeholder values."""
    value = (os.environ if env is None else env).get(AGE_KEY_ENV)
    if not value:
        return
    hint = f"point {AGE_KEY_ENV} at your age key file (the path `deployer init` printed), or unset it"
    try:
        if os.path.isdir(value):
            raise SopsError(f"{AGE_KEY_ENV}={value}: a folder, not a key file", hint=hint)
        if not os.path.isfile(value):
            raise SopsError(f"{AGE_KEY_ENV}={value}: no such file", hint=hint)
        if not os.access(value, os.R_OK):
            raise SopsError(f"{AGE_KEY_ENV}={value}: cannot be read (permission denied)", hint=hint)
    except ValueError as e:  # a NUL byte
        raise SopsError(f"{AGE_KEY_ENV}: not a usable path", hint=hint) from e


def sops_failure(stderr: str) -> str:
    """sops's reason in one line: its first line, then why each key failed ("- | ..." blocks,
    joined, without the list of places it also looked), not its closing sentence ("... but none were.")."""
    lines = [ln.rstrip() for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return "(sops gave no reason)"
    headline = lines[0].strip().rstrip(".")
    reasons: list[str] = []
    key, parts = "", []  # type: ignore[var-annotated]

    def flush() -> None:
        if key and parts:
            reason = " ".join(parts).split(". Did not find keys in locations")[0].rstrip(".")
            reasons.append(f"{key[:12]}…: {reason}" if len(key) > 12 else f"{key}: {reason}")

    for ln in lines[1:]:
        s = ln.strip()
        if s.endswith(": FAILED") and not s.startswith("Group "):
            flush()
            key, parts = s[: -len(": FAILED")], []
        elif key and (s.startswith("- |") or s.startswith("|")):
            parts.append(s.lstrip("-").strip().lstrip("|").strip())
    flush()
    if reasons:
        return f"{headline}: " + "; ".join(reasons)[:800]
    return "; ".join(ln.strip() for ln in lines)[:800]


def _hint(stderr: str) -> str:
    low = stderr.lower()
    if "age" in low and ("no identity" in low or "failed to get the data key" in low or "no key" in low):
        return f"set {AGE_KEY_ENV} to an age key file that can decrypt it (see README: secrets)"
    if "kms" in low or "credentials" in low:
        return "sops needs credentials for the file's key service (KMS); log in to that cloud first"
    if "mac mismatch" in low:
        return "the file was edited without sops; restore it from git and edit it with `sops <file>`"
    return "check the file with `sops decrypt <file>`"
