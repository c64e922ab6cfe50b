#!/usr/bin/env python3
"""Figures for "never a traceback for user input" (issue 15): a walk of the whole command tree
with bad values of each option type and bad arguments, plus the bad files of the issue (binary,
non-UTF-8, deeply nested, wrong-shape plans and reports, unwritable outputs, long file names,
an empty --root), each run in-process against a small repository, from a scratch working folder.

Prints, per class, the number of cases, and the number that printed a Python traceback, said
"internal error", hung (over the per-case limit) or exited with a code other than 0, 1 or 2.
Expected: 0 of each. `tests/unit/cli_walk/test_bad_input_walk.py` runs the same walk and asserts it.

Not walked with every bad value: commands that start clusters or change cloud resources
(`local up/down`, `provision apply/destroy`, `tools install`); `local status` and `init` are
walked with the inputs of issue 22 only (below).

Issue 22's inputs are walked too, each with the exit codes it must end with (a silent exit 0 is
counted as "wrong exit"): `local status --state-dir /etc/passwd`, a 5,000-character `--root`,
`init` of a 300-character name and of "", chart repositories whose index has `entries:
{jupyterhub: 5}` or `urls: 5`, `--timeout inf` and `1e308`, a FIFO and a symbolic link loop
named as user files, `canary-gate --reports /nonexistent`, `SOPS_AGE_KEY_FILE=/nonexistent
render`, `plan-upgrade --changed-files <folder>`.

Usage: .venv/bin/python benchmarks/bad_input_walk.py [--verbose]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SKIP_GROUPS = {"local"}
SKIP = {("provision", "apply"), ("provision", "destroy"), ("tools", "install"), ("init",)}
CASE_LIMIT = 30.0


@dataclass
class Case:
    klass: str
    args: list[str]
    expect: tuple[int, ...] = ()  # the exit codes this case must end with (empty: any of 0, 1, 2)
    env: tuple[tuple[str, str], ...] = ()  # environment variables set for this case


@dataclass
class Outcome:
    case: Case
    code: int | None
    text: str
    seconds: float

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.text

    @property
    def internal(self) -> bool:
        return "internal error" in self.text

    @property
    def hung(self) -> bool:
        return self.code is None

    @property
    def odd_exit(self) -> bool:
        return self.code not in (0, 1, 2, None)

    @property
    def wrong_exit(self) -> bool:
        return bool(self.case.expect) and self.code is not None and self.code not in self.case.expect

    @property
    def bad(self) -> bool:
        return self.traceback or self.internal or self.hung or self.odd_exit or self.wrong_exit


def _tree():
    import typer.main

    from deployer.cli import app

    root = typer.main.get_command(app)
    leaves = []

    def walk(cmd, path):
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, child in sorted(sub.items()):
                walk(child, [*path, name])
        else:
            leaves.append((path, cmd))

    walk(root, [])
    return leaves


def _is_argument(param) -> bool:
    return type(param).__name__.endswith("Argument")


def bad_files(folder: Path) -> dict[str, str]:
    """Bad files of every kind, by name."""
    (folder / "deep.json").write_text("[" * 100000 + "]" * 100000)
    (folder / "binary.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 10)
    (folder / "latin1.json").write_bytes('{"a": "caf\xe9"}'.encode("latin-1"))
    (folder / "foo.json").write_text('{"foo": 1}')
    (folder / "list.json").write_text("[1, 2]")
    (folder / "steps5.json").write_text('{"steps": 5}')
    (folder / "empty.json").write_text("")
    (folder / "kubeconfig.yaml").write_text("clusters: 5\n")
    (folder / "a-folder").mkdir()
    os.mkfifo(folder / "fifo.json")  # reading it would wait for a writer forever
    (folder / "loop.json").symlink_to(folder / "loop.json")
    return {"fifo": str(folder / "fifo.json"), "symlink-loop": str(folder / "loop.json"),
            "missing": str(folder / "nodir" / "x.json"), "deep": str(folder / "deep.json"),
            "binary": str(folder / "binary.bin"), "latin1": str(folder / "latin1.json"),
            "wrong-shape": str(folder / "foo.json"), "list": str(folder / "list.json"),
            "steps5": str(folder / "steps5.json"), "empty": str(folder / "empty.json"),
            "kubeconfig-clusters-5": str(folder / "kubeconfig.yaml"), "folder": str(folder / "a-folder"),
            "long-name": str(folder / ("n" * 300)), "root-dir": "/nodir/x.md", "empty-string": ""}


STRINGS = {"empty": "", "newline": "a\nb", "dotdot": "../../../../etc/passwd", "long": "x" * 5000,
           "unicode": "ünï€😀", "spaces": "bad value!", "dash": "-x", "backslash-0": "a\\x00b"}
NUMBERS = {"nan": "nan", "inf": "1e309", "negative": "-5", "huge": "99999999999999999999", "inf-word": "inf",
           "1e308": "1e308"}


def cases(folder: Path) -> list[Case]:
    files = bad_files(folder)
    out: list[Case] = []
    for path, cmd in _tree():
        if tuple(path) in SKIP or path[0] in SKIP_GROUPS:
            continue
        required = [p for p in cmd.params if _is_argument(p) and p.required]
        base_args = ["alpha" if i == 0 else "prod" for i, _ in enumerate(required)]
        for i, _ in enumerate(required):  # bad positional arguments (cluster and hub names, ...)
            for label, bad in STRINGS.items():
                args = list(base_args)
                args[i] = bad
                out.append(Case(f"argument {label}", [*path, *args]))
        for param in cmd.params:
            if _is_argument(param) or not param.opts:
                continue
            flag = max(param.opts, key=len)
            kind = param.type_descriptor.annotation
            if getattr(param, "is_flag", False) or kind is bool:
                continue
            if kind is Path or Path in getattr(kind, "__args__", ()):
                for label, bad in files.items():
                    out.append(Case(f"file option {label}", [*path, *base_args, flag, bad]))
            elif kind in (int, float):
                for label, bad in NUMBERS.items():
                    out.append(Case(f"number option {label}", [*path, *base_args, flag, bad]))
            else:
                for label, bad in STRINGS.items():
                    out.append(Case(f"text option {label}", [*path, *base_args, flag, bad]))
    for label, bad in (("empty", ""), ("missing", "/nodir"), ("a file", files["binary"]), ("blank", "  ")):
        out.append(Case(f"--root {label}", ["--root", bad, "validate"]))
    return out + issue22_cases(folder)


def bad_chart_repos(folder: Path) -> dict[str, Path]:
    """Chart repositories whose index is malformed in the ways issue 22 found."""
    repos = {}
    for label, index in (("entries-5", "entries:\n  jupyterhub: 5\n"),
                         ("urls-5", "entries:\n  jupyterhub:\n  - name: jupyterhub\n    version: 4.3.3\n    urls: 5\n"),
                         ("entry-7", "entries:\n  jupyterhub:\n  - 7\n"),
                         ("no-version", "entries:\n  jupyterhub:\n  - name: jupyterhub\n")):
        repo = folder / f"charts-{label}"
        repo.mkdir()
        (repo / "index.yaml").write_text("apiVersion: v1\n" + index)
        repos[label] = repo
    return repos


def issue22_cases(folder: Path) -> list[Case]:
    files = {"fifo": str(folder / "fifo.json"), "loop": str(folder / "loop.json"), "folder": str(folder / "a-folder")}
    out = [
        Case("issue22 local status state-dir", ["local", "status", "--state-dir", "/etc/passwd"], (1, 2)),
        Case("issue22 local status state-dir", ["local", "status", "--state-dir", "/etc/passwd/x"], (1, 2)),
        Case("issue22 local status state-dir", ["--state-dir", "/etc/passwd", "local", "status"], (1, 2)),
        Case("issue22 local status state-dir", ["local", "status", "--state-dir", "/" + "s" * 300], (1, 2)),
        Case("issue22 --root long", ["--root", "/" + "r" * 5000, "validate"], (1, 2)),
        Case("issue22 --root long", ["--root", "/r" * 3000, "render"], (1, 2)),
        Case("issue22 init", ["init", str(folder / ("n" * 300))], (1, 2)),
        Case("issue22 init", ["init", ""], (2,)),
        Case("issue22 init", ["init", str(folder / "a-file-init"), "--key-dir", files["fifo"]], (1, 2)),
        Case("issue22 timeout", ["deploy", "alpha", "--timeout", "inf"], (2,)),
        Case("issue22 timeout", ["deploy", "alpha", "--dry-run", "--timeout", "1e308"], (2,)),
        Case("issue22 timeout", ["rollback", "alpha", "prod", "--timeout", "-inf"], (2,)),
        Case("issue22 user file fifo", ["deploy", "--plan", files["fifo"]], (1,)),
        Case("issue22 user file fifo", ["canary-gate", "--plan", files["fifo"], "--stage", "prod"], (1,)),
        Case("issue22 user file loop", ["deploy", "--plan", files["loop"]], (1,)),
        Case("issue22 user file loop", ["canary-gate", "--plan", files["loop"], "--stage", "prod"], (1,)),
        Case("issue22 canary-gate reports", ["canary-gate", "--plan", str(folder / "plan.json"), "--stage", "prod",
                                             "--reports", "/nonexistent"], (1, 2)),
        Case("issue22 render key file", ["render", "alpha"], (1,), (("SOPS_AGE_KEY_FILE", "/nonexistent"),)),
        Case("issue22 render key file", ["render", "alpha"], (1,), (("SOPS_AGE_KEY_FILE", files["folder"]),)),
        Case("issue22 plan-upgrade folder", ["plan-upgrade", "--changed-files", files["folder"]], (2,)),
        Case("issue22 plan-upgrade folder", ["plan-upgrade", "--changed-files", "config/clusters"], (2,)),
    ]
    (folder / "plan.json").write_text(json.dumps({
        "version": 1, "base": "a", "head": "b", "support_jobs": [], "staging_jobs": [], "prod_jobs": [],
        "removals": [], "counts": {"support": 0, "staging": 0, "prod": 0, "removals": 0}}))
    for label, repo in bad_chart_repos(folder).items():
        out.append(Case(f"issue22 chart index {label}", ["render", "alpha", "staging", "--chart-repo", str(repo)], (1,)))
        out.append(Case(f"issue22 chart index {label}", ["deploy", "alpha", "staging", "--dry-run", "--chart-repo",
                                                          str(repo)], (1,)))
    return out


class _Hung(BaseException):
    pass


def run_case(case: Case, root: Path) -> Outcome:
    from deployer.cli import app
    from deployer.cli.app import run_app

    args = case.args if case.args[:1] == ["--root"] else ["--root", str(root), *case.args]
    out, err = io.StringIO(), io.StringIO()

    def alarm(*_):
        raise _Hung()

    saved_env = {k: os.environ.get(k) for k, _ in case.env}
    os.environ.update(dict(case.env))
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_LIMIT)
    started = time.monotonic()
    code: int | None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = run_app(app, args)
            except _Hung:
                code = None
            except BaseException as e:  # what run_app let through would be a traceback for a user
                import traceback

                err.write("Traceback (most recent call last):\n" + "".join(traceback.format_exception(e)))
                code = 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Outcome(case, code, out.getvalue() + err.getvalue(), time.monotonic() - started)


def walk(verbose: bool = False) -> list[Outcome]:
    from tests.repo_builder import make_repo

    cwd = os.getcwd()
    config_home = os.environ.get("XDG_CONFIG_HOME")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "cwd"
        scratch.mkdir()
        os.chdir(scratch)  # a command that misuses "" as "." can only touch this scratch folder
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")  # where `init` would put an age key
        try:
            root = make_repo(Path(tmp) / "repo")
            folder = Path(tmp) / "files"
            folder.mkdir()
            results = []
            for case in cases(folder):
                result = run_case(case, root)
                results.append(result)
                if verbose and result.bad:
                    print(f"BAD {case.args!r}: exit {result.code}\n{result.text[-600:]}", file=sys.stderr)
            return results
        finally:
            os.chdir(cwd)
            if config_home is None:
                os.environ.pop("XDG_CONFIG_HOME", None)
            else:
                os.environ["XDG_CONFIG_HOME"] = config_home


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--verbose", action="store_true")
    ns = parser.parse_args()
    started = time.monotonic()
    results = walk(ns.verbose)
    classes: dict[str, list[Outcome]] = {}
    for r in results:
        classes.setdefault(r.case.klass, []).append(r)
    print(f"{'class':<36} {'cases':>6} {'traceback':>10} {'internal':>9} {'hung':>5} {'odd exit':>9} {'wrong exit':>11}")
    for klass, rs in sorted(classes.items()):
        print(f"{klass:<36} {len(rs):>6} {sum(r.traceback for r in rs):>10} {sum(r.internal for r in rs):>9} "
              f"{sum(r.hung for r in rs):>5} {sum(r.odd_exit for r in rs):>9} {sum(r.wrong_exit for r in rs):>11}")
    keys = ("traceback", "internal", "hung", "odd_exit", "wrong_exit")
    total = {k: sum(getattr(r, k) for r in results) for k in keys}
    print(f"{'TOTAL':<36} {len(results):>6} {total['traceback']:>10} {total['internal']:>9} {total['hung']:>5} "
          f"{total['odd_exit']:>9} {total['wrong_exit']:>11}")
    exits: dict[str, int] = {}
    for r in results:
        exits[str(r.code)] = exits.get(str(r.code), 0) + 1
    print(f"exit codes: {json.dumps(dict(sorted(exits.items())))}; {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
