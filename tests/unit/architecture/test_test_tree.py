"""Unit tests mirror the package tree: `tests/unit/<package path>/test_<module>[_<topic>].py` tests
`deployer/<package path>/<module>.py` (or the package `<module>/` itself), so a newcomer finds a module's
tests without grep. The few groups of tests that are about no one module sit in the documented
cross-cutting folders below."""

from __future__ import annotations

from pathlib import Path

UNIT = Path(__file__).resolve().parents[1]
PACKAGE = UNIT.parents[1] / "deployer"

# folder under tests/unit -> what it holds (no deployer package of that name)
CROSS_CUTTING = {
    "architecture": "rules over the whole package: layers, one home per external system, causes kept, the test tree",
    "cli_walk": "every command walked with bad or fuzzed input: exit codes, never a traceback",
    "repository": "files of this repository that are no Python module: charts' embedded code, the CI workflow, the tests",
}


def misplaced(unit: Path, package: Path) -> list[str]:
    """Each test file under `unit` that does not name a module of the `package` folder it mirrors."""
    problems = []
    for test in sorted(unit.rglob("test_*.py")):
        rel = test.relative_to(unit)
        if rel.parts[0] in CROSS_CUTTING:
            continue
        folder = package.joinpath(*rel.parts[:-1])
        if not (folder / "__init__.py").is_file():
            problems.append(f"{rel}: no package deployer/{'/'.join(rel.parts[:-1])} (and not a cross-cutting folder)")
            continue
        stem = test.stem.removeprefix("test_")
        modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
        modules |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
        modules.add(folder.name if folder != package else "deployer")
        if not any(stem == m or stem.startswith(m + "_") for m in modules):
            problems.append(f"{rel}: names no module of deployer/{'/'.join(rel.parts[:-1]) or '.'}"
                            f" (test_<module>.py or test_<module>_<topic>.py)")
    for folder in sorted({t.parent for t in unit.rglob("test_*.py")} | {unit}):
        if folder != unit and "data" not in folder.relative_to(unit).parts and not (folder / "__init__.py").is_file():
            problems.append(f"{folder.relative_to(unit)}: no __init__.py (pytest -n would collide on equal basenames)")
    return problems


def test_every_unit_test_file_sits_where_the_module_it_tests_sits():
    assert misplaced(UNIT, PACKAGE) == []


def test_the_cross_cutting_folders_exist_and_are_no_package():
    for name in CROSS_CUTTING:
        assert (UNIT / name / "__init__.py").is_file() and not (PACKAGE / name).exists()


def test_a_misplaced_or_misnamed_test_file_is_named(tmp_path):
    package, unit = tmp_path / "deployer", tmp_path / "unit"
    for path in ("__init__.py", "run/__init__.py", "run/deploy.py", "paths.py"):
        (package / path).parent.mkdir(parents=True, exist_ok=True)
        (package / path).write_text("")
    for path in ("__init__.py", "run/__init__.py", "run/test_deploy_stages.py", "test_paths.py",
                 "run/test_nothing.py", "plan/__init__.py", "plan/test_deploy.py", "test_deploy.py"):
        (unit / path).parent.mkdir(parents=True, exist_ok=True)
        (unit / path).write_text("")
    assert misplaced(unit, package) == [
        "plan/test_deploy.py: no package deployer/plan (and not a cross-cutting folder)",
        "run/test_nothing.py: names no module of deployer/run (test_<module>.py or test_<module>_<topic>.py)",
        "test_deploy.py: names no module of deployer/. (test_<module>.py or test_<module>_<topic>.py)",
    ]
