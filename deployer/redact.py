"""Redaction of secret values from anything the deployer prints or writes.

A `Redactor` holds the secret strings known so far (decrypted values, tokens, keys) and replaces
each with a fixed marker. Every log record (a logging filter, `install_log_redaction`), error
message (`redact`) and report goes through one.

What is matched, for each secret, is every form in which a tool or a serializer may show it
(`secret_forms`): raw; JSON-escaped (Python's and Go's, which also escapes `<>&`), also escaped
twice (a JSON string inside a JSON report); YAML double- and single-quoted; shell-quoted (single
and double quotes, as `shlex.join` writes a command line); Python `repr`; percent-encoded; and
base64 (standard and URL-safe, padded or not, and the three aligned cores that appear when the
secret is part of a longer base64-encoded text, such as a Secret's data).

Whole values, not pieces of words. A form is replaced only where it stands as a token of its
own: not preceded or followed by a letter, digit or `_`, nor by a `.`/`-` joined to one (so a
secret `uw` or `cloud` never turns `k8s.uw.example.edu` into `k8s.[REDACTED].example.edu`).
Long secrets (`ANYWHERE_LEN` characters and more, what generated tokens and keys are) and the
base64 cores are replaced wherever they occur, even inside other text: at that length, a match
is the secret.

Very short secrets (fewer than `MIN_SECRET_LEN` = 4 characters, e.g. a sops value `abc`) would
blank out ordinary words if matched as tokens anywhere. They are redacted where they stand as a
whole *value*: after `key: `, `key=`, a quote or a list dash, and before a quote, `,`, `}`, `]`
or the end of the line (`value: abc`, `"abc"`, `X=abc`), in each of their forms. A one-letter
secret inside a sentence is not redacted: do not use secrets that short (README: secrets).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import shlex
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

MARKER = "[REDACTED]"
MIN_SECRET_LEN = 4  # shorter secrets are redacted only as whole values (see the module's notes)
_MIN_SECRET_LEN = MIN_SECRET_LEN  # old name
ANYWHERE_LEN = 16  # secrets this long are redacted wherever they occur, even inside a word
_BASE64_CORE_MIN = 8  # base64 cores shorter than this are not matched inside other base64 text


# -- the forms of a secret ------------------------------------------------------------------------

_C_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\a": "\\a", "\b": "\\b", "\f": "\\f",
              "\v": "\\v", "\0": "\\0"}


def _printable(ch: str) -> bool:
    return ch == " " or (ch.isprintable() and unicodedata.category(ch)[0] not in "CZ") or ch.isalnum()


def _c_escape(s: str, quote_char: str, *, ascii_only: bool, hex_style: str = "python") -> str:
    """Backslash escapes as Python's repr / Go's %q / YAML double quotes write them."""
    out = []
    for ch in s:
        if ch == quote_char:
            out.append("\\" + ch)
        elif ch in _C_ESCAPES and not (ch == "\0" and hex_style != "yaml"):
            out.append(_C_ESCAPES[ch])
        elif (ascii_only and ord(ch) > 126) or not _printable(ch):
            code = ord(ch)
            if code <= 0xFF:
                out.append(f"\\x{code:02x}" if hex_style != "yaml" else f"\\x{code:02X}")
            elif code <= 0xFFFF:
                out.append(f"\\u{code:04x}" if hex_style != "yaml" else f"\\u{code:04X}")
            else:
                out.append(f"\\U{code:08x}" if hex_style != "yaml" else f"\\U{code:08X}")
        else:
            out.append(ch)
    return "".join(out)


def _json_inner(s: str, *, ascii_only: bool, go: bool = False) -> str:
    text = json.dumps(s, ensure_ascii=ascii_only)[1:-1]
    if go:  # Go's encoding/json (helm, kubectl -o json) also escapes HTML characters
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


def _base64_forms(raw: bytes) -> set[str]:
    forms = set()
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        text = enc(raw).decode()
        forms.add(text)
        forms.add(text.rstrip("="))
    return {f for f in forms if f}


def base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend only on `raw`, for each of the three alignments `raw`
    can have inside a longer encoded text: a secret embedded in base64 contains one of them."""
    cores = set()
    n = len(raw)
    for k in range(3):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(b"\0" * k + raw).decode()
            first = -(-8 * k // 6)  # first character whose bits all come from raw
            last = (8 * (k + n) - 6) // 6  # last such character
            core = text[first:last + 1]
            if len(core) >= _BASE64_CORE_MIN:
                cores.add(core)
    return cores


def secret_forms(secret: str) -> set[str]:
    """Every text form of `secret` that the redactor replaces (all but the base64 cores)."""
    forms = {secret}
    for ascii_only in (False, True):
        json_form = _json_inner(secret, ascii_only=ascii_only)
        go_form = _json_inner(secret, ascii_only=ascii_only, go=True)
        forms |= {json_form, go_form}
        # a JSON/quoted string inside another JSON string (a helm error inside our report)
        forms |= {json.dumps(json_form)[1:-1], json.dumps(go_form)[1:-1]}
        for q in ("'", '"'):
            forms.add(_c_escape(secret, q, ascii_only=ascii_only))
        forms.add(_c_escape(secret, '"', ascii_only=ascii_only, hex_style="yaml"))  # YAML double quotes
    forms.add(repr(secret)[1:-1])
    forms.add(ascii(secret)[1:-1])
    forms.add(json.dumps(_c_escape(secret, '"', ascii_only=False))[1:-1])  # Go %q inside JSON
    forms.add(secret.replace("'", "''"))  # YAML single quotes
    forms.add(shlex.quote(secret))  # a whole shell word
    forms.add(secret.replace("'", "'\"'\"'"))  # inside a longer single-quoted shell word (shlex.join)
    forms.add(re.sub(r'([\\"$`])', r"\\\1", secret))  # inside shell double quotes
    forms.add(quote(secret, safe=""))
    forms.add(quote_plus(secret, safe=""))
    forms.add(quote(secret))  # a URL path
    forms |= _base64_forms(secret.encode())
    return {f for f in forms if f}


# -- the redactor ---------------------------------------------------------------------------------

_WORD = r"[^\W]"  # a letter, digit or underscore (any script)


def _token_pattern(form: str) -> str:
    """`form` as a whole token: not inside a word nor joined to one by `.` or `-`."""
    body = re.escape(form)
    if re.match(_WORD, form[0]):
        body = rf"(?<!{_WORD})(?<!{_WORD}[.\-]){body}"
    if re.match(_WORD, form[-1]):
        body = rf"{body}(?!{_WORD})(?![.\-]{_WORD})"
    return body


def _value_pattern(form: str) -> str:
    """`form` standing as a whole value (for secrets shorter than MIN_SECRET_LEN)."""
    before = r"(?:^|(?<=[:=] )|(?<=[:=])|(?<=[\"'])|(?<=- ))"
    after = r"(?=[\"',}\]\\]|[ \t]*$)"
    return f"{before}{re.escape(form)}{after}"


class Redactor:
    def __init__(self, secrets: Iterable[str] = (), *, _global: bool = False) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._short: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._dirty = False
        self._is_global = _global
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        if not secret or not isinstance(secret, str):
            return
        values = {secret, *(line for line in secret.splitlines() if line.strip())}
        with self._lock:
            for value in values:
                stripped = value.strip()
                for v in {value, stripped}:
                    if not v.strip():
                        continue
                    if len(v) >= MIN_SECRET_LEN:
                        if v not in self._secrets:
                            self._secrets.add(v)
                            self._dirty = True
                    elif v not in self._short:
                        self._short.add(v)
                        self._dirty = True
        if not self._is_global:
            _GLOBAL.add(secret)

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._dirty or self._pattern is None:
                self._pattern = _build(self._secrets, self._short)
                self._dirty = False
            return self._pattern

    def __call__(self, text: str) -> str:
        if not text or not isinstance(text, str):
            return text
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(MARKER, text)
        if not self._is_global:  # what another part of the run registered is a secret here too
            text = _GLOBAL(text)
        return text

    def __len__(self) -> int:
        return len(self._secrets) + len(self._short)


def _build(secrets: set[str], short: set[str]) -> re.Pattern[str] | None:
    anywhere: set[str] = set()
    tokens: set[str] = set()
    values: set[str] = set()
    for secret in secrets:
        forms = secret_forms(secret)
        if len(secret) >= ANYWHERE_LEN:
            anywhere |= forms
        else:
            tokens |= forms
        anywhere |= base64_cores(secret.encode())
    for secret in short:
        values |= secret_forms(secret)
    tokens -= anywhere
    alternatives = [re.escape(f) for f in sorted(anywhere, key=len, reverse=True)]
    alternatives += [_token_pattern(f) for f in sorted(tokens, key=len, reverse=True)]
    alternatives += [_value_pattern(f) for f in sorted(values, key=len, reverse=True)]
    if not alternatives:
        return None
    return re.compile("|".join(alternatives), re.MULTILINE)


# One process-wide redactor that every other one feeds: what error printing and the logging
# filter use, so no message can miss a secret that any part of the run has registered.
_GLOBAL = Redactor(_global=True)


def redact(text: str) -> str:
    """`text` with every secret registered anywhere in this process replaced."""
    return _GLOBAL(text)


def register(secret: str | None) -> None:
    _GLOBAL.add(secret)


def _forget_all() -> None:
    """For tests only: drop every secret registered in this process."""
    global _GLOBAL
    _GLOBAL = Redactor(_global=True)


# -- logging --------------------------------------------------------------------------------------

# Libraries that log whole request and response bodies at DEBUG (the kubernetes client logs every
# API response, a PodList with its env values): never more than WARNING, even under --verbose.
NOISY_LOGGERS = ("kubernetes", "kubernetes.client", "kubernetes.client.rest", "urllib3", "urllib3.connectionpool",
                 "asyncio", "botocore", "boto3", "s3transfer", "google", "azure", "requests_oauthlib", "oauthlib")


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (arguments merged in), exception and stack text through the
    process-wide redactor before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: log what there is
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (a test runner swaps it per invocation)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


_installed_handler: logging.Handler | None = None
_factory_installed = False


def install_log_redaction(verbose: bool) -> logging.Handler:
    """Configure logging once per process: every record, whichever handler takes it, is redacted
    when it is made (a record factory, installed once); one stderr handler prints them, debug
    lines under `verbose`; the libraries that log bodies are held at WARNING."""
    global _installed_handler, _factory_installed
    if not _factory_installed:
        make = logging.getLogRecordFactory()
        scrub = RedactingFilter()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            scrub.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True
    root = logging.getLogger()
    if _installed_handler is None or _installed_handler not in root.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())  # also catches a record whose text changed after creation
        root.addHandler(handler)
        _installed_handler = handler
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return _installed_handler


def leaf_strings(data: Any, *, numbers: bool = False) -> Iterator[str]:
    """Every string inside nested mappings and lists (and, with `numbers`, every number long
    enough to be an ID or a key): what to register with a Redactor when `data` is secret."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            yield node
        elif numbers and isinstance(node, (int, float)) and not isinstance(node, bool) and len(str(node)) >= 6:
            yield str(node)
