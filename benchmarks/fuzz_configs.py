#!/usr/bin/env python3
"""Fuzzed configurations through `deployer validate` and `deployer render` (issue 22's numbers).

Each configuration is a small repository (one `local` cluster, one hub on basehub) with one to
three seeded mutations of its cluster.yaml or of the hub's values file: a leaf set to a value of
another type or shape (numbers that overflow, NaN, huge and multi-line strings, templates, YAML
tags), a key deleted or added, a Kubernetes field given a bad value (a quantity `abc`,
`hostNetwork: "x"`, ...), or the file's text broken (truncated, a stray byte, a BOM, tabs, a
duplicate key, an alias). Every configuration is run in-process through the CLI boundary, as a
user would meet it: `validate`, then `render <cluster> <hub>` (the real helm and charts).

Prints the counts: configurations, exit codes of each command, and the number that printed a
Python traceback, said "internal error", hung (over the per-command limit) or exited with a code
other than 0, 1 and 2 (expected: 0 of each), and how often render refused what validate passed.

Usage: .venv/bin/python benchmarks/fuzz_configs.py [--count 1000] [--seed 22] [--verbose]
(DEPLOYER_CHART_REPO names the chart repository, as for render.)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LIMIT = 120.0  # seconds one command may take before it counts as hung

CLUSTER = {"name": "fuzz", "provider": "local", "support": {"helm_chart_values_files": ["support.values.yaml"]},
           "hubs": [{"name": "staging", "domain": "staging.fuzz.example.org", "helm_chart": "basehub",
                     "helm_chart_values_files": ["staging.values.yaml"]}]}
VALUES = {"jupyterhub": {"custom": {"name": "staging"},
                         "hub": {"resources": {"requests": {"memory": "256Mi", "cpu": "100m"}}},
                         "singleuser": {"memory": {"limit": "1G", "guarantee": "512M"}}}}

ODD_VALUES: list[Any] = [
    None, True, 0, -1, 2**64, 1e308, -1e308, float("inf"), "nan", 1.5, "", " ", "abc", "a" * 10000, "ünï€😀",
    "line\nbreak", "{{ .Values.x }}", "${{ secrets.X }}", "../../etc/passwd", "-", "0x1F", "1e309", [], [1, "a"],
    {}, {"a": {"b": {"c": None}}}, "yes", "1Gi", "-5Gi", "9" * 400, "\t", "key: value", "!!binary aGk=",
]
K8S_FIELDS = [
    ("jupyterhub", "hub", "resources", "limits", "memory"),
    ("jupyterhub", "hub", "resources", "requests", "cpu"),
    ("jupyterhub", "proxy", "chp", "extraPodSpec", "hostNetwork"),
    ("jupyterhub", "proxy", "chp", "resources", "limits", "memory"),
    ("jupyterhub", "hub", "nodeSelector"),
    ("jupyterhub", "hub", "tolerations"),
    ("jupyterhub", "hub", "extraEnv"),
    ("jupyterhub", "hub", "image", "tag"),
    ("jupyterhub", "singleuser", "image", "name"),
    ("jupyterhub", "singleuser", "memory", "limit"),
    ("jupyterhub", "singleuser", "cpu", "limit"),
    ("jupyterhub", "ingress", "hosts"),
    ("jupyterhub", "scheduling", "userScheduler", "enabled"),
    ("jupyterhub", "prePuller", "hook", "enabled"),
    ("jupyterhub", "hub", "config", "JupyterHub", "authenticator_class"),
    ("jupyterhub", "hub", "extraConfig"),
    ("jupyterhub", "custom"),
    ("dask-gateway", "enabled"),
]
CLUSTER_FIELDS = [("name",), ("provider",), ("hubs", 0, "name"), ("hubs", 0, "domain"), ("hubs", 0, "helm_chart"),
                  ("hubs", 0, "helm_chart_values_files"), ("hubs", 0, "helm_chart_values_files", 0),
                  ("hubs", 0, "display_name"), ("hubs", 0, "stage"), ("kubernetes_version",), ("support",),
                  ("hubs",), ("local",), ("local", "state_dir"), ("hubs", 0, "chart_override")]


@dataclass
class Config:
    index: int
    mutations: list[str] = field(default_factory=list)
    cluster_text: str = ""
    values_text: str = ""


@dataclass
class Run:
    command: str
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


# -- mutations ------------------------------------------------------------------------------------

def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple, value: Any) -> None:
    node = doc
    for key in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(key, {}) if not isinstance(node.get(key), (dict, list)) else node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return
        if not isinstance(node, (dict, list)):
            return
    last = path[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value


def _delete(doc: Any, path: tuple) -> None:
    node = doc
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return
    with contextlib.suppress(KeyError, IndexError, TypeError):
        del node[path[-1]]


def _dump(data: Any) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def floats(dumper: Any, value: float) -> Any:
        if math.isinf(value) or math.isnan(value):
            return dumper.represent_scalar("tag:yaml.org,2002:float", ".inf" if value > 0 else "-.inf")
        return yaml.SafeDumper.represent_float(dumper, value)

    Dumper.add_representer(float, floats)
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True)


def _text_mutation(rng: random.Random, text: str) -> tuple[str, str]:
    kind = rng.choice(["truncate", "stray-byte", "bom", "tab", "duplicate-key", "alias", "tag", "empty",
                       "flow-garbage", "deep"])
    if kind == "truncate":
        return text[: rng.randrange(len(text) + 1)], kind
    if kind == "stray-byte":
        at = rng.randrange(len(text) + 1)
        return text[:at] + rng.choice(["\x00", "\x7f", "\ufffd", "\u202e", ":", "- ", "{", "]", "'", '"', "&a",
                                        "*a"]) + text[at:], kind
    if kind == "bom":
        return "\ufeff" + text, kind
    if kind == "tab":
        return text.replace("  ", "\t", 1), kind
    if kind == "duplicate-key":
        first = text.splitlines()[0] if text else "a: 1"
        return text + first + "\n", kind
    if kind == "alias":
        return "x: &a [1, 2]\ny: *a\n" + text, kind
    if kind == "tag":
        return text + rng.choice(["z: !!python/object:os.system 'true'\n", "z: !!binary aGk=\n", "z: !!int abc\n",
                                  "z: !custom 1\n", "z: !!timestamp 2026-13-45\n"]), kind
    if kind == "empty":
        return rng.choice(["", "\n", "---\n", "~\n", "[]\n", "5\n", "'a'\n"]), kind
    if kind == "flow-garbage":
        return text + "k: {a: [1, {b: }\n", kind
    return text + "deep: " + "[" * 200 + "]" * 200 + "\n", kind


def make_config(rng: random.Random, index: int) -> Config:
    cfg = Config(index)
    cluster, values = copy.deepcopy(CLUSTER), copy.deepcopy(VALUES)
    text_kinds: list[tuple[str, str]] = []
    for _ in range(rng.randint(1, 3)):
        target = "cluster" if rng.random() < 0.4 else "values"
        doc = cluster if target == "cluster" else values
        op = rng.choice(["odd-leaf", "odd-leaf", "k8s-field", "delete", "unknown-key", "text"])
        if op == "k8s-field" and target == "cluster":
            path = rng.choice(CLUSTER_FIELDS)
            value = _odd(rng)
            _set(doc, path, value)
            cfg.mutations.append(f"cluster {'.'.join(map(str, path))} = {_brief(value)}")
        elif op == "k8s-field":
            path = rng.choice(K8S_FIELDS)
            value = _odd(rng, ["x", "abc", "1 Gi", "1GB", "500m", 3, "true"])
            _set(doc, path, value)
            cfg.mutations.append(f"values {'.'.join(map(str, path))} = {_brief(value)}")
        elif op == "odd-leaf":
            paths = _paths(doc)
            path = rng.choice(paths) if paths else ("x",)
            value = _odd(rng)
            _set(doc, path, value)
            cfg.mutations.append(f"{target} {'.'.join(map(str, path))} = {_brief(value)}")
        elif op == "delete":
            paths = _paths(doc)
            if paths:
                path = rng.choice(paths)
                _delete(doc, path)
                cfg.mutations.append(f"{target} del {'.'.join(map(str, path))}")
        elif op == "unknown-key":
            paths = [p for p in _paths(doc) if isinstance(_get(doc, p), dict)] or [()]
            path = rng.choice(paths)
            node = _get(doc, path) if path else doc
            if isinstance(node, dict):
                node[rng.choice(["bogus", "Name", "hubs ", "enabled", "$x", "0"])] = _odd(rng)
                cfg.mutations.append(f"{target} unknown key under {'.'.join(map(str, path)) or '(top)'}")
        else:
            text_kinds.append((target, ""))
    cfg.cluster_text, cfg.values_text = _dump(cluster), _dump(values)
    for target, _ in text_kinds:
        if target == "cluster":
            cfg.cluster_text, kind = _text_mutation(rng, cfg.cluster_text)
        else:
            cfg.values_text, kind = _text_mutation(rng, cfg.values_text)
        cfg.mutations.append(f"{target} text {kind}")
    return cfg


def _get(doc: Any, path: tuple) -> Any:
    node = doc
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _odd(rng: random.Random, extra: list[Any] | None = None) -> Any:
    """A fresh copy: a shared list or dict set in two places (or mutated later) would tie configurations together."""
    return copy.deepcopy(rng.choice(ODD_VALUES + (extra or [])))


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- running --------------------------------------------------------------------------------------

class _Hung(BaseException):
    pass


def run_cli(args: list[str]) -> Run:
    from deployer.cli import app
    from deployer.cli.app import run_app

    out = io.StringIO()

    def alarm(*_: Any) -> None:
        raise _Hung()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, LIMIT)
    started = time.monotonic()
    code: int | None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                code = run_app(app, args)
            except _Hung:
                code = None
            except BaseException as e:  # what run_app let through would be a traceback for a user
                import traceback

                out.write("Traceback (most recent call last):\n" + "".join(traceback.format_exception(e)))
                code = 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return Run(args[2], code, out.getvalue(), time.monotonic() - started)


def write_repo(root: Path, cfg: Config) -> None:
    folder = root / "config" / "clusters" / "fuzz"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cluster.yaml").write_text(cfg.cluster_text, encoding="utf-8", errors="surrogatepass")
    (folder / "staging.values.yaml").write_text(cfg.values_text, encoding="utf-8", errors="surrogatepass")
    (folder / "support.values.yaml").write_text("grafana:\n  enabled: true\n")


def fuzz(count: int, seed: int, verbose: bool = False, render: bool = True) -> list[tuple[Config, list[Run]]]:
    rng = random.Random(seed)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"  # one repository rewritten per configuration: the chart is prepared once
        for i in range(count):
            cfg = make_config(rng, i)
            write_repo(root, cfg)
            runs = [run_cli(["--root", str(root), "validate", "--no-cache"])]
            if render:
                runs.append(run_cli(["--root", str(root), "render", "fuzz", "staging"]))
            out.append((cfg, runs))
            bad = [r for r in runs if r.traceback or r.internal or r.hung or r.odd_exit]
            if verbose and bad:
                for r in bad:
                    print(f"BAD #{i} {r.command} exit {r.code}: {cfg.mutations}\n{r.text[-800:]}", file=sys.stderr)
            if verbose and len(runs) == 2 and runs[0].code != 0 and runs[1].code == 0:
                print(f"RENDER PASSED WHAT VALIDATE REFUSED #{i}: {cfg.mutations}\n{runs[0].text[-600:]}",
                      file=sys.stderr)
    return out


def summary(results: list[tuple[Config, list[Run]]]) -> dict[str, Any]:
    counts: dict[str, Any] = {"configurations": len(results)}
    for command in ("validate", "render"):
        runs = [r for _, rs in results for r in rs if r.command == command]
        if not runs:
            continue
        exits: dict[str, int] = {}
        for r in runs:
            exits[str(r.code)] = exits.get(str(r.code), 0) + 1
        counts[command] = {"runs": len(runs), "exit_codes": dict(sorted(exits.items())),
                           "traceback": sum(r.traceback for r in runs), "internal_error": sum(r.internal for r in runs),
                           "hung": sum(r.hung for r in runs), "odd_exit": sum(r.odd_exit for r in runs),
                           "seconds": round(sum(r.seconds for r in runs), 1)}
    pairs = [(rs[0].code, rs[1].code) for _, rs in results if len(rs) == 2]
    counts["render_refused_what_validate_passed"] = sum(1 for v, r in pairs if v == 0 and r != 0)
    counts["render_passed_what_validate_refused"] = sum(1 for v, r in pairs if v != 0 and r == 0)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--no-render", action="store_true", help="validate only")
    parser.add_argument("--verbose", action="store_true")
    ns = parser.parse_args()
    os.environ.pop("SOPS_AGE_KEY_FILE", None)
    started = time.monotonic()
    results = fuzz(ns.count, ns.seed, ns.verbose, render=not ns.no_render)
    counts = summary(results)
    counts["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(counts, indent=2))


if __name__ == "__main__":
    main()
