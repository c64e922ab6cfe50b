"""A Terraform root module as deployer sees it: its input variables and their types.

`read_module` parses every `*.tf` file of a module folder with python-hcl2 (no terraform, no
subprocess) and returns its variables: name, type, whether it is required. `parse_type` reads
Terraform type constraints (`map(object({a = optional(number, 1)}))`) into `TfType`, and
`type_errors` says where a value does not fit one: the same rules Terraform applies to a
`*.tfvars.json` file, so a mistake is reported offline, on the cluster.yaml line, before any
`terraform plan`.
"""

from __future__ import annotations

from deployer.errors import ConfigError

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

# --- types ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TfType:
    """One Terraform type: a primitive, a collection of `element`, an object or a tuple."""

    kind: str  # string | number | bool | any | list | set | map | object | tuple
    element: Optional["TfType"] = None  # list, set, map
    attributes: tuple[tuple[str, "TfType", bool], ...] = ()  # object: (name, type, optional)
    items: tuple["TfType", ...] = ()  # tuple

    def __str__(self) -> str:
        if self.kind in ("list", "set", "map"):
            return f"{self.kind}({self.element})"
        if self.kind == "object":
            inner = ", ".join(f"{n} = optional({t})" if opt else f"{n} = {t}" for n, t, opt in self.attributes)
            return f"object({{{inner}}})"
        if self.kind == "tuple":
            return f"tuple([{', '.join(str(i) for i in self.items)}])"
        return self.kind


ANY = TfType("any")
PRIMITIVES = ("string", "number", "bool", "any")


class TypeSyntaxError(ConfigError, ValueError):
    """A terraform type expression that does not parse."""


_TOKEN = re.compile(r'\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_-]*)|(?P<punct>[(){}\[\],=])|(?P<string>"(?:[^"\\]|\\.)*")'
                    r'|(?P<number>-?[0-9]+(?:\.[0-9]+)?)|(?P<other>\S))')


def _tokens(text: str) -> list[str]:
    out = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        tok = m.group(m.lastgroup or "other")
        out.append(tok)
    return out


def parse_type(text: str) -> TfType:
    """A Terraform type constraint (as written in variables.tf, with or without `${...}`)."""
    text = text.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    tokens = _tokens(text)
    parser = _TypeParser(tokens)
    result = parser.type_()
    if parser.pos != len(tokens):
        raise TypeSyntaxError(f"unexpected `{tokens[parser.pos]}` in type `{text}`")
    return result


