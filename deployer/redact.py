"""Redaction of secret values from anything the deployer prints or writes.

A `Redactor` holds the secret strings known so far (decrypted values, tokens, keys) and replaces
each with a fixed marker. An invocation has one: the application object's (deployer/application.py),
which its ProcessRunner, its adapters and every secret file it decrypts feed, and which every log
record (a logging filter, `install_log_redaction`), error message and report goes through. There
is no process-wide redactor: two invocations in one process (the tests) share no secret.

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
from collections.abc import Callable, Iterable, Iterator
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
    # any of these inside a JSON string (a repr quoted in a message of a JSON report): JSON-escaped
    # once more, as Python and Go write it
    for form in list(forms):
        for ascii_only in (False, True):
            forms.add(_json_inner(form, ascii_only=ascii_only))
            forms.add(_json_inner(form, ascii_only=ascii_only, go=True))
    forms |= _base64_forms(secret.encode())
    return {f for f in forms if f}


def redact_data(data: Any, redactor: "Callable[[str], str]") -> Any:
    """A copy of JSON-like `data` (mappings, lists, strings, numbers) with every string, key and
    number that holds a secret redacted: structured output is redacted before it is serialised
    (a serialiser's escapes can make a form the text redactor does not know)."""
    scrub = redactor
    if isinstance(data, str):
        return scrub(data)
    if isinstance(data, dict):
        return {redact_data(k, scrub) if isinstance(k, str) else k: redact_data(v, scrub) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v, scrub) for v in data]
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return data if scrub(str(data)) == str(data) else MARKER
    return data


def dumps_redacted(data: Any, redactor: "Callable[[str], str]", **kwargs: Any) -> str:
    """`json.dumps` of `data` redacted before serialising, and the text once more after."""
    scrub = redactor
    plain = json.loads(json.dumps(data, default=kwargs.get("default")))  # only JSON's types from here on
    return scrub(json.dumps(redact_data(plain, scrub), **kwargs))


# -- the redactor ---------------------------------------------------------------------------------

ANYWHERE, TOKEN, VALUE = 0, 1, 2  # how a form must stand to be replaced (see the module's notes)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _stands_as_token(text: str, start: int, end: int) -> bool:
    """Not inside a word, nor joined to one by `.` or `-` (a host name's label, `my-word`)."""
    if _is_word(text[start]) and start > 0:
        before = text[start - 1]
        if _is_word(before) or (before in ".-" and start > 1 and _is_word(text[start - 2])):
            return False
    if _is_word(text[end - 1]) and end < len(text):
        after = text[end]
        if _is_word(after) or (after in ".-" and end + 1 < len(text) and _is_word(text[end + 1])):
            return False
    return True


def _stands_as_value(text: str, start: int, end: int) -> bool:
    """A whole value: after a line start, `:`, `=`, a quote or a list dash; before a quote, `,`,
    `}`, `]`, a backslash (an escaped quote) or the end of the line."""
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start]
    if not (before.strip() == "" or before.endswith((":", ": ", "=", '"', "'", "- "))):
        return False
    rest = text[end:text.find("\n", end) if "\n" in text[end:] else len(text)]
    return rest.strip(" \t") == "" or rest[:1] in ('"', "'", ",", "}", "]", "\\")


def _trie_pattern(words: list[str]) -> str:
    """One regular expression matching any of `words`, longest first, as a trie (a prefix shared
    by many words is tried once: thousands of forms cost little more than one)."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = True

    def build(node: dict) -> str:
        # iterative over single-child runs (path compression), recursive only at branch points
        parts = []
        for ch in sorted(k for k in node if k):
            run, child = [ch], node[ch]
            while len(child) == 1 and "" not in child:
                (nxt, child), = child.items()
                run.append(nxt)
            parts.append(re.escape("".join(run)) + build_tail(child))
        return "|".join(parts)

    def build_tail(node: dict) -> str:
        if len(node) == 1 and "" in node:
            return ""
        inner = build(node)
        return f"(?:{inner})?" if "" in node else f"(?:{inner})"

    return build(trie)


class Redactor:
    """Secrets are compiled in chunks: a secret added later costs the compilation of its own forms
    only (chunks are merged now and then). Every chunk finds its spans in the original text, and
    the union of all spans is replaced, so that a secret split over chunks is still hidden whole."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._short: set[str] = set()
        self._kinds: dict[str, int] = {}  # every form so far -> how it must stand
        self._pending: dict[str, int] = {}  # forms not compiled yet
        self._chunks: list[_Compiled] = []
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        if not secret or not isinstance(secret, str):
            return
        values = {secret, *(line for line in secret.splitlines() if line.strip())}
        with self._lock:
            for value in values:
                for v in {value, value.strip()}:
                    if not v.strip() or v in self._secrets or v in self._short:
                        continue
                    if len(v) >= MIN_SECRET_LEN:
                        self._secrets.add(v)
                        forms = {f: ANYWHERE if len(v) >= ANYWHERE_LEN else TOKEN for f in secret_forms(v)}
                        forms.update({core: ANYWHERE for core in base64_cores(v.encode())})
                    else:
                        self._short.add(v)
                        forms = {f: VALUE for f in secret_forms(v)}
                    for form, kind in forms.items():
                        if kind < self._kinds.get(form, VALUE + 1):  # the loosest rule wins
                            self._kinds[form] = kind
                            self._pending[form] = kind

    def _compiled(self) -> list["_Compiled"]:
        with self._lock:
            if self._pending:
                self._chunks.append(_compile(dict(self._pending)))
                self._pending = {}
                # like a binary counter: chunks of similar size are merged, so that n secrets added
                # one by one cost O(n log n) compilation, and there are O(log n) chunks to run
                while len(self._chunks) >= 2 and len(self._chunks[-2].kinds) <= 2 * len(self._chunks[-1].kinds):
                    last = self._chunks.pop()
                    self._chunks[-1] = _compile({**self._chunks[-1].kinds, **last.kinds})
            return list(self._chunks)

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [span for chunk in self._compiled() for span in chunk.spans(text)]

    def __call__(self, text: str) -> str:
        if not text or not isinstance(text, str):
            return text
        return _replace(text, self.spans(text))

    def __len__(self) -> int:
        return len(self._secrets) + len(self._short)


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    out, last_end = [], 0
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in merged:
        out.append(text[last_end:start])
        out.append(MARKER)
        last_end = end
    out.append(text[last_end:])
    return "".join(out)


