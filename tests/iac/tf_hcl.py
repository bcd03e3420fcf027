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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

from tests.iac.hcl_expr import HclError, parse_expr, raw_to_ast, references, unquote
from tests.iac.hcl_values import Encoded, Ref, Template, Unknown, binary, call, is_known, template

_OPTIONS = SerializationOptions(with_comments=False, preserve_heredocs=False)
_SPECIAL_ROOTS = {"var", "local", "each", "count", "data", "module", "path", "self", "terraform"}
_MISSING = object()


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
            return template([p if isinstance(p, str) else self.ev(p, scope) for p in node[1]])
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
            return call(node[1], args)
        if kind == "cond":
            cond = self.ev(node[1], scope)
            if not is_known(cond):
                return Unknown("conditional")
            return self.ev(node[2] if cond else node[3], scope)
        if kind == "bin":
            return binary(node[1], self.ev(node[2], scope), self.ev(node[3], scope))
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


__all__ = [
    "Encoded",
    "HclError",
    "Instance",
    "Module",
    "ModuleSource",
    "Ref",
    "Scope",
    "Template",
    "Unknown",
    "blocks_of",
    "is_known",
    "load_tfvars",
    "parse_expr",
    "parse_file",
    "raw_to_ast",
    "references",
    "unquote",
]
