"""Values of evaluated HCL: what only AWS knows (:class:`Ref`, :class:`Unknown`, :class:`Template`), the argument
of ``jsonencode`` (:class:`Encoded`), and the operators and built-in functions the evaluator supports."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

from tests.iac.hcl_expr import HclError


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


def _to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    raise HclError(f"cannot interpolate {value!r}")


def template(parts: list[Any]) -> Any:
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


def binary(op: str, a: Any, b: Any) -> Any:
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


def call(name: str, args: list[Any]) -> Any:
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
