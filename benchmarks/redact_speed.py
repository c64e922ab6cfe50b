#!/usr/bin/env python3
"""Figures for the redactor (deployer/redact.py): every output line and log record goes through
it, with every form of every secret of a fleet registered. Prints, for N secrets: the time to
register them one by one with a redaction call after each (as decrypting files while logging
does), and the time per redaction of a 10 KB text.

Usage: .venv/bin/python benchmarks/redact_speed.py [N ...]
"""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deployer.redact import Redactor  # noqa: E402


def main(counts: list[int]) -> None:
    print(f"{'secrets':>8} {'register+call (s)':>18} {'chunks':>7} {'per 10 KB call (ms)':>20}")
    for n in counts:
        r = Redactor()
        started = time.perf_counter()
        for i in range(n):
            r.add(secrets.token_urlsafe(24) if i % 2 else f"pw{i}x")
            r("run: helm upgrade --install hub ...")
        registered = time.perf_counter() - started
        text = "value: x, " * 1000
        started = time.perf_counter()
        for _ in range(50):
            r(text)
        per_call = (time.perf_counter() - started) / 50 * 1000
        print(f"{n:>8} {registered:>18.2f} {len(r._chunks):>7} {per_call:>20.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 400, 1000])