class _Compiled:
    def __init__(self, pattern: re.Pattern[str], kinds: dict[str, int]) -> None:
        self.pattern = pattern
        self.kinds = kinds

    def spans(self, text: str) -> list[tuple[int, int]]:
        found = []
        for m in self.pattern.finditer(text):
            start, end = m.span()
            if start == end:
                continue
            kind = self.kinds.get(m.group(0), ANYWHERE)
            if kind == ANYWHERE or (kind == TOKEN and _stands_as_token(text, start, end)) or \
                    (kind == VALUE and _stands_as_value(text, start, end)):
                found.append((start, end))
        return found


def _compile(kinds: dict[str, int]) -> _Compiled:
    return _Compiled(re.compile(_trie_pattern(sorted(kinds))), kinds)


# -- logging --------------------------------------------------------------------------------------

# Libraries that log whole request and response bodies at DEBUG (the kubernetes client logs every
# API response, a PodList with its env values): never more than WARNING, even under --verbose.
NOISY_LOGGERS = ("kubernetes", "kubernetes.client", "kubernetes.client.rest", "urllib3", "urllib3.connectionpool",
                 "asyncio", "botocore", "boto3", "s3transfer", "google", "azure", "requests_oauthlib", "oauthlib")


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (arguments merged in), exception and stack text through the
    invocation's redactor before any handler formats it."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: log what there is
            message = f"{record.msg!s} {record.args!r}"
        redact = self.redact
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


def install_log_redaction(verbose: bool, redactor: Callable[[str], str]) -> logging.Handler:
    """Configure logging for one invocation: every record, whichever handler takes it, is redacted
    by the invocation's `redactor` when it is made (a record factory wrapping the one logging had
    before ours: logging's own process-wide setting, replaced, never stacked, by the next
    invocation); one stderr handler prints them, debug lines under `verbose`; the libraries that
    log bodies are held at WARNING."""
    make = logging.getLogRecordFactory()
    make = getattr(make, "deployer_wraps", make)
    scrub = RedactingFilter(redactor)

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        scrub.filter(record)
        return record

    factory.deployer_wraps = make  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _CurrentStderr)]:
        root.removeHandler(old)
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(redactor))  # also catches a record whose text changed after creation
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


def leaf_paths(data: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """The key path of every leaf of nested mappings (lists count as leaves: their items are
    registered together)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaf_paths(value, (*prefix, key))
    else:
        yield prefix


def strings_at(data: Any, paths: Iterable[tuple], *, numbers: bool = True) -> Iterator[str]:
    """Every string under each of `paths` in `data` (what an older revision held where today's
    secret files put their values: the old secrets)."""
    for path in paths:
        node = data
        for key in path:
            if not isinstance(node, dict) or key not in node:
                node = None
                break
            node = node[key]
        if node is not None:
            yield from leaf_strings(node, numbers=numbers)


def leaf_strings(data: Any, *, numbers: bool = False, public_keys: Iterable[str] = ()) -> Iterator[str]:
    """Every string inside nested mappings and lists (and, with `numbers`, every number long
    enough to be an ID or a key): what to register with a Redactor when `data` is secret.
    `public_keys`: a value directly under one of these keys (or an item of a list there) is not
    secret in this kind of file (a kubeconfig's `name` and `server`), and is left out."""
    public = frozenset(public_keys)
    stack: list[tuple[Any, Any]] = [(None, data)]
    while stack:
        key, node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.items())
        elif isinstance(node, list):
            stack.extend((key, item) for item in node)
        elif isinstance(key, str) and key in public:
            continue
        elif isinstance(node, str):
            yield node
        elif numbers and isinstance(node, (int, float)) and not isinstance(node, bool) and len(str(node)) >= 6:
            yield str(node)
