"""One error root: every exception class deployer defines for a user-facing failure derives from
DeployerError (message + hint, mapped to an exit code); causes are chained, never dropped."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from deployer.errors import DeployerError

PACKAGE = Path(__file__).resolve().parents[2] / "deployer"


def exception_classes():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                yield module, node.name


def test_every_public_exception_class_derives_from_deployer_error():
    outside = []
    for module, name in exception_classes():
        cls = getattr(importlib.import_module(module.removesuffix(".__init__")), name)
        if isinstance(cls, type) and issubclass(cls, BaseException) and not issubclass(cls, DeployerError):
            outside.append(f"{module}.{name}")
    assert outside == []


def test_the_known_former_outsiders_are_now_config_errors():
    from deployer.config.file_reader import PathRefused
    from deployer.config.tfmodule import ModuleError, TypeSyntaxError
    from deployer.config.yamlload import YamlProblem
    from deployer.errors import ConfigError

    for cls in (YamlProblem, PathRefused, ModuleError, TypeSyntaxError):
        assert issubclass(cls, ConfigError), cls
    problem = YamlProblem("bad key", 3, 7, hint="fix it")
    assert (problem.message, problem.hint, problem.exit_code) == ("bad key", "fix it", 1)


def test_verbose_shows_the_chained_cause_of_an_error(capsys):
    import logging

    from deployer.cli.app import print_error

    logging.getLogger("deployer").setLevel(logging.DEBUG)
    handler_records = []

    class Keep(logging.Handler):
        def emit(self, record):
            handler_records.append(record.getMessage())

    handler = Keep()
    logging.getLogger("deployer").addHandler(handler)
    try:
        try:
            try:
                raise OSError(2, "No such file or directory")
            except OSError as e:
                raise DeployerError("cannot read the plan", hint="check the path") from e
        except DeployerError as err:
            print_error(err)
    finally:
        logging.getLogger("deployer").removeHandler(handler)
    assert "error: cannot read the plan" in capsys.readouterr().err
    assert handler_records == ["caused by FileNotFoundError: [Errno 2] No such file or directory"]
