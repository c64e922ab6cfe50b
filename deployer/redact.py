"""Redaction of secret values from anything the deployer prints or writes.

A `Redactor` holds the secret strings known so far (decrypted values, tokens, keys)
and replaces each with a fixed marker. Every log line, error and report goes through it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

MARKER = "[REDACTED]"
_MIN_SECRET_LEN = 4  # shorter strings would redact ordinary words; they are refused


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        if not secret:
            return
        values = {secret, *(line for line in secret.splitlines() if line.strip())}
        with self._lock:
            for value in values:
                value = value.strip()
                if len(value) >= _MIN_SECRET_LEN:
                    self._secrets.add(value)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MARKER)
        return text

    def __len__(self) -> int:
        return len(self._secrets)


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
