"""The application object (deployer/application.py) is the only door: no module keeps state of its
own (no process-wide redactor, runner, current application or registry that functions mutate), and
every external program or network peer is reached through deployer/adapters only."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "deployer"

# Modules that talk to other programs or peers: only adapters/ may import them. urllib.parse,
# which only quotes text, is not among them.
DOORS = ("subprocess", "socket", "ssl", "http.client", "http.server", "urllib.request", "urllib.error", "requests",
         "httpx", "aiohttp", "websocket", "websockets", "kubernetes", "pyhelm3", "python_terraform", "paramiko")
DOOR_CALLS = {("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "execvp"), ("os", "execve"),
              ("os", "spawnv"), ("os", "posix_spawn"), ("asyncio", "create_subprocess_exec"),
              ("asyncio", "create_subprocess_shell"), ("asyncio", "open_connection")}
# classes whose instance is state: never made at import time
STATEFUL = {"Redactor", "ProcessRunner", "Application", "AppState", "Lock", "RLock", "Event", "Semaphore",
            "ThreadPoolExecutor", "Kube", "Helm", "Sops", "Grafana"}
MUTATORS = {"append", "add", "update", "setdefault", "pop", "popitem", "clear", "extend", "insert", "remove",
            "discard", "appendleft"}
# The one deliberate exception: the stop policy mirrors the process's signal handlers, which the
# operating system delivers to the whole process (SIGINT, SIGTERM), whatever invocation runs.
EXCEPTIONS = {("stopping.py", "_current")}


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def doors_outside_adapters(package: Path) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel.startswith("adapters/"):
            continue
        tree = ast.parse(path.read_text())
        for line, name in _imported(tree):
            if any(name == d or name.startswith(d + ".") for d in DOORS):
                found.append(f"{rel}:{line}: imports {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in DOOR_CALLS:
                found.append(f"{rel}:{node.lineno}: calls {node.func.value.id}.{node.func.attr}")
    return sorted(set(found))


def module_state(package: Path) -> list[str]:
    """Module-level names that functions rebind (`global`) or mutate in place, and stateful objects
    made at import time."""
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        tree = ast.parse(path.read_text())
        names: set[str] = set()
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else []
            for t in targets:
                if isinstance(t, ast.Name):
                    names.add(t.id)
                    value = node.value
                    if isinstance(value, ast.Call):
                        f = value.func
                        called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                        if called in STATEFUL and (rel, t.id) not in EXCEPTIONS:
                            found.append(f"{rel}:{node.lineno}: {t.id} = {called}(...) at import time")
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            local = {a.arg for a in fn.args.args + fn.args.kwonlyargs + fn.args.posonlyargs}
            local |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            for node in ast.walk(fn):
                hit = None
                if isinstance(node, ast.Global):
                    found += [f"{rel}:{node.lineno}: module-level {n} changed by {fn.name}() (global)"
                              for n in node.names if (rel, n) not in EXCEPTIONS]
                elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                    targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                    hit = [t.value.id for t in targets if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)]
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and isinstance(node.func.value, ast.Name) and node.func.attr in MUTATORS:
                    hit = [node.func.value.id]
                for name in hit or ():
                    if name in names and name not in local and (rel, name) not in EXCEPTIONS:
                        found.append(f"{rel}:{node.lineno}: module-level {name} changed by {fn.name}()")
    return sorted(set(found))


def test_no_external_program_or_peer_is_reached_outside_the_adapters():
    assert doors_outside_adapters(PACKAGE) == []


def test_no_module_keeps_state_of_its_own():
    assert module_state(PACKAGE) == []


def test_the_checks_name_a_planted_door_and_planted_state(tmp_path):
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "kube.py").write_text("import socket\nimport subprocess\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "forward.py").write_text(
        "import os\nimport urllib.parse\nfrom urllib.request import urlopen\n\n"
        "def go():\n    os.system('kubectl port-forward')\n")
    (tmp_path / "redact.py").write_text(
        "from deployer.redact import Redactor\n_GLOBAL = Redactor()\n_seen = {}\nTABLE = {'a': 1}\n\n"
        "def register(s):\n    _seen[s] = 1\n\ndef reset():\n    global _GLOBAL\n    _GLOBAL = None\n\n"
        "def pure(x):\n    TABLE = {}\n    TABLE['b'] = x\n    return TABLE\n")
    assert doors_outside_adapters(tmp_path) == ["run/forward.py:3: imports urllib.request",
                                                "run/forward.py:3: imports urllib.request.urlopen",
                                                "run/forward.py:6: calls os.system"]
    assert module_state(tmp_path) == ["redact.py:10: module-level _GLOBAL changed by reset() (global)",
                                      "redact.py:2: _GLOBAL = Redactor(...) at import time",
                                      "redact.py:7: module-level _seen changed by register()"]