class _TypeParser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Optional[str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: Optional[str] = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise TypeSyntaxError(f"expected `{expected or 'a type'}`, found `{tok or 'end of text'}`")
        self.pos += 1
        return tok

    def type_(self) -> TfType:
        name = self.take()
        if name in PRIMITIVES:
            return TfType(name)
        if name in ("list", "set", "map"):
            self.take("(")
            element = self.type_()
            self.take(")")
            return TfType(name, element=element)
        if name == "object":
            self.take("(")
            self.take("{")
            attrs: list[tuple[str, TfType, bool]] = []
            while self.peek() != "}":
                attr = self.take().strip('"')
                self.take("=")
                optional = False
                if self.peek() == "optional":
                    self.take()
                    self.take("(")
                    attr_type = self.type_()
                    if self.peek() == ",":  # the default value: skip it, balanced
                        self.take(",")
                        self._skip_expression()
                    self.take(")")
                    optional = True
                else:
                    attr_type = self.type_()
                attrs.append((attr, attr_type, optional))
                if self.peek() == ",":
                    self.take(",")
            self.take("}")
            self.take(")")
            return TfType("object", attributes=tuple(attrs))
        if name == "tuple":
            self.take("(")
            self.take("[")
            items = []
            while self.peek() != "]":
                items.append(self.type_())
                if self.peek() == ",":
                    self.take(",")
            self.take("]")
            self.take(")")
            return TfType("tuple", items=tuple(items))
        raise TypeSyntaxError(f"unknown type `{name}`")

    def _skip_expression(self) -> None:
        depth = 0
        while True:
            tok = self.peek()
            if tok is None:
                raise TypeSyntaxError("unbalanced default value in optional(...)")
            if tok in "([{" and len(tok) == 1:
                depth += 1
            elif tok in ")]}" and len(tok) == 1:
                if depth == 0:
                    return
                depth -= 1
            self.pos += 1


def describe_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def type_errors(value: Any, t: TfType, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """Where `value` (from YAML/JSON) does not convert to `t`, as Terraform would judge a
    tfvars.json value: (path inside the value, message). Empty when it fits.

    Terraform converts numbers and bools to strings and numeric strings to numbers; it does
    not turn a mapping into a list nor a list into a string.
    """
    if value is None or t.kind == "any":
        return []
    kind = t.kind
    if kind == "string":
        if isinstance(value, (str, int, float)) and not isinstance(value, (list, dict)):
            return []
        return [(path, f"expected a string, got {describe_value(value)}")]
    if kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return []
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", value.strip()):
            return []
        return [(path, f"expected a number, got {describe_value(value)}")]
    if kind == "bool":
        if isinstance(value, bool) or value in ("true", "false"):
            return []
        return [(path, f"expected a bool (true or false), got {describe_value(value)}")]
    if kind in ("list", "set"):
        if not isinstance(value, list):
            return [(path, f"expected a {kind} of {t.element}, got {describe_value(value)}")]
        out = []
        for i, item in enumerate(value):
            out.extend(type_errors(item, t.element or ANY, path + (i,)))
        return out
    if kind == "tuple":
        if not isinstance(value, list) or len(value) != len(t.items):
            return [(path, f"expected {t}, got {describe_value(value)}")]
        out = []
        for i, (item, item_type) in enumerate(zip(value, t.items)):
            out.extend(type_errors(item, item_type, path + (i,)))
        return out
    if kind == "map":
        if not isinstance(value, dict):
            return [(path, f"expected a map of {t.element}, got {describe_value(value)}")]
        out = []
        for k, item in value.items():
            out.extend(type_errors(item, t.element or ANY, path + (k,)))
        return out
    if kind == "object":
        if not isinstance(value, dict):
            return [(path, f"expected an object with {', '.join(n for n, _, _ in t.attributes)}, got {describe_value(value)}")]
        out = []
        known = {n: (at, opt) for n, at, opt in t.attributes}
        for k in value:
            if k not in known:
                from difflib import get_close_matches

                close = get_close_matches(str(k), list(known), n=1)
                tip = f"; did you mean `{close[0]}`?" if close else ""
                out.append((path + (k,), f"`{k}` is not an attribute of this object (known: {', '.join(known)}){tip}"))
        for n, (at, opt) in known.items():
            if n in value:
                out.extend(type_errors(value[n], at, path + (n,)))
            elif not opt:
                out.append((path, f"attribute `{n}` is required"))
        return out
    return []


# --- the module -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variable:
    name: str
    type: TfType
    required: bool
    description: str = ""
    nullable: bool = True
    file: str = ""


@dataclass
class Module:
    path: Path
    variables: dict[str, Variable] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    backend: Optional[str] = None  # a backend block the module declares itself


class ModuleError(ConfigError, ValueError):
    """The module folder is missing or a file in it does not parse."""

    def __init__(self, message: str, file: str = "") -> None:
        super().__init__(message)
        self.file = file


def _unquote(text: Any) -> Any:
    if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text


def _literal(value: Any) -> Any:
    if isinstance(value, str) and value.strip() == "${null}":
        return None
    return value


def read_module(folder: Path) -> Module:
    """Parse the module's `*.tf` files (cached per file set, size and mtime)."""
    if not folder.is_dir():
        raise ModuleError(f"no Terraform module at {folder}", str(folder))
    files = sorted(p for p in folder.glob("*.tf") if p.is_file())
    if not files:
        raise ModuleError(f"{folder} holds no *.tf file", str(folder))
    return _parsed_module(str(folder), tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files))


@functools.lru_cache(maxsize=64)
def _parsed_module(where: str, stamps: tuple[tuple[str, int, int], ...]) -> Module:
    """A memo per file set, size and mtime."""
    folder = Path(where)
    files = [folder / name for name, _, _ in stamps]
    import hcl2  # lazily: only clusters with a `terraform:` block pay for the parser

    module = Module(folder)
    for path in files:
        try:
            data = hcl2.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ModuleError(f"{path.name}: not UTF-8 text", str(path)) from exc
        except Exception as e:  # the parser's own errors (lark) carry line and column
            raise ModuleError(f"{path.name}: not valid HCL: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                              str(path)) from e
        for block in data.get("variable", []):
            for raw_name, body in block.items():
                name = _unquote(raw_name)
                raw_type = body.get("type", "any")
                try:
                    vtype = parse_type(str(raw_type))
                except TypeSyntaxError as e:
                    raise ModuleError(f"{path.name}: variable `{name}`: {e}", str(path)) from e
                nullable = body.get("nullable", True)
                module.variables[name] = Variable(
                    name=name, type=vtype, required="default" not in body,
                    description=str(_unquote(body.get("description", ""))),
                    nullable=nullable is not False and str(nullable) != "false",
                    file=path.name,
                )
        for block in data.get("output", []):
            module.outputs.extend(_unquote(n) for n in block)
        for tf in data.get("terraform", []):
            for backend in tf.get("backend", []) or []:
                for bname in backend:
                    module.backend = _unquote(bname)
    return module
