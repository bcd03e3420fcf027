"""HCL expressions as python-hcl2 (>= 8) leaves them: text such as ``var.x == 0 ? [] : [{p = var.x}]``.

:func:`parse_expr` parses the subset of HCL expressions our Terraform uses — literals, templates, lists, objects,
references with attribute/index/splat steps, function calls, arithmetic/comparison/logic, conditionals and
``for`` expressions — into a small tuple AST; :func:`references` lists what an AST refers to.
"""

from __future__ import annotations

import re
from typing import Any


class HclError(Exception):
    """The HCL uses something this reader does not understand, or refers to something that does not exist."""


# --- expression parser -------------------------------------------------------------------------------------
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?")


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
