#!/usr/bin/env bash
# Create the repository's own virtualenv (.venv) and install deployer with its test extras.
# Idempotent: a second run only checks that the install is current.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
py="${PYTHON:-python3}"
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
# deployer's own bytecode is compiled ahead: where PYTHONDONTWRITEBYTECODE is set (it is on
# this kind of machine), Python would otherwise recompile every module at each start.
compile_own() { .venv/bin/python -m compileall -q -j 2 deployer >/dev/null; }
if [ -x .venv/bin/python ] && [ -f "$stamp" ]; then
  compile_own
  echo "python: .venv is current"
  exit 0
fi
echo "python: creating .venv and installing deployer[test] (pip, from PyPI)"
[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
# the distribution was once named `deployer` (PyPI's `deployer` is an unrelated project): drop such an install
.venv/bin/python -m pip uninstall --quiet --yes deployer >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import deployer, typer, pydantic, ruamel.yaml, kubernetes, pyhelm3" 
rm -f .venv/.installed-*
touch "$stamp"
compile_own
echo "python: installed into $repo/.venv"
