#!/usr/bin/env python3
"""Figures for "never a traceback for user input" (issue 15): a walk of the whole command tree
with bad values of each option type and bad arguments, plus the bad files of the issue (binary,
non-UTF-8, deeply nested, wrong-shape plans and reports, unwritable outputs, long file names,
an empty --root), each run in-process against a small repository, from a scratch working folder.

Prints, per class, the number of cases, and the number that printed a Python traceback, said
"internal error", hung (over the per-case limit) or exited with a code other than 0, 1 or 2.
Expected: 0 of each. `tests/unit/test_bad_input_walk.py` runs the same walk and asserts it.

Not walked: commands that start clusters or change cloud resources (`local up/down`,
`provision apply/destroy`), and `local status` (its clean-up of a state folder it does not own
is issue 15 item 1, another helper's; walked by hand it deleted the working folder).

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
    return {"missing": str(folder / "nodir" / "x.json"), "deep": str(folder / "deep.json"),
            "binary": str(folder / "binary.bin"), "latin1": str(folder / "latin1.json"),
            "wrong-shape": str(folder / "foo.json"), "list": str(folder / "list.json"),
            "steps5": str(folder / "steps5.json"), "empty": str(folder / "empty.json"),
            "kubeconfig-clusters-5": str(folder / "kubeconfig.yaml"), "folder": str(folder / "a-folder"),
            "long-name": str(folder / ("n" * 300)), "root-dir": "/nodir/x.md", "empty-string": ""}


STRINGS = {"empty": "", "newline": "a\nb", "dotdot": "../../../../etc/passwd", "long": "x" * 5000,
           "unicode": "ünï€😀", "spaces": "bad value!", "dash": "-x", "backslash-0": "a\\x00b"}
NUMBERS = {"nan": "nan", "inf": "1e309", "negative": "-5", "huge": "99999999999999999999"}


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
    return Outcome(case, code, out.getvalue() + err.getvalue(), time.monotonic() - started)


def walk(verbose: bool = False) -> list[Outcome]:
    from tests.repo_builder import make_repo

    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "cwd"
        scratch.mkdir()
        os.chdir(scratch)  # a command that misuses "" as "." can only touch this scratch folder
        try:
            root = make_repo(Path(tmp) / "repo")
            folder = Path(tmp) / "files"
            folder.mkdir()
            results = []
            for case in cases(folder):
                result = run_case(case, root)
                results.append(result)
                if verbose and (result.traceback or result.internal or result.hung or result.odd_exit):
                    print(f"BAD {case.args!r}: exit {result.code}\n{result.text[-600:]}", file=sys.stderr)
            return results
        finally:
            os.chdir(cwd)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--verbose", action="store_true")
    ns = parser.parse_args()
    started = time.monotonic()
    results = walk(ns.verbose)
    classes: dict[str, list[Outcome]] = {}
    for r in results:
        classes.setdefault(r.case.klass, []).append(r)
    print(f"{'class':<30} {'cases':>6} {'traceback':>10} {'internal':>9} {'hung':>5} {'odd exit':>9}")
    for klass, rs in sorted(classes.items()):
        print(f"{klass:<30} {len(rs):>6} {sum(r.traceback for r in rs):>10} {sum(r.internal for r in rs):>9} "
              f"{sum(r.hung for r in rs):>5} {sum(r.odd_exit for r in rs):>9}")
    total = {k: sum(getattr(r, k) for r in results) for k in ("traceback", "internal", "hung", "odd_exit")}
    print(f"{'TOTAL':<30} {len(results):>6} {total['traceback']:>10} {total['internal']:>9} {total['hung']:>5} "
          f"{total['odd_exit']:>9}")
    exits: dict[str, int] = {}
    for r in results:
        exits[str(r.code)] = exits.get(str(r.code), 0) + 1
    print(f"exit codes: {json.dumps(dict(sorted(exits.items())))}; {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
