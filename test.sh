#!/usr/bin/env bash
# Quickstart, command 2 of 2: run the whole test suite (unit and end-to-end, real tools).
# Needs ./install.sh first. With arguments, one pytest run of just those, e.g. ./test.sh -k validate
# or ./test.sh tests/e2e/test_render.py
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  echo "test.sh: no .venv here; run ./install.sh first" >&2
  exit 1
fi
# One real node per machine: the e2e tests start their own, so the cluster ./install.sh left
# running (this repository's .deployer/local) is stopped first.
if .venv/bin/deployer local status >/dev/null 2>&1; then
  echo "test.sh: stopping this repository's local cluster (the tests start their own node)"
  .venv/bin/deployer local down >/dev/null
fi
# CI fails on an undefined name or a broken layer before any test runs (seconds, not minutes)
.venv/bin/ruff check deployer tests benchmarks
.venv/bin/lint-imports
# pytest exits 5 when it ran no test: that is a failure here, as any non-zero code is.
if [ "$#" -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
# The whole suite: the unit tests on every core (pytest-xdist; each test builds its own folders), then the
# end-to-end tests one at a time (they share the session's one real node).
.venv/bin/python -m pytest -n "$(nproc)" tests/unit
exec .venv/bin/python -m pytest tests/e2e
