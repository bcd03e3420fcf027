"""Read our Terraform offline: python-hcl2 parses the files, this module evaluates the expressions.

python-hcl2 (>= 8) gives block structure as dicts and leaves every expression as text (``"${...}"`` or a quoted
template). :func:`parse_expr` parses that text (the subset of HCL expressions our Terraform uses: literals,
templates, lists, objects, references, function calls, arithmetic/comparison/logic, conditionals and ``for``
expressions) and :class:`Module` evaluates it with variables, locals, ``each``/``count`` and dynamic blocks.
What only AWS knows (resource attributes, data sources, remote state) evaluates to a :class:`Ref` that can be
followed back to the block that produces it. Anything outside the subset raises :class:`HclError`, so the HCL
has to stay regular enough for the facts to be read from it.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

_OPTIONS = SerializationOptions(with_comments=False, preserve_heredocs=False)
_SPECIAL_ROOTS = {"var", "local", "each", "count", "data", "module", "path", "self", "terraform"}
_MISSING = object()


class HclError(Exception):
    """The HCL uses something this reader does not understand, or refers to something that does not exist."""


# --- values that are only known after apply ------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """A reference to something AWS computes: ``kind`` resource|data|module, ``type``/``name`` of the block,
    ``key`` of the instance (None, an int for count, a str for for_each, ``"*"`` for a splat) and ``attrs``."""

    kind: str
    type: str
    name: str
    key: Any = None
    attrs: tuple[Any, ...] = ()

    def __str__(self) -> str:
        key = "" if self.key is None else f"[{self.key!r}]"
        head = {"resource": "", "data": "data.", "module": "module."}[self.kind]
        typ = f"{self.type}." if self.type else ""
        return f"{head}{typ}{self.name}{key}" + "".join(f".{a}" for a in self.attrs)


@dataclass(frozen=True)
class Unknown:
    """A value computed from something unknown (e.g. ``slice(data.x.names, 0, 2)``)."""

    what: str


@dataclass(frozen=True)
class Template:
    """A string template with unknown parts, e.g. ``"${data.aws_ecr_repository.x.repository_url}:latest"``."""

    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Encoded:
    """The argument of ``jsonencode`` (kept as a structure so unknown parts can still be followed)."""

    value: Any


def is_known(value: Any) -> bool:
    return not isinstance(value, (Ref, Unknown, Template))


# --- expression parser -------------------------------------------------------------------------------------
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?")
_OPS = ("==", "!=", "<=", ">=", "&&", "||", "=>", "...", "<", ">", "+", "-", "*", "/", "%", "!", "?", ":", "=")


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    # low level
    def error(self, msg: str) -> HclError:
        return HclError(f"{msg} at {self.i} in {self.s!r}")

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def peek(self, tok: str) -> bool:
        self.ws()
        return self.s.startswith(tok, self.i)

    def peek_word(self, word: str) -> bool:
        self.ws()
        m = _IDENT.match(self.s, self.i)
        return bool(m and m.group() == word)

    def take(self, tok: str) -> bool:
        if self.peek(tok):
            self.i += len(tok)
            return True
        return False

    def expect(self, tok: str) -> None:
        if not self.take(tok):
            raise self.error(f"expected {tok!r}")

    def ident(self) -> str:
        self.ws()
        m = _IDENT.match(self.s, self.i)
        if not m:
            raise self.error("expected an identifier")
        self.i = m.end()
        return m.group()

    # grammar
    def parse(self) -> tuple:
        node = self.expr()
        self.ws()
        if self.i != len(self.s):
            raise self.error("unexpected text")
        return node

    def expr(self) -> tuple:
        cond = self.binary(0)
        if self.peek("?"):
            self.i += 1
            yes = self.expr()
            self.expect(":")
            no = self.expr()
            return ("cond", cond, yes, no)
        return cond

    _LEVELS = (("||",), ("&&",), ("==", "!="), ("<=", ">=", "<", ">"), ("+", "-"), ("*", "/", "%"))

    def binary(self, level: int) -> tuple:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            self.ws()
            op = next((o for o in self._LEVELS[level] if self.s.startswith(o, self.i)), None)
            # "=>" (for expressions) is not a comparison
            if op is None or self.s.startswith("=>", self.i):
                return left
            self.i += len(op)
            left = ("bin", op, left, self.binary(level + 1))

    def unary(self) -> tuple:
        if self.take("!"):
            return ("un", "!", self.unary())
        if self.peek("-") and not self.peek("->"):
            self.i += 1
            return ("un", "-", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: tuple) -> tuple:
        steps: list[tuple] = []
        while True:
            if self.peek("[*]"):
                self.i += 3
                steps.append(("splat",))
            elif self.peek(".*"):
                self.i += 2
                steps.append(("splat",))
            elif self.peek("["):
                self.i += 1
                steps.append(("index", self.expr()))
                self.expect("]")
            elif self.peek(".") and not self.peek("..."):
                self.i += 1
                self.ws()
                m = _NUMBER.match(self.s, self.i)
                if m:
                    self.i = m.end()
                    steps.append(("index", ("lit", int(m.group()))))
                else:
                    steps.append(("attr", self.ident()))
            else:
                break
        if not steps:
            return node
        if node[0] == "ref":
            return ("ref", node[1], node[2] + steps)
        return ("get", node, steps)

    def primary(self) -> tuple:
        self.ws()
        if self.i >= len(self.s):
            raise self.error("unexpected end")
        c = self.s[self.i]
        if c == '"':
            return self.template()
        if c == "(":
            self.i += 1
            node = self.expr()
            self.expect(")")
            return node
        if c == "[":
            return self.list_or_for()
        if c == "{":
            return self.object_or_for()
        m = _NUMBER.match(self.s, self.i)
        if m:
            self.i = m.end()
            text = m.group()
            return ("lit", float(text) if any(ch in text for ch in ".eE") else int(text))
        name = self.ident()
        if name in ("true", "false"):
            return ("lit", name == "true")
        if name == "null":
            return ("lit", None)
        if self.peek("("):
            self.i += 1
            args: list[tuple] = []
            expand = False
            while not self.take(")"):
                args.append(self.expr())
                if self.take("..."):
                    expand = True
                if not self.take(","):
                    self.expect(")")
                    break
            return ("call", name, args, expand)
        return ("ref", name, [])

    def template(self) -> tuple:
        """A quoted template: text with ``${expr}`` interpolations (``%{`` directives are not supported)."""
        self.expect('"')
        parts: list[Any] = []
        buf: list[str] = []
        escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
        while True:
            if self.i >= len(self.s):
                raise self.error("unterminated string")
            c = self.s[self.i]
            if c == '"':
                self.i += 1
                break
            if c == "\\":
                nxt = self.s[self.i + 1]
                if nxt not in escapes:
                    raise self.error(f"unsupported escape \\{nxt}")
                buf.append(escapes[nxt])
                self.i += 2
            elif self.s.startswith("$${", self.i) or self.s.startswith("%%{", self.i):
                buf.append(self.s[self.i + 1 : self.i + 3])
                self.i += 3
            elif self.s.startswith("${", self.i):
                self.i += 2
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(self.expr())
                self.expect("}")
            elif self.s.startswith("%{", self.i):
                raise self.error("template directives are not supported")
            else:
                buf.append(c)
                self.i += 1
        if buf:
            parts.append("".join(buf))
        return ("tmpl", parts)

    def for_head(self) -> tuple[str | None, str, tuple]:
        self.ident()  # "for"
        first = self.ident()
        second = self.ident() if self.take(",") else None
        if not self.peek_word("in"):
            raise self.error("expected 'in'")
        self.ident()
        coll = self.expr()
        self.expect(":")
        return (first if second else None), (second or first), coll

    def for_cond(self) -> tuple | None:
        if self.peek_word("if"):
            self.ident()
            return self.expr()
        return None

    def list_or_for(self) -> tuple:
        self.expect("[")
        if self.peek_word("for"):
            kvar, vvar, coll = self.for_head()
            body = self.expr()
            cond = self.for_cond()
            self.expect("]")
            return ("for_list", kvar, vvar, coll, body, cond)
        items: list[tuple] = []
        while not self.take("]"):
            items.append(self.expr())
            if not self.take(","):
                self.expect("]")
                break
        return ("list", items)

    def object_or_for(self) -> tuple:
        self.expect("{")
        if self.peek_word("for"):
            kvar, vvar, coll = self.for_head()
            key = self.expr()
            self.expect("=>")
            value = self.expr()
            group = self.take("...")
            cond = self.for_cond()
            self.expect("}")
            return ("for_obj", kvar, vvar, coll, key, value, cond, group)
        items: list[tuple[tuple, tuple]] = []
        while not self.take("}"):
            self.ws()
            m = _IDENT.match(self.s, self.i)
            if m and self.s[m.end() :].lstrip()[:1] in ("=", ":") and not self.s[m.end() :].lstrip().startswith("=="):
                self.i = m.end()
                key: tuple = ("lit", m.group())
            else:
                key = self.expr()
            if not (self.take("=") or self.take(":")):
                raise self.error("expected '=' in object")
            items.append((key, self.expr()))
            self.take(",")
        return ("obj", items)


def parse_expr(text: str) -> tuple:
    """Parse an HCL expression (the text inside ``${...}`` or a quoted template) into a small AST."""
    return _Parser(text).parse()


def raw_to_ast(raw: Any) -> tuple:
    """Turn one python-hcl2 value into an AST: expression text is parsed, structures are walked."""
    if isinstance(raw, str):
        if raw.startswith("${") and raw.endswith("}"):
            return parse_expr(raw[2:-1])
        if raw.startswith('"') and raw.endswith('"'):
            return parse_expr(raw)
        return ("lit", raw)  # bare words (e.g. ignore_changes entries)
    if isinstance(raw, list):
        return ("list", [raw_to_ast(v) for v in raw])
    if isinstance(raw, dict):
        return ("obj", [(("lit", unquote(k)), raw_to_ast(v)) for k, v in raw.items() if not k.startswith("__")])
    return ("lit", raw)


def unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


# --- walking ASTs ------------------------------------------------------------------------------------------
def references(node: tuple, bound: frozenset[str] = frozenset()) -> list[tuple[str, list[tuple]]]:
    """Every (root, steps) reference in ``node`` whose root is not a name bound by a ``for`` expression."""
    kind = node[0]
    out: list[tuple[str, list[tuple]]] = []
    if kind == "ref":
        if node[1] not in bound:
            out.append((node[1], node[2]))
        for step in node[2]:
            if step[0] == "index":
                out += references(step[1], bound)
    elif kind == "tmpl":
        for part in node[1]:
            if isinstance(part, tuple):
                out += references(part, bound)
    elif kind == "list":
        for item in node[1]:
            out += references(item, bound)
    elif kind == "obj":
        for key, value in node[1]:
            out += references(key, bound) + references(value, bound)
    elif kind == "call":
        for arg in node[2]:
            out += references(arg, bound)
    elif kind == "cond":
        for sub in node[1:]:
            out += references(sub, bound)
    elif kind == "bin":
        out += references(node[2], bound) + references(node[3], bound)
    elif kind == "un":
        out += references(node[2], bound)
    elif kind == "get":
        out += references(node[1], bound)
        for step in node[2]:
            if step[0] == "index":
                out += references(step[1], bound)
    elif kind in ("for_list", "for_obj"):
        inner = bound | {n for n in (node[1], node[2]) if n}
        out += references(node[3], bound)
        for sub in node[4:]:
            if isinstance(sub, tuple):
                out += references(sub, inner)
    return out


# --- module sources ----------------------------------------------------------------------------------------
@dataclass
class ModuleSource:
    """The parsed ``*.tf`` files of one directory."""

    path: Path
    variables: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict] = field(default_factory=dict)
    data: dict[tuple[str, str], dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    modules: dict[str, dict] = field(default_factory=dict)
    providers: dict[str, dict] = field(default_factory=dict)
    terraform: list[dict] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path | str) -> ModuleSource:
        src = cls(Path(path))
        files = sorted(src.path.glob("*.tf"))
        if not files:
            raise HclError(f"no .tf files in {src.path}")
        for file in files:
            doc = parse_file(file)
            for key, blocks in doc.items():
                for block in blocks:
                    src._add(key, block, file)
        return src

    def _add(self, key: str, block: dict, file: Path) -> None:
        def one(table: dict, name: Any, body: dict) -> None:
            if name in table:
                raise HclError(f"duplicate {key} {name} in {file}")
            table[name] = body

        if key == "locals":
            for name, value in block.items():
                if not name.startswith("__"):
                    one(self.locals, name, value)
        elif key in ("resource", "data"):
            table = self.resources if key == "resource" else self.data
            for typ, named in block.items():
                for name, body in named.items():
                    one(table, (unquote(typ), unquote(name)), body)
        elif key in ("variable", "output", "module", "provider"):
            tables = {"variable": self.variables, "output": self.outputs, "module": self.modules}
            table = tables.get(key, self.providers)
            for name, body in block.items():
                one(table, unquote(name), body)
        elif key == "terraform":
            self.terraform.append(block)
        else:
            raise HclError(f"unexpected top-level block {key} in {file}")


def parse_file(path: Path | str) -> dict:
    """The python-hcl2 structure of one file (cached per path and modification time; treat it as read-only)."""
    stat = Path(path).stat()
    return _parse_cached(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _parse_cached(path: str, _mtime_ns: int, _size: int) -> dict:
    with open(path, encoding="utf-8") as fh:
        return hcl2.load(fh, serialization_options=_OPTIONS)


def load_tfvars(path: Path | str) -> dict[str, Any]:
    """Values of a ``.tfvars`` file (literals only, as Terraform requires)."""
    module = Module(ModuleSource(Path(path).parent), {})
    return {k: module.eval(v) for k, v in parse_file(path).items() if not k.startswith("__")}


def blocks_of(body: dict, name: str) -> list[dict]:
    """Nested (static) blocks ``name`` of a block body."""
    value = body.get(name, [])
    return [b for b in value if isinstance(b, dict) and b.get("__is_block__")] if isinstance(value, list) else []


# --- evaluation ----------------------------------------------------------------------------------------------
@dataclass
class Scope:
    each: tuple[Any, Any] | None = None
    count: int | None = None
    names: dict[str, Any] = field(default_factory=dict)

    def bind(self, **names: Any) -> Scope:
        return Scope(self.each, self.count, {**self.names, **names})


class Module:
    """One module instance: its source plus input variable values."""

    def __init__(self, source: ModuleSource, inputs: dict[str, Any], workspace: str = "default") -> None:
        self.source = source
        self.workspace = workspace
        unknown = set(inputs) - set(source.variables)
        if unknown and source.variables:
            raise HclError(f"{source.path}: undeclared variable(s) {sorted(unknown)}")
        self.vars: dict[str, Any] = {}
        for name, body in source.variables.items():
            if name in inputs:
                self.vars[name] = inputs[name]
            elif "default" in body:
                self.vars[name] = self.eval(body["default"])
            else:
                raise HclError(f"{source.path}: variable {name} has no value")
        self._locals: dict[str, Any] = {}
        self._children: dict[str, Module] = {}

    # blocks
    def local(self, name: str) -> Any:
        if name not in self._locals:
            if name not in self.source.locals:
                raise HclError(f"{self.source.path}: local.{name} is not declared")
            self._locals[name] = _MISSING  # cycle guard
            self._locals[name] = self.eval(self.source.locals[name])
        if self._locals[name] is _MISSING:
            raise HclError(f"{self.source.path}: local.{name} refers to itself")
        return self._locals[name]

    def child(self, name: str) -> Module:
        if name not in self._children:
            body = self.source.modules[name]
            src = ModuleSource.load(self.source.path / self.eval(body["source"]))
            meta = {"source", "version", "providers", "depends_on", "count", "for_each", "__is_block__"}
            inputs = {k: self.eval(v) for k, v in body.items() if k not in meta}
            self._children[name] = Module(src, inputs, self.workspace)
        return self._children[name]

    def instances(self, kind: str, typ: str, name: str) -> dict[Any, Instance]:
        """Instances of a resource/data block by key (None without count/for_each)."""
        table = self.source.resources if kind == "resource" else self.source.data
        if (typ, name) not in table:
            raise HclError(f"{self.source.path}: {kind} {typ}.{name} is not declared")
        body = table[(typ, name)]
        if "count" in body:
            n = self.eval(body["count"])
            if not isinstance(n, int):
                raise HclError(f"{typ}.{name}: count is not known ({n})")
            return {i: Instance(self, typ, name, body, Scope(count=i)) for i in range(n)}
        if "for_each" in body:
            coll = self.eval(body["for_each"])
            if isinstance(coll, dict):
                items = list(coll.items())
            elif isinstance(coll, list) and all(isinstance(k, str) for k in coll):
                items = [(k, k) for k in coll]
            else:
                raise HclError(f"{typ}.{name}: for_each is not a known map or set of strings ({coll})")
            return {k: Instance(self, typ, name, body, Scope(each=(k, v))) for k, v in items}
        return {None: Instance(self, typ, name, body, Scope())}

    def resolve(self, ref: Ref) -> Instance:
        """The block instance a reference points at (``ref.key`` must be a concrete key)."""
        if ref.kind not in ("resource", "data"):
            raise HclError(f"cannot follow {ref}")
        found = self.instances(ref.kind, ref.type, ref.name)
        if ref.key not in found:
            raise HclError(f"{ref}: no such instance (have {sorted(found, key=str)})")
        return found[ref.key]

    # expressions
    def eval(self, raw: Any, scope: Scope | None = None) -> Any:
        return self.ev(raw_to_ast(raw), scope or Scope())

    def ev(self, node: tuple, scope: Scope) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "tmpl":
            return _template([p if isinstance(p, str) else self.ev(p, scope) for p in node[1]])
        if kind == "list":
            return [self.ev(item, scope) for item in node[1]]
        if kind == "obj":
            out = {}
            for key_node, value_node in node[1]:
                key = self.ev(key_node, scope)
                if not isinstance(key, str):
                    raise HclError(f"object key {key!r} is not a known string")
                out[key] = self.ev(value_node, scope)
            return out
        if kind == "ref":
            return self._ref(node[1], node[2], scope)
        if kind == "get":
            return self._steps(self.ev(node[1], scope), node[2], scope)
        if kind == "call":
            args = [self.ev(a, scope) for a in node[2]]
            if node[3]:
                args = args[:-1] + list(args[-1])
            return _call(node[1], args)
        if kind == "cond":
            cond = self.ev(node[1], scope)
            if not is_known(cond):
                return Unknown("conditional")
            return self.ev(node[2] if cond else node[3], scope)
        if kind == "bin":
            return _binary(node[1], self.ev(node[2], scope), self.ev(node[3], scope))
        if kind == "un":
            value = self.ev(node[2], scope)
            if not is_known(value):
                return Unknown(node[1])
            return (not value) if node[1] == "!" else -value
        if kind in ("for_list", "for_obj"):
            return self._for(node, scope)
        raise HclError(f"unsupported expression {kind}")

    def _for(self, node: tuple, scope: Scope) -> Any:
        kvar, vvar, coll_node = node[1], node[2], node[3]
        coll = self.ev(coll_node, scope)
        if not is_known(coll):
            return Unknown("for")
        items = sorted(coll.items()) if isinstance(coll, dict) else list(enumerate(coll))
        result_list: list[Any] = []
        result_obj: dict[str, Any] = {}
        for key, value in items:
            inner = scope.bind(**({kvar: key} if kvar else {}), **{vvar: value})
            cond = node[5] if node[0] == "for_list" else node[6]
            if cond is not None and not self.ev(cond, inner):
                continue
            if node[0] == "for_list":
                result_list.append(self.ev(node[4], inner))
            else:
                k = self.ev(node[4], inner)
                v = self.ev(node[5], inner)
                if node[7]:
                    result_obj.setdefault(k, []).append(v)
                elif k in result_obj:
                    raise HclError(f"duplicate key {k!r} in for expression")
                else:
                    result_obj[k] = v
        return result_list if node[0] == "for_list" else result_obj

    def _ref(self, root: str, steps: list[tuple], scope: Scope) -> Any:
        if root in scope.names:
            return self._steps(scope.names[root], steps, scope)
        first = steps[0][1] if steps and steps[0][0] == "attr" else None
        if root in _SPECIAL_ROOTS and first is None:
            raise HclError(f"{root} needs an attribute")
        if root == "var":
            if first not in self.vars:
                raise HclError(f"{self.source.path}: var.{first} is not declared")
            return self._steps(self.vars[first], steps[1:], scope)
        if root == "local":
            return self._steps(self.local(first), steps[1:], scope)
        if root == "each":
            if scope.each is None:
                raise HclError("each used outside for_each")
            return self._steps(scope.each[0] if first == "key" else scope.each[1], steps[1:], scope)
        if root == "count":
            if scope.count is None:
                raise HclError("count.index used outside count")
            return self._steps(scope.count, steps[1:], scope)
        if root == "terraform" and first == "workspace":
            return self.workspace
        if root == "path":
            return str(self.source.path)
        if root == "module":
            if first not in self.source.modules:
                raise HclError(f"{self.source.path}: module.{first} is not declared")
            return self._steps(Ref("module", "", first), steps[1:], scope)
        if root == "data":
            if len(steps) < 2 or steps[1][0] != "attr":
                raise HclError("data reference needs type and name")
            return self._block_ref("data", first, steps[1][1], steps[2:], scope)
        if root in _SPECIAL_ROOTS:
            raise HclError(f"unsupported reference {root}.{first}")
        if first is None:
            raise HclError(f"unknown name {root}")
        return self._block_ref("resource", root, first, steps[1:], scope)

    def _block_ref(self, kind: str, typ: str, name: str, steps: list[tuple], scope: Scope) -> Any:
        table = self.source.resources if kind == "resource" else self.source.data
        if (typ, name) not in table:
            raise HclError(f"{self.source.path}: {kind} {typ}.{name} is not declared")
        body = table[(typ, name)]
        key = None
        if "count" in body or "for_each" in body:
            if steps and steps[0][0] in ("index", "splat"):
                key = "*" if steps[0][0] == "splat" else self.ev(steps[0][1], scope)
                steps = steps[1:]
            elif not steps:  # the whole block: a map (for_each) or list (count) of its instances
                found = self.instances(kind, typ, name)
                refs = {k: Ref(kind, typ, name, k) for k in found}
                return refs if "for_each" in body else list(refs.values())
        return self._steps(Ref(kind, typ, name, key), steps, scope)

    def _steps(self, value: Any, steps: list[tuple], scope: Scope) -> Any:
        for pos, step in enumerate(steps):
            if step[0] == "splat":
                if isinstance(value, list):
                    return [self._steps(v, steps[pos + 1 :], scope) for v in value]
                if isinstance(value, Ref):
                    value = Ref(value.kind, value.type, value.name, value.key, (*value.attrs, "*"))
                    continue
                return Unknown("splat")
            key = step[1] if step[0] == "attr" else self.ev(step[1], scope)
            if isinstance(value, Ref):
                value = Ref(value.kind, value.type, value.name, value.key, (*value.attrs, key))
            elif not is_known(value) or not is_known(key):
                return Unknown("index")
            elif isinstance(value, dict):
                if key not in value:
                    raise HclError(f"no attribute or key {key!r} (have {sorted(value)})")
                value = value[key]
            elif isinstance(value, list) and isinstance(key, int):
                value = value[key]
            else:
                raise HclError(f"cannot index {value!r} with {key!r}")
        return value


class Instance:
    """One instance of a resource/data block (or a nested/dynamic block of it) with its ``each``/``count``."""

    def __init__(self, module: Module, typ: str, name: str, body: dict, scope: Scope, key: Any = _MISSING) -> None:
        self.module = module
        self.type = typ
        self.name = name
        self.body = body
        self.scope = scope
        self.key = key if key is not _MISSING else (scope.each[0] if scope.each else scope.count)

    def has(self, attr: str) -> bool:
        return attr in self.body

    def get(self, attr: str, default: Any = _MISSING) -> Any:
        if attr not in self.body:
            if default is _MISSING:
                raise HclError(f"{self.type}.{self.name}: no attribute {attr}")
            return default
        return self.module.eval(self.body[attr], self.scope)

    def blocks(self, name: str) -> list[Instance]:
        """Nested blocks ``name``, static ones and those a ``dynamic "name"`` block generates."""
        out = [Instance(self.module, self.type, self.name, b, self.scope, self.key) for b in blocks_of(self.body, name)]
        for dyn in self.body.get("dynamic", []):
            for label, spec in dyn.items():
                if label.startswith("__") or unquote(label) != name:
                    continue
                iterator = spec["iterator"][2:-1] if "iterator" in spec else name
                coll = self.module.eval(spec["for_each"], self.scope)
                if not is_known(coll):
                    raise HclError(f"dynamic {name}: for_each is not known")
                items = coll.items() if isinstance(coll, dict) else enumerate(coll)
                for key, value in items:
                    scope = self.scope.bind(**{iterator: {"key": key, "value": value}})
                    for content in blocks_of(spec, "content"):
                        out.append(Instance(self.module, self.type, self.name, content, scope, self.key))
        return out

    def follow(self, ref: Any) -> Instance:
        if not isinstance(ref, Ref):
            raise HclError(f"{self.type}.{self.name}: expected a reference, got {ref!r}")
        return self.module.resolve(ref)


# --- helpers -----------------------------------------------------------------------------------------------
def _to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    raise HclError(f"cannot interpolate {value!r}")


def _template(parts: list[Any]) -> Any:
    if all(is_known(p) for p in parts):
        return "".join(_to_str(p) for p in parts)
    merged: list[Any] = []
    for raw in parts:
        part = _to_str(raw) if is_known(raw) else raw
        if merged and isinstance(part, str) and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return Template(tuple(merged))


def _binary(op: str, a: Any, b: Any) -> Any:
    if not (is_known(a) and is_known(b)):
        return Unknown(op)
    ops = {
        "==": lambda: a == b,
        "!=": lambda: a != b,
        "<": lambda: a < b,
        ">": lambda: a > b,
        "<=": lambda: a <= b,
        ">=": lambda: a >= b,
        "&&": lambda: a and b,
        "||": lambda: a or b,
        "+": lambda: a + b,
        "-": lambda: a - b,
        "*": lambda: a * b,
        "/": lambda: a / b,
        "%": lambda: a % b,
    }
    if op in "+-*/%" and not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
        raise HclError(f"arithmetic on non-numbers {a!r} {op} {b!r}")
    return ops[op]()


def _one(xs: list[Any]) -> Any:
    if len(xs) > 1:
        raise HclError("one(): more than one element")
    return xs[0] if xs else None


def _cidrsubnet(prefix: str, newbits: int, num: int) -> str:
    net = ipaddress.ip_network(prefix)
    return str(list(net.subnets(prefixlen_diff=newbits))[num])


_FUNCTIONS: dict[str, Any] = {
    "merge": lambda *maps: {k: v for m in maps for k, v in (m or {}).items()},
    "toset": lambda xs: sorted(set(xs), key=str),
    "tolist": list,
    "tomap": dict,
    "keys": sorted,
    "values": lambda m: [m[k] for k in sorted(m)],
    "length": len,
    "concat": lambda *ls: [x for lst in ls for x in lst],
    "flatten": lambda xs: [y for x in xs for y in (x if isinstance(x, list) else [x])],
    "contains": lambda xs, x: x in xs,
    "lookup": lambda m, k, *d: m[k] if k in m or not d else d[0],
    "substr": lambda s, off, n: s[off : (off + n if n >= 0 else None)],
    "lower": str.lower,
    "upper": str.upper,
    "join": lambda sep, xs: sep.join(xs),
    "tostring": _to_str,
    "tonumber": lambda s: s if isinstance(s, (int, float)) else json.loads(s),
    "floor": lambda x: int(x // 1),
    "min": min,
    "max": max,
    "one": _one,
    "slice": lambda xs, a, b: xs[a:b],
    "cidrsubnet": _cidrsubnet,
    "distinct": lambda xs: list(dict.fromkeys(xs)),
    "sort": sorted,
    "range": lambda *a: list(range(*a)),
    "can": lambda x: True,
    "regex": lambda pattern, s: re.search(pattern, s).group(),
}


def _call(name: str, args: list[Any]) -> Any:
    if name == "jsonencode":
        return Encoded(args[0])
    if name in ("sensitive", "nonsensitive"):  # only changes how Terraform displays the value
        return args[0]
    if name == "coalesce":
        for arg in args:
            if not is_known(arg):
                return Unknown("coalesce")
            if arg not in (None, ""):
                return arg
        raise HclError("coalesce: no non-null argument")
    if name not in _FUNCTIONS:
        raise HclError(f"function {name}() is not supported by tests/iac/tf_hcl.py")
    # Structural functions only need the containers known (e.g. merge() of maps with unknown values).
    structural = name in {"merge", "keys", "length", "concat", "flatten", "lookup", "one", "slice", "tolist", "tomap"}
    if not all(is_known(a) and (structural or _deep_known(a)) for a in args):
        return Unknown(f"{name}()")
    return _FUNCTIONS[name](*args)


def _deep_known(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_deep_known(v) for v in value.values())
    if isinstance(value, list):
        return all(_deep_known(v) for v in value)
    return is_known(value)
