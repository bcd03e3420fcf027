"""Runbook parameters: their declaration (front matter ``params:``), validation, and ``{{ name }}`` references.

One reference syntax, checked when a runbook is loaded:

- ``{{ name }}`` — the parameter's value as ONE shell word (``shlex.quote``d, so a value can never inject shell);
  a ``list`` parameter becomes its items as separate words;
- ``{{ name | flag --some-flag }}`` — an optional flag: ``--some-flag VALUE`` when a ``str``/``int`` value is
  non-empty, ``--some-flag`` when a ``bool`` is true, ``--some-flag ITEM`` once per item of a ``list``
  (Invoke's repeated flags) — and nothing at all otherwise.

Anything else between ``{{`` and ``}}`` and every reference to an undeclared parameter is an error.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
REF_RE = re.compile(r"\{\{\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\|\s*flag\s+(?P<flag>--[a-z0-9][a-z0-9-]*)\s*)?\}\}")
ANY_REF_RE = re.compile(r"\{\{.*?\}\}", re.S)
TYPES = ("str", "int", "bool", "list")
TRUE = ("true", "yes", "1", "on")
FALSE = ("false", "no", "0", "off", "")
SPEC_KEYS = {"help", "default", "example", "required", "choices", "pattern", "type", "secret", "from_env"}


class RunbookError(ConfigError):
    """A runbook that cannot be loaded or a parameter value that is not valid (exit 2, nothing was run)."""


@dataclass(frozen=True)
class Param:
    """One declared parameter. ``required`` defaults to "no default given"."""

    name: str
    help: str = ""
    type: str = "str"
    default: Any = None
    example: Any = None
    required: bool = True
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    secret: bool = False
    from_env: str | None = None

    @classmethod
    def from_spec(cls, name: str, spec: Any, where: str) -> Param:
        if not NAME_RE.match(name):
            raise RunbookError(f"{where}: bad parameter name {name!r}", hint="use lower_case names, e.g. env, tag")
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise RunbookError(f"{where}: parameter {name} must be a mapping", hint="e.g. env: {default: alpha}")
        unknown = set(spec) - SPEC_KEYS
        if unknown:
            raise RunbookError(
                f"{where}: parameter {name} has unknown key(s) {', '.join(sorted(unknown))}",
                hint=f"known keys: {', '.join(sorted(SPEC_KEYS))}",
            )
        type_ = str(spec.get("type", "str"))
        if type_ not in TYPES:
            raise RunbookError(f"{where}: parameter {name} has type {type_!r}", hint=f"types: {', '.join(TYPES)}")
        pattern = spec.get("pattern")
        if pattern is not None:
            try:
                re.compile(str(pattern))
            except re.error as exc:
                raise RunbookError(f"{where}: parameter {name}: bad pattern ({exc})") from None
        choices = tuple(str(c) for c in (spec.get("choices") or ()))
        param = cls(
            name=name,
            help=str(spec.get("help") or ""),
            type=type_,
            default=spec.get("default"),
            example=spec.get("example"),
            required=bool(spec.get("required", "default" not in spec)),
            choices=choices,
            pattern=str(pattern) if pattern is not None else None,
            secret=bool(spec.get("secret", False)),
            from_env=spec.get("from_env"),
        )
        # Defaults and examples must themselves be valid: a runbook cannot ship a value it would reject.
        for label in ("default", "example"):
            value = getattr(param, label)
            if value is not None:
                try:
                    param.coerce(value)
                except RunbookError as exc:
                    raise RunbookError(f"{where}: {label} of parameter {name}: {exc.message}") from None
        return param

    def coerce(self, value: Any) -> Any:
        """Validate one value (from a flag, default or example) and return it in its typed form."""
        if self.type == "list":
            items = value if isinstance(value, (list, tuple)) else str(value).replace(",", " ").split()
            if not items and self.required:
                raise RunbookError(f"parameter {self.name} needs at least one value")
            return [self._check(str(item)) for item in items]
        if isinstance(value, (list, tuple)):
            raise RunbookError(f"parameter {self.name} takes one value, got {len(value)}")
        if self.type == "bool":
            word = str(value).strip().lower()
            if word not in TRUE + FALSE:
                raise RunbookError(f"parameter {self.name}={value!r} is not true/false")
            return word in TRUE
        text = self._check(str(value))
        if self.type == "int":
            try:
                return int(text)
            except ValueError:
                raise RunbookError(f"parameter {self.name}={self.shown(text)} is not a whole number") from None
        return text

    def _check(self, text: str) -> str:
        if self.choices and text not in self.choices:
            raise RunbookError(
                f"parameter {self.name}={self.shown(text)} is not one of {', '.join(self.choices)}",
                hint=self.help or None,
            )
        if self.pattern and not re.fullmatch(self.pattern, text):
            raise RunbookError(
                f"parameter {self.name}={self.shown(text)} does not match {self.pattern}",
                hint=self.help or None,
            )
        if "\n" in text or "\x00" in text:
            raise RunbookError(f"parameter {self.name} contains a newline or NUL")
        return text

    def shown(self, value: Any) -> str:
        return "***" if self.secret else repr(value)

    def placeholder(self) -> Any:
        return {"list": [f"<{self.name}>"], "bool": True}.get(self.type, f"<{self.name}>")

    def sample(self) -> Any:
        """A value for sync checks: example, else default, else a placeholder (a bool: true, so its flag is
        checked)."""
        if self.example is not None:
            return self.coerce(self.example)
        if self.default is not None:
            return self.coerce(self.default)
        return self.placeholder()


def parse_params(raw: Any, where: str) -> dict[str, Param]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise RunbookError(f"{where}: params must be a mapping of name -> spec")
    return {str(name): Param.from_spec(str(name), spec, where) for name, spec in raw.items()}


def references(text: str, where: str, params: Mapping[str, Param]) -> list[str]:
    """Names referenced in ``text``; malformed references and undeclared names raise RunbookError."""
    names = []
    for match in ANY_REF_RE.finditer(text):
        ref = REF_RE.fullmatch(match.group(0))
        if not ref:
            raise RunbookError(
                f"{where}: malformed reference {match.group(0)!r}",
                hint="write {{ name }} or {{ name | flag --some-flag }}",
            )
        name = ref["name"]
        if name not in params:
            known = ", ".join(params) or "none declared"
            raise RunbookError(f"{where}: unknown parameter {{{{ {name} }}}}", hint=f"parameters: {known}")
        if params[name].type == "bool" and not ref["flag"]:
            raise RunbookError(
                f"{where}: bool parameter {name} can only be used as {{{{ {name} | flag --some-flag }}}}"
            )
        names.append(name)
    return names


def render(text: str, values: Mapping[str, Any]) -> str:
    """Substitute references (already validated by :func:`references`) with shell-quoted values."""

    def one(match: re.Match[str]) -> str:
        value = values[match["name"]]
        flag = match["flag"]
        if isinstance(value, bool):
            return flag if value and flag else ""
        items = value if isinstance(value, list) else [value]
        if flag:
            return " ".join(f"{flag} {shlex.quote(str(v))}" for v in items if str(v) != "")
        return " ".join(shlex.quote(str(v)) for v in items)

    out: list[str] = []
    pos = 0
    for match in REF_RE.finditer(text):
        before = text[pos : match.start()]
        value = one(match)
        if not value and before.endswith(" "):
            before = before[:-1]  # an absent optional flag leaves no double space behind
        out += [before, value]
        pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def resolve(
    params: Mapping[str, Param],
    given: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    samples: bool = False,
    placeholders: bool = False,
) -> dict[str, Any]:
    """Values for every parameter: given → ``from_env`` variable → default; then for a required parameter
    without a value: its example (``samples``, for sync checks), ``<name>`` (``placeholders``, for dry runs),
    else RunbookError. Unknown names and invalid values raise RunbookError before anything runs."""
    environ = os.environ if environ is None else environ
    unknown = sorted(set(given) - set(params))
    if unknown:
        raise RunbookError(
            f"unknown parameter(s): {', '.join(unknown)}",
            hint=f"this runbook takes: {', '.join(params) or 'no parameters'}",
        )
    values: dict[str, Any] = {}
    missing = []
    for name, param in params.items():
        if name in given and given[name] is not None:
            values[name] = param.coerce(given[name])
        elif samples and (param.example is not None or param.type == "bool"):
            values[name] = param.sample()  # exercise optional flags too
        elif param.from_env and environ.get(param.from_env):
            values[name] = param.coerce(environ[param.from_env])
        elif param.default is not None:
            values[name] = param.coerce(param.default)
        elif samples:
            values[name] = param.sample()
        elif placeholders and param.required:
            values[name] = param.placeholder()
        elif param.required:
            missing.append(param)
        else:
            values[name] = {"list": [], "bool": False}.get(param.type, "")
    if missing:
        flags = " ".join(_flag(p) for p in missing)
        raise RunbookError(
            f"missing parameter(s): {', '.join(p.name for p in missing)}",
            hint=f"pass {flags}",
        )
    return values


def _flag(param: Param) -> str:
    if param.name in ("env", "tag"):
        return f"--{param.name} VALUE"
    if param.from_env:
        return f"--param {param.name}=VALUE (or set {param.from_env})"
    return f"--param {param.name}=VALUE"


def secret_values(params: Mapping[str, Param], values: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for name, param in params.items():
        if param.secret and name in values:
            value = values[name]
            out.extend(str(v) for v in (value if isinstance(value, list) else [value]) if str(v))
    return out
