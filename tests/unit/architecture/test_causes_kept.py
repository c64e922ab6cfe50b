"""Causes are chained, never dropped: `raise X(...) from None` hides, even from `--verbose`, the
exception that explains a failure. The one reason to keep it is a cause that holds secret material
the redactor does not know; such a raise says so in a `# keep-from-None: <reason>` comment on its
own line(s) or in the comment block right above it."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "deployer"
KEEP = re.compile(r"#\s*keep-from-None:\s*\S")


def dropped_causes(source: str, name: str = "<source>") -> list[str]:
    """`name:line` of each `raise ... from None` in `source` without a keep-from-None reason."""
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string
    text = source.splitlines()
    found = []
    for node in sorted(ast.walk(ast.parse(source)), key=lambda n: getattr(n, "lineno", 0)):
        if isinstance(node, ast.Raise) and isinstance(node.cause, ast.Constant) and node.cause.value is None:
            lines = list(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            above = node.lineno - 1  # the comment block right above the raise
            while above >= 1 and text[above - 1].lstrip().startswith("#"):
                lines.append(above)
                above -= 1
            if not any(KEEP.match(comments.get(n, "")) for n in lines):
                found.append(f"{name}:{node.lineno}")
    return found


def test_no_raise_in_the_package_drops_its_cause_without_a_reason():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        offenders += dropped_causes(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert offenders == []


def test_the_check_flags_a_bare_from_none_and_accepts_a_stated_reason():
    source = '''
def f():
    try:
        pass
    except OSError:
        raise ValueError("a") from None
    except KeyError:
        # keep-from-None: the key is a token
        raise ValueError("b") from None
    except IndexError:
        raise ValueError(
            "c") from None  # keep-from-None: the index is a secret
    except AttributeError:
        # keep-from-None: the attribute's name is a secret,
        # which the redactor does not know
        raise ValueError("g") from None
    except ArithmeticError:
        # keep-from-None: not this one: a line of code stands between
        x = 1
        raise ValueError("h") from None
    except TypeError:
        # keep-from-None:
        raise ValueError("d") from None
    except NameError:
        raise ValueError("e")  # a raise without `from`
    except LookupError as e:
        raise ValueError("f") from e
'''
    assert dropped_causes(source) == ["<source>:6", "<source>:20", "<source>:23"]


def test_verbose_shows_the_cause_of_a_user_error_redacted(tmp_path, monkeypatch, capsys):
    """A real path: `canary-gate --plan` on a file that cannot be read (userfiles.read_text wraps the
    OSError). The cause, redacted, is logged under --verbose only."""
    import logging

    from deployer.cli import app
    from deployer.cli.app import AppState, run_app
    from deployer.redact import MARKER, Redactor, install_log_redaction

    secret = "S3cr3t-CANARY-cause"

    def invocation() -> AppState:
        state = AppState()
        state.redactor.add(secret)
        return state

    monkeypatch.chdir(tmp_path)
    plan = f"{secret}/plan.json"  # its folder does not exist
    shown = f"{MARKER}/plan.json"
    error = f"error: --plan {shown}: cannot read it: no such file or folder\n"
    cause = f"DEBUG deployer: caused by FileNotFoundError: [Errno 2] No such file or directory: '{shown}'\n"
    package_logger = logging.getLogger("deployer")
    level = package_logger.level
    package_logger.setLevel(logging.NOTSET)  # as in a CLI process: the root logger's level (--verbose) decides
    try:
        assert run_app(app, ["--verbose", "canary-gate", "--plan", plan, "--stage", "prod"], invocation()) == 1
        verbose = capsys.readouterr()
        assert run_app(app, ["canary-gate", "--plan", plan, "--stage", "prod"], invocation()) == 1
        quiet = capsys.readouterr()
    finally:
        install_log_redaction(verbose=False, redactor=Redactor())
        package_logger.setLevel(level)
    assert (verbose.out, verbose.err) == ("", error + cause)
    assert (quiet.out, quiet.err) == ("", error)
