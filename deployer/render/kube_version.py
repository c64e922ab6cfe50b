"""Does a chart's `kubeVersion` constraint (helm's semver ranges) admit a Kubernetes version?

helm checks only the top chart's constraint; the fleet check applies it to every subchart too.
Handles what charts use: comparisons (>=, >, <=, <, =, !=), caret and tilde ranges, AND by
commas or spaces, OR by `||`; pre-release suffixes such as `-0` are ignored.
"""

from __future__ import annotations

import re

_TERM = re.compile(r"(>=|<=|!=|>|<|=|\^|~)?\s*v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?(?:-[0-9A-Za-z.-]+)?")


def _version(text: str) -> tuple[int, int, int]:
    m = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not m:
        raise ValueError(f"not a version: {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def satisfies(version: str, constraint: str) -> bool:
    """True when `version` (e.g. 1.34.0) meets `constraint` (e.g. >=1.28.0-0); an empty one admits all."""
    constraint = constraint.strip()
    if not constraint:
        return True
    v = _version(version)
    return any(_all(v, part) for part in constraint.split("||"))


def _all(v: tuple[int, int, int], conjunction: str) -> bool:
    terms = _TERM.findall(conjunction.replace(",", " "))
    return bool(terms) and all(_one(v, *t) for t in terms)


def _one(v: tuple[int, int, int], op: str, major: str, minor: str, patch: str) -> bool:
    wild_minor = minor in ("", "x", "*")
    wild_patch = patch in ("", "x", "*")
    b = (int(major), 0 if wild_minor else int(minor), 0 if wild_patch else int(patch))
    if op == "^":
        upper = (b[0] + 1, 0, 0) if b[0] > 0 else (0, b[1] + 1, 0)
        return b <= v < upper
    if op == "~" or (op in ("", "=") and (wild_minor or wild_patch)):
        upper = (b[0] + 1, 0, 0) if wild_minor else (b[0], b[1] + 1, 0)
        return b <= v < upper
    return {">=": v >= b, ">": v > b, "<=": v <= b, "<": v < b, "!=": v != b}.get(op, v == b)
